/**
 * `lading diff`: what changes from one image to another, each a spec export, a spec at
 * a git revision, or a built image.
 */
import * as fs from "node:fs";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { DiagnosticError } from "../../core/index.ts";
import type { SideView, ImageDiff } from "../../diff/index.ts";
import { diffIdentified, diffImages, fromImage, fromPlan, needsHashedPlans, renderJson, renderMarkdown, renderText } from "../../diff/index.ts";
import type { BuildPlan, Host, PlanInputs, PlannedLayers } from "../../plan/index.ts";
import { digestCacheKeeps, memoizedHost, nodeHost } from "../../plan/index.ts";
import type { Inspection } from "../../sink/index.ts";
import { inspectBase, inspectImage, openImage, READABLE_TRANSPORTS } from "../../sink/index.ts";
import { baseLayerFetcher } from "../../registry/index.ts";
import { parseFlags, SPEC_FLAGS } from "../flags.ts";
import type { Io } from "../io.ts";
import { planTarget } from "../planTarget.ts";
import type { Side } from "../sides.ts";
import { checkoutAtRevision, parseSide } from "../sides.ts";
import { storeOf } from "../store.ts";
import type { Store } from "../../store/index.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading diff A B [options]
       lading diff B --base REV [options]

Shows what changes from A to B. Each side is one of:
  FILE[#EXPORT]                 a spec export, compared as its plan: nothing is built
  git:REV:FILE[#EXPORT]         the same spec export at a git revision
  ${READABLE_TRANSPORTS.join(", ")}   a built image, read from its layers
Reports config, platform and annotation changes, layers added, removed, changed or
reordered (and, for specs, which layers a build would rebuild), and every file added,
removed or changed in content, type, mode, owner or link target, with the size delta.

  --base REV            compare B's spec at git revision REV with B (A is git:REV:B)
  --format F            text (default), json (schema lading.diff/v1), markdown (for a pull request)
  --stat                the summary only
  --quiet               print nothing; the exit code says it all
  --ignore GLOB         leave out in-image paths matching GLOB (repeatable)
  --color WHEN          auto (default: on a terminal, unless NO_COLOR is set), always, never
  --no-check            skip the type check of spec sides
  --store DIR           the content store
exit codes: 0 the same, 1 different, 2 trouble (a bad spec, an unreadable image, wrong usage)`;

/** Runs the command with its arguments; returns 0 for the same, 1 for different. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, {
    base: t.string,
    format: t.string,
    stat: t.boolean,
    quiet: t.boolean,
    ignore: t.array(t.string),
    color: t.string,
    ...SPEC_FLAGS,
  });
  const base = values.base;
  const sideArgs = base === undefined ? positionals : [`git:${base}:${positionals[0] ?? ""}`, ...positionals];
  if (sideArgs.length !== 2 || (base !== undefined && positionals.length !== 1)) throw new UsageError(`expected two sides, or one with --base\n\n${help}`);
  const format = values.format ?? "text";
  if (!["text", "json", "markdown"].includes(format)) throw new UsageError(`--format must be text, json or markdown, not "${format}"`);
  const color = values.color ?? "auto";
  if (!["auto", "always", "never"].includes(color)) throw new UsageError(`--color must be auto, always or never, not "${color}"`);
  const sides = sideArgs.map((a) => {
    const side = parseSide(a);
    if (E.isLeft(side)) throw new UsageError(side.left);
    if (side.right._tag === "Image" && side.right.transport._tag === "Bundle") throw new UsageError("a runtime bundle cannot be read back: diff the image it came from");
    return side.right;
  });
  const store = await storeOf(values.store, io.env);
  const cleanups: Array<() => Promise<void>> = [];
  const cache = await store.openHashCache();
  try {
    const options = { ignore: values.ignore ?? [] };
    // The same host files on both sides are the same bytes: two specs of this tree are
    // planned with their host files identified, and hashed only where that cannot tell.
    // A checkout at a revision holds new files, and the JSON shows every key: hashed.
    const identify = format !== "json" && sides.every((s) => s._tag === "Spec");
    const host = memoizedHost(nodeHost(cache, baseLayerFetcher(store, { env: io.env })), (stat) => !digestCacheKeeps(stat));
    // A layer both sides make alike is planned once; a base both sides build on is read once.
    const bases: BaseInspections = new Map();
    const planSides = (hostFiles: "hashed" | "identified") => viewSides(sides as [Side, Side], store, io, values["no-check"] === true, cleanups, { host, hostFiles, planned: new Map(), bases });
    let d: ImageDiff;
    if (identify) {
      const [before, after] = await planSides("identified");
      d = await diffIdentified(before, after, host, options);
      if (needsHashedPlans(d)) {
        const [b, a] = await planSides("hashed");
        d = diffImages(b.view, a.view, options);
      }
    } else {
      const [before, after] = await planSides("hashed");
      d = diffImages(before.view, after.view, options);
    }
    if (values.quiet !== true) {
      if (format === "json") io.out(renderJson(d));
      else if (format === "markdown") io.out(renderMarkdown(d));
      else io.out(renderText(d, { stat: values.stat === true, color: color === "always" || (color === "auto" && io.stdoutTTY && (io.env["NO_COLOR"] ?? "") === "") }));
    }
    return d.identical ? EXIT.ok : EXIT.errors;
  } finally {
    await cache.save();
    for (const c of cleanups) await c();
  }
};

/** A base's inspection, by its layers: read once for every side that builds on it. */
type BaseInspections = Map<string, Promise<Inspection>>;

/**
 * The views of both sides, each with the directory its host paths are relative to. Both
 * share one host: a tree both copy is stat'ed and hashed once.
 */
const viewSides = async (
  sides: readonly [Side, Side],
  store: Store,
  io: Io,
  noCheck: boolean,
  cleanups: Array<() => Promise<void>>,
  planning: { readonly host: Host; readonly hostFiles: "hashed" | "identified"; readonly planned: PlannedLayers; readonly bases: BaseInspections },
): Promise<readonly [SideView, SideView]> => {
  const { bases, ...forPlan } = planning;
  // A base image's files come from its layers: fetched into the store for the diff, and
  // read once for both sides (and both passes), which then share its layers' lists: the
  // layers above a shared base are compared alone.
  const specView = async (source: string, planned: { readonly plan: BuildPlan; readonly inputs: PlanInputs }): Promise<SideView> => {
    const { plan, inputs } = planned;
    if (plan.base === undefined) return { view: fromPlan(source, plan), specDir: inputs.specDir };
    const base = plan.base;
    const key = base.layers.map((l) => `${l.mediaType} ${l.digest} ${l.diffId}`).join("\n");
    let inspecting = bases.get(key);
    if (inspecting === undefined) bases.set(key, (inspecting = inspectBase(store, base, io.env)));
    const inspection = await inspecting;
    if (inspection.problems.length > 0) throw new DiagnosticError(inspection.problems);
    return { view: fromPlan(source, plan, inspection.layers), specDir: inputs.specDir };
  };
  const view = async (side: Side): Promise<SideView> => {
    switch (side._tag) {
      case "Spec":
        return specView(side.arg, await planTarget(side.arg, { noCheck, store, env: io.env, ...forPlan }));
      case "GitSpec": {
        const { target, dir } = await checkoutAtRevision(side.rev, side.arg);
        cleanups.push(() => fs.promises.rm(dir, { recursive: true, force: true }));
        return specView(`git:${side.rev}:${side.arg}`, await planTarget(target, { noCheck, store, env: io.env, ...forPlan }));
      }
      case "Image": {
        const image = await openImage(side.transport, io.env);
        cleanups.push(() => image.close());
        const inspection = await inspectImage(image);
        if (inspection.problems.length > 0) throw new DiagnosticError(inspection.problems);
        return { view: fromImage(image, inspection.layers), specDir: "" };
      }
    }
  };
  const before = await view(sides[0]);
  const after = await view(sides[1]);
  return [before, after];
};
