/**
 * The shared front of the commands that take a spec export (`plan`, `build`, `run`,
 * `diff`, `sbom`): check, load, evaluate, resolve the base, plan.
 */
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { Diagnostic } from "../core/index.ts";
import { DiagnosticError, error } from "../core/index.ts";
import type { ImageIR } from "../eval/index.ts";
import { evaluate } from "../eval/index.ts";
import { Param } from "../spec/index.ts";
import type { BuildPlan, Host, PlanInputs, PlanOptions } from "../plan/index.ts";
import { nodeHost, planImage } from "../plan/index.ts";
import { debianPackageHost } from "../deb/index.ts";
import type { BuildEvent, LayerCompression, StepRunner } from "../build/index.ts";
import { buildImage, layerFormatFor } from "../build/index.ts";
import type { Store } from "../store/index.ts";
import type { RegistryOptions } from "../registry/index.ts";
import { baseLayerFetcher, lockPathFor, readFetchPins, readPackagePins, resolveLockedBase } from "../registry/index.ts";
import { storeArchiveHost } from "../archive/index.ts";
import { SANDBOX_VERSION, takeFromImage } from "../run/index.ts";
import { isError, runCheck } from "./checked.ts";
import type { Io } from "./io.ts";
import { display } from "./io.ts";
import { loadExport, parseTarget } from "./load.ts";
import { specFileOf } from "./specFile.ts";
import { UsageError } from "./usage.ts";

/** `SOURCE_DATE_EPOCH`, checked: the time every output is dated. */
export const sourceDateEpoch = (env: Io["env"]): number => {
  const raw = env["SOURCE_DATE_EPOCH"];
  if (raw === undefined || raw === "") return 0;
  // Tar headers hold mtimes up to 2^31 - 1 here (2038-01-19); past that they would wrap.
  if (!/^[0-9]{1,10}$/.test(raw) || Number(raw) > 2 ** 31 - 1) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds up to 2147483647, got "${raw}"`);
  }
  return Number(raw);
};

/** Adds the export to diagnostics that do not name one yet. */
export const inExport = <A>(exportName: string, f: () => Promise<A>): Promise<A> =>
  f().catch((e: unknown) => {
    if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => ({ exportName, ...d })));
    throw e;
  });

/** check → load → eval → resolve the base → plan: the shared front of `plan` and `build`. */
export const planTarget = async (
  arg: string,
  opts: {
    readonly noCheck: boolean;
    readonly store: Store;
    readonly env: Io["env"];
    readonly host?: Host;
    readonly frozen?: boolean;
    readonly args?: Param.Arguments;
    /** How built layers are compressed (gzip by default); part of every layer's cache key. */
    readonly compression?: LayerCompression;
    /** Runs the steps of the images an export takes files from. */
    readonly runStep?: StepRunner;
    readonly onBuildEvent?: (e: BuildEvent) => void;
    /** Told how the download of a base layer the plan reads goes. */
    readonly onTransfer?: RegistryOptions["onTransfer"];
    /** How the export's host files are known (see {@link PlanOptions}); the images it takes files from are built, so always hashed. */
    readonly hostFiles?: PlanOptions["hostFiles"];
    /** Layers planned before, given again (see {@link PlanOptions}). */
    readonly planned?: PlanOptions["planned"];
  },
): Promise<{ readonly plan: BuildPlan; readonly inputs: PlanInputs; readonly warnings?: ReadonlyArray<Diagnostic> }> => {
  const parsed = parseTarget(arg);
  const target = { ...parsed, file: specFileOf(parsed.file) };
  const abs = path.resolve(target.file);
  const shown = display(abs);
  const created = sourceDateEpoch(opts.env);
  if (!opts.noCheck) {
    const diags = await runCheck([target.file], opts.store);
    if (diags.some(isError)) throw new DiagnosticError(diags.filter(isError));
  }
  const { exportName, value: exported } = await loadExport(target, shown);
  const args = opts.args ?? {};
  let value: unknown = exported;
  if (Param.isParameterized(exported)) {
    const applied = Param.applyArguments(exported, args);
    if (E.isLeft(applied)) throw new DiagnosticError(applied.left.map((m) => error({ file: shown, exportName }, m, "give arguments as --arg NAME=VALUE")));
    value = applied.right;
  } else if (Object.keys(args).length > 0) {
    throw new DiagnosticError([error({ file: shown, exportName }, `takes no parameters, but ${Object.keys(args).map((k) => `--arg ${k}`).join(", ")} was given`, "make the export with Image.parameterized to give it parameters")]);
  }
  const ir = evaluate(shown, exportName, value);
  if (E.isLeft(ir)) throw new DiagnosticError(ir.left);
  const lockFile = lockPathFor(abs);
  // Debian archives are read only when the export holds packages: the host is lazy.
  const packages = debianPackageHost(opts.store, { specDir: path.dirname(abs), pins: (await readPackagePins(lockFile, display(lockFile))) ?? new Map(), frozen: opts.frozen === true, lockShown: display(lockFile) });
  const archives = storeArchiveHost(opts.store, { pins: (await readFetchPins(lockFile, display(lockFile))) ?? new Map(), frozen: opts.frozen === true, lockShown: display(lockFile) });
  const cache = opts.host === undefined ? await opts.store.openHashCache() : undefined;
  const registry: RegistryOptions = { env: opts.env, ...(opts.onTransfer === undefined ? {} : { onTransfer: opts.onTransfer }) };
  const host = opts.host ?? nodeHost(cache, baseLayerFetcher(opts.store, registry));
  const planOf = async (image: ImageIR, top: boolean): Promise<{ readonly plan: BuildPlan; readonly inputs: PlanInputs; readonly warnings?: ReadonlyArray<Diagnostic> }> => {
    const base = await resolveLockedBase(image, { lockFile, lockShown: display(lockFile), specShown: shown, frozen: opts.frozen === true, store: opts.store, registry: { env: opts.env } });
    const planned = await planImage(host, image, {
      file: shown,
      specDir: path.dirname(abs),
      created,
      format: layerFormatFor(opts.compression ?? "gzip"),
      sandbox: SANDBOX_VERSION,
      env: opts.env,
      packages,
      archives,
      ...(base === undefined ? {} : { base }),
      ...(top && opts.hostFiles !== undefined ? { hostFiles: opts.hostFiles } : {}),
      ...(top && opts.planned !== undefined ? { planned: opts.planned } : {}),
      ...(top && Param.isParameterized(exported) ? { arguments: Object.fromEntries(Object.entries(args).sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
      // A stage is built, as lazily as any image, before the files it gives are planned.
      takeFromImage: async (stage, source, place) => {
        const { plan, inputs } = await planOf(stage, false);
        const { image } = await buildImage(opts.store, plan, inputs, opts.onBuildEvent, { ...(opts.runStep === undefined ? {} : { runStep: opts.runStep }), registry });
        return takeFromImage(opts.store, image, source, place);
      },
    });
    if (E.isLeft(planned)) throw new DiagnosticError(planned.left);
    return planned.right;
  };
  try {
    return await planOf(ir.right, true);
  } finally {
    await cache?.save();
  }
};

/** The arguments of `--arg NAME=VALUE` options, by name; a malformed or repeated one is a usage error. */
export const argumentsOf = (raw: ReadonlyArray<string> | undefined): Param.Arguments => {
  const out: Record<string, string> = {};
  for (const a of raw ?? []) {
    const i = a.indexOf("=");
    if (i <= 0) throw new UsageError(`--arg must be NAME=VALUE, not "${a}"`);
    const name = a.slice(0, i);
    if (name in out) throw new UsageError(`--arg ${name} is given twice`);
    out[name] = a.slice(i + 1);
  }
  return out;
};
