/**
 * plan: an evaluated image plus the host gives the BuildPlan. Host copies are expanded
 * to files, every file gets its content digest, implied parent directories are added,
 * entries are sorted, and each layer gets its cache key.
 */
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import picomatch from "picomatch";
import type { Diagnostic, Digest, ImagePath, Place } from "../core/index.ts";
import { canonicalJson, digestOf, digestOfLines, error, sortBytewise } from "../core/index.ts";
import type { EntryIR, ImageIR, LayerIR, RunIR } from "../eval/index.ts";
import { isWhiteoutName } from "../eval/index.ts";
import type { ConfigIR } from "../eval/index.ts";
import type { BuildPlan, LayerFormat, PlanInputs, PlannedBase, PlannedEntry, PlannedLayer, PlannedMount, PlannedRun } from "./BuildPlan.ts";
import type { Host, HostStat } from "./Host.ts";

/**
 * What plan needs besides the image and the host: where the spec is, the `created` time
 * and the layer format.
 *
 * @category model
 */
export interface PlanOptions {
  /** The spec file as shown in diagnostics. */
  readonly file: string;
  /** The directory host paths are relative to: the spec file's directory. */
  readonly specDir: string;
  /** SOURCE_DATE_EPOCH, or 0. */
  readonly created: number;
  readonly format: LayerFormat;
  /** The resolved base, when the image pulls one. */
  readonly base?: PlannedBase;
  /** The run step sandbox's version: part of every run step's cache key. */
  readonly sandbox?: string;
  /** The environment secrets are read from: plan checks that each one named is there. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Builds `image` (lazily, from the cache when it can) and gives the host path where
   * its file or directory `source` has been taken out, for `Entry.fromImage`.
   */
  readonly takeFromImage?: (image: ImageIR, source: ImagePath, place: Place) => Promise<string>;
}

/**
 * Every problem plan found, or the plan with the inputs its build reads.
 *
 * @category model
 */
export type PlanResult = E.Either<ReadonlyArray<Diagnostic>, { readonly plan: BuildPlan; readonly inputs: PlanInputs }>;

type Mutable<A> = { -readonly [K in keyof A]: A[K] };

interface Pending {
  readonly entry: Mutable<PlannedEntry>;
  readonly abs?: string;
  readonly stat?: HostStat;
}

const HASH_CONCURRENCY = 16;

const toPosix = (p: string): string => p.split(path.sep).join("/");

/** Expands a host copy into entries; hashing is left to the caller, batched. */
const expandHostCopy = async (
  host: Host,
  e: Extract<EntryIR, { _tag: "HostCopy" }>,
  opts: PlanOptions,
  place: Place,
  out: Diagnostic[],
  pending: Pending[],
): Promise<void> => {
  const root = path.resolve(opts.specDir, e.source);
  const rootStat = await host.stat(root);
  if (rootStat === undefined) {
    out.push(error(place, `host path not found: ${e.source}`, `host paths are relative to the spec file's directory`));
    return;
  }
  if (e.path === "/" && rootStat.kind !== "dir") {
    out.push(error(place, `host path ${e.source} is not a directory, so it cannot be copied to /`));
    return;
  }
  const excluded = e.exclude.length === 0 ? () => false : picomatch([...e.exclude], { dot: true });
  const owner = { uid: e.uid, gid: e.gid };
  const visit = async (abs: string, st: HostStat, dest: ImagePath, rel: string): Promise<void> => {
    // As written when absolute (a system file), else relative to the spec: never a path
    // that depends on where the checkout lives.
    const source = path.isAbsolute(e.source) ? toPosix(abs) : toPosix(path.relative(opts.specDir, abs)) || ".";
    switch (st.kind) {
      case "file":
        pending.push({
          entry: { path: dest, type: "file", mode: e.mode ?? (st.executable ? 0o755 : 0o644), ...owner, size: st.size, source },
          abs,
          stat: st,
        });
        return;
      case "symlink":
        pending.push({ entry: { path: dest, type: "symlink", mode: 0o777, ...owner, target: await host.readlink(abs) } });
        return;
      case "dir": {
        pending.push({ entry: { path: dest, type: "dir", mode: e.dirMode, ...owner } });
        const names = sortBytewise(await host.readdir(abs), (n) => n);
        for (const name of names) {
          const childRel = rel === "" ? name : `${rel}/${name}`;
          if (excluded(childRel)) continue;
          if (isWhiteoutName(name)) {
            out.push(error({ ...place, path: `${dest}/${name}` }, `host file ${childRel} has a name starting with .wh., an OCI whiteout that would delete files of lower layers`, "exclude it, or rename it"));
            continue;
          }
          const childAbs = path.join(abs, name);
          const childStat = await host.stat(childAbs);
          if (childStat === undefined) continue;
          const childDest: ImagePath = dest === "/" ? `/${name}` : `${dest}/${name}`;
          await visit(childAbs, childStat, childDest, childRel);
        }
        return;
      }
      case "other":
        out.push(error({ ...place, path: dest }, `host path ${source} is not a file, directory or symlink`));
        return;
    }
  };
  await visit(root, rootStat, e.path, "");
};

const hashAll = async (host: Host, pending: ReadonlyArray<Pending>): Promise<void> => {
  const files = pending.filter((p) => p.abs !== undefined);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const p = files[next++]!;
      p.entry.digest = await host.hashFile(p.abs!, p.stat!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, files.length) }, worker));
};

/** The parent of a normalized path, or undefined for a top-level one. */
const parentOf = (p: ImagePath): ImagePath | undefined => {
  const i = p.lastIndexOf("/");
  return i <= 0 ? undefined : (p.slice(0, i) as ImagePath);
};

const entryKind: Record<PlannedEntry["type"], string> = { file: "file", dir: "directory", symlink: "symlink", hardlink: "hardlink" };

/** Orders entries, rejects collisions, adds implied parent directories. */
const finishLayer = (
  entries: ReadonlyArray<PlannedEntry>,
  below: ReadonlyMap<string, PlannedEntry & { readonly layer: string }>,
  onBase: boolean,
  place: Place,
  out: Diagnostic[],
): PlannedEntry[] => {
  const byPath = new Map<string, PlannedEntry>();
  for (const e of entries) {
    const prev = byPath.get(e.path);
    if (prev !== undefined) {
      if (prev.type === "dir" && e.type === "dir") {
        byPath.set(e.path, e);
        continue;
      }
      out.push(error({ ...place, path: e.path }, `two entries at one path (${entryKind[prev.type]} and ${entryKind[e.type]})`));
      continue;
    }
    byPath.set(e.path, e);
  }
  for (const e of [...byPath.values()]) {
    // Inside out, stopping at the first parent already known: its own ancestors were
    // added with it, or are checked when its own entry comes round.
    for (let parent = parentOf(e.path); parent !== undefined; parent = parentOf(parent)) {
      const p = byPath.get(parent);
      if (p === undefined) {
        // An implied parent keeps what a lower layer made of it: its owner and mode, or,
        // if it is a symlink there, an error (the layer would replace the link).
        const lower = below.get(parent);
        // On a base image, a parent no layer of the spec makes is left to the base: an
        // entry for it would replace the base's owner and mode. A runtime makes one
        // the base lacks (0755, root), as it would from this entry.
        if (lower === undefined && onBase) continue;
        if (lower !== undefined && lower.type !== "dir") {
          out.push(
            error({ ...place, path: e.path }, `parent ${parent} is a ${entryKind[lower.type]} in layer "${lower.layer}"`, lower.type === "symlink" ? `write to the path it points to (${lower.target})` : undefined),
          );
          break;
        }
        byPath.set(parent, lower === undefined ? { path: parent, type: "dir", mode: 0o755, uid: 0, gid: 0 } : { path: parent, type: "dir", mode: lower.mode, uid: lower.uid, gid: lower.gid });
        continue;
      }
      if (p.type !== "dir") out.push(error({ ...place, path: e.path }, `parent ${parent} is a ${entryKind[p.type]}, not a directory`));
      break;
    }
    if (e.type === "hardlink") {
      const t = byPath.get(e.target!);
      if (t === undefined || t.type !== "file") {
        out.push(error({ ...place, path: e.path }, `hardlink target ${e.target} is not a regular file of this layer`));
      }
    }
  }
  byPath.delete("/");
  return linkToFirstName(sortBytewise([...byPath.values()], (e) => e.path));
};

/**
 * A hard link must come after the file it links to, or no tar reader can make it. For
 * each set of names of one file, the name that sorts first carries the content and the
 * others link to it: the same file, in an order every reader follows.
 */
const linkToFirstName = (sorted: PlannedEntry[]): PlannedEntry[] => {
  const names = new Map<ImagePath, ImagePath[]>();
  for (const e of sorted) {
    if (e.type !== "hardlink") continue;
    // Hard link targets are in-image paths: eval normalized them.
    const target = e.target as ImagePath;
    names.set(target, [...(names.get(target) ?? [target]), e.path]);
  }
  if (names.size === 0) return sorted;
  const replaced = new Map<string, PlannedEntry>();
  const index = new Map(sorted.map((e, i) => [e.path, i]));
  for (const [target, group] of names) {
    const first = group.reduce((a, b) => ((index.get(a) ?? 0) <= (index.get(b) ?? 0) ? a : b));
    if (first === target) continue;
    const file = sorted[index.get(target)!]!;
    for (const name of group) {
      const own = sorted[index.get(name)!]!;
      replaced.set(name, name === first ? { ...file, path: name } : { path: name, type: "hardlink", mode: own.mode, uid: own.uid, gid: own.gid, target: first });
    }
  }
  return sorted.map((e) => replaced.get(e.path) ?? e);
};

/**
 * The cache key of a layer: the hash of its entries (without host paths, which do not
 * shape the bytes), the mtime, and the tar and compression formats.
 *
 * @category destructors
 */
export const computeLayerCacheKey = (entries: ReadonlyArray<PlannedEntry>, created: number, format: LayerFormat): Digest =>
  digestOfLines(
    (function* () {
      yield canonicalJson({ created, format });
      // One fixed-order array a line: unambiguous, and far cheaper than canonical JSON
      // of twenty thousand objects.
      for (const e of entries) yield JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.size ?? null, e.digest ?? null, e.target ?? null]);
    })(),
  );

const planLayer = async (
  host: Host,
  layer: LayerIR,
  opts: PlanOptions,
  place: Place,
  inline: Map<Digest, Uint8Array>,
  below: ReadonlyMap<string, PlannedEntry & { readonly layer: string }>,
  out: Diagnostic[],
): Promise<PlannedLayer> => {
  const at: Place = { ...place, layer: layer.name };
  const pending: Pending[] = [];
  for (const e of layer.entries) {
    const owner = { uid: e.uid, gid: e.gid };
    switch (e._tag) {
      case "File": {
        const digest = digestOf(e.content);
        inline.set(digest, e.content);
        pending.push({ entry: { path: e.path, type: "file", mode: e.mode, ...owner, size: e.content.byteLength, digest, source: "inline" } });
        break;
      }
      case "Directory":
        pending.push({ entry: { path: e.path, type: "dir", mode: e.mode, ...owner } });
        break;
      case "Symlink":
        pending.push({ entry: { path: e.path, type: "symlink", mode: 0o777, ...owner, target: e.target } });
        break;
      case "Hardlink":
        pending.push({ entry: { path: e.path, type: "hardlink", mode: 0o644, ...owner, target: e.target } });
        break;
      case "HostCopy":
        await expandHostCopy(host, e, opts, { ...at, path: e.path }, out, pending);
        break;
      case "FromImage": {
        if (opts.takeFromImage === undefined) {
          out.push(error({ ...at, path: e.path }, "files from another image cannot be taken here"));
          break;
        }
        // Taken out into the store, the files are then copied as host files are.
        const taken = await opts.takeFromImage(e.image, e.source, { ...at, path: e.path });
        await expandHostCopy(host, { _tag: "HostCopy", path: e.path, source: taken, exclude: [], mode: e.mode, dirMode: 0o755, uid: e.uid, gid: e.gid }, opts, { ...at, path: e.path }, out, pending);
        break;
      }
      default: {
        const never: never = e;
        throw new Error(`unhandled entry ${JSON.stringify(never)}`);
      }
    }
  }
  await hashAll(host, pending);
  const entries = finishLayer(
    pending.map((p) => p.entry),
    below,
    opts.base !== undefined,
    at,
    out,
  );
  const contentSize = entries.reduce((n, e) => n + (e.size ?? 0), 0);
  return {
    name: layer.name,
    ...(layer.comment === undefined ? {} : { comment: layer.comment }),
    entries,
    contentSize,
    cacheKey: computeLayerCacheKey(entries, opts.created, opts.format),
  };
};

/**
 * The cache key of a run step: the hash of what is below it (the base's diff_ids and the
 * cache keys of the layers and steps before it), the command with all it runs with, the
 * bind mounts' content digests and the declarations of the other mounts (never a secret's
 * value or a cache's contents), the platform, the sandbox's version, the mtime and the
 * layer format. Limits are left out: they decide whether a step succeeds, not what it
 * writes.
 *
 * @category destructors
 */
export const computeRunCacheKey = (below: ReadonlyArray<Digest>, run: PlannedRun, platform: ImageIR["platform"], sandbox: string, created: number, format: LayerFormat): Digest =>
  digestOfLines(
    (function* () {
      yield canonicalJson({ created, format, platform, sandbox });
      yield canonicalJson({ argv: run.argv, env: run.env, workingDir: run.workingDir, user: run.user, mounts: run.mounts, network: run.network });
      for (const d of below) yield d;
    })(),
  );

const bindDigest = async (host: Host, m: Extract<RunIR["mounts"][number], { _tag: "Bind" }>, opts: PlanOptions, place: Place, out: Diagnostic[]): Promise<Digest> => {
  const pending: Pending[] = [];
  // A bind's files, as a host copy at its target would list them: one way to read a tree.
  await expandHostCopy(host, { _tag: "HostCopy", path: m.target, source: m.source, exclude: [], mode: undefined, dirMode: 0o755, uid: 0, gid: 0 }, opts, { ...place, path: m.target }, out, pending);
  await hashAll(host, pending);
  return digestOfLines(sortBytewise(pending.map((p) => p.entry), (e) => e.path).map((e) => JSON.stringify([e.path, e.type, e.mode, e.size ?? null, e.digest ?? null, e.target ?? null])));
};

const planRun = async (
  host: Host,
  step: RunIR,
  image: ImageIR,
  opts: PlanOptions,
  below: ReadonlyArray<Digest>,
  place: Place,
  out: Diagnostic[],
): Promise<PlannedLayer> => {
  const at: Place = { ...place, layer: step.name };
  const config = opts.base === undefined ? step.config : mergeConfig(opts.base.config, step.config);
  const env = envMap(config.Env);
  for (const [k, v] of Object.entries(step.env)) env.set(k, v);
  const mounts: PlannedMount[] = [];
  for (const m of step.mounts) {
    switch (m._tag) {
      case "Bind":
        mounts.push({ type: "bind", target: m.target, source: m.source, digest: await bindDigest(host, m, opts, at, out) });
        break;
      case "Cache":
        mounts.push({ type: "cache", target: m.target, id: m.id });
        break;
      case "Secret":
        if (m.source._tag === "Env") {
          if (opts.env?.[m.source.name] === undefined) out.push(error({ ...at, path: m.target }, `secret from environment variable ${m.source.name}, which is not set`, `set ${m.source.name} when building`));
          mounts.push({ type: "secret", target: m.target, env: m.source.name });
        } else {
          const st = await host.stat(path.resolve(opts.specDir, m.source.path));
          if (st?.kind !== "file") out.push(error({ ...at, path: m.target }, `secret file ${m.source.path} ${st === undefined ? "does not exist" : "is not a regular file"}`, "host paths are relative to the spec file's directory"));
          mounts.push({ type: "secret", target: m.target, file: m.source.path });
        }
        break;
      default: {
        const never: never = m;
        throw new Error(`unhandled mount ${JSON.stringify(never)}`);
      }
    }
  }
  const run: PlannedRun = {
    argv: step.argv,
    ...(step.shell === undefined ? {} : { shell: step.shell }),
    env: [...env].map(([k, v]) => `${k}=${v}`).sort(),
    workingDir: step.workingDir ?? config.WorkingDir ?? "/",
    user: step.user ?? config.User ?? "",
    mounts,
    network: step.network,
    limits: step.limits,
  };
  if (opts.sandbox === undefined) out.push(error(at, "this build cannot run steps: no sandbox is available"));
  return { name: step.name, entries: [], contentSize: 0, cacheKey: computeRunCacheKey(below, run, image.platform, opts.sandbox ?? "", opts.created, opts.format), run };
};

/** The OCI annotations that name the image a manifest was built on. */
const BASE_NAME = "org.opencontainers.image.base.name";
const BASE_DIGEST = "org.opencontainers.image.base.digest";

const envMap = (env: unknown): Map<string, string> => {
  const m = new Map<string, string>();
  for (const kv of Array.isArray(env) ? env : []) {
    if (typeof kv !== "string") continue;
    const i = kv.indexOf("=");
    m.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? "" : kv.slice(i + 1));
  }
  return m;
};

/**
 * The config of an image built on a base: the base's config changed by the spec's, the
 * way Dockerfile instructions change an inherited one. Env and Labels merge (the spec
 * wins), ExposedPorts and Volumes add up, other fields the spec sets replace the base's,
 * and an Entrypoint set without a Cmd drops the base's Cmd. The base's OnBuild triggers
 * are dropped, as a Dockerfile build does; other fields lading does not know (a
 * Healthcheck) are kept.
 *
 * @category combinators
 */
export const mergeConfig = (base: Readonly<Record<string, unknown>>, spec: ConfigIR): ConfigIR => {
  const out: Record<string, unknown> = { ...base };
  for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
  // The base's ONBUILD triggers were for images built on it: this is one, so they end here.
  delete out["OnBuild"];
  const env = envMap(base["Env"]);
  for (const [k, v] of envMap(spec.Env)) env.set(k, v);
  if (env.size > 0) out["Env"] = [...env].map(([k, v]) => `${k}=${v}`).sort();
  if (spec.Entrypoint !== undefined) {
    out["Entrypoint"] = spec.Entrypoint;
    if (spec.Cmd === undefined) delete out["Cmd"];
  }
  if (spec.Cmd !== undefined) out["Cmd"] = spec.Cmd;
  for (const k of ["WorkingDir", "User", "StopSignal"] as const) if (spec[k] !== undefined) out[k] = spec[k];
  for (const k of ["ExposedPorts", "Volumes", "Labels"] as const) {
    const merged = { ...(base[k] as object | undefined), ...spec[k] };
    if (Object.keys(merged).length > 0) out[k] = merged;
  }
  return out as ConfigIR;
};

/**
 * Plans an evaluated image, reading the machine only through `host`; on failure it
 * returns every problem found, not only the first.
 *
 * @category constructors
 */
export const planImage = async (host: Host, image: ImageIR, opts: PlanOptions): Promise<PlanResult> => {
  const place: Place = { file: opts.file, exportName: image.exportName };
  const out: Diagnostic[] = [];
  const inline = new Map<Digest, Uint8Array>();
  const layers: PlannedLayer[] = [];
  // What the layers planned so far make of each path, for the implied parents above them.
  const below = new Map<string, PlannedEntry & { readonly layer: string }>();
  // What each step runs on: the base's layers, by diff_id, then the keys of those planned.
  const keysBelow: Digest[] = (opts.base?.layers ?? []).map((l) => l.diffId);
  for (const layer of image.layers) {
    if (layer._tag === "Run") {
      const planned = await planRun(host, layer, image, opts, [...keysBelow], place, out);
      keysBelow.push(planned.cacheKey);
      layers.push(planned);
      continue;
    }
    const planned = await planLayer(host, layer, opts, place, inline, below, out);
    keysBelow.push(planned.cacheKey);
    for (const e of planned.entries) below.set(e.path, { ...e, layer: layer.name });
    layers.push(planned);
  }
  if (out.length > 0) return E.left(out);
  const base = opts.base;
  return E.right({
    plan: {
      exportName: image.exportName,
      ...(base === undefined ? {} : { base }),
      platform: image.platform,
      config: base === undefined ? image.config : mergeConfig(base.config, image.config),
      annotations: base === undefined ? image.annotations : { [BASE_NAME]: base.reference, [BASE_DIGEST]: base.digest, ...image.annotations },
      created: opts.created,
      format: opts.format,
      layers,
    },
    inputs: { specDir: opts.specDir, inline },
  });
};
