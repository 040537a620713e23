/**
 * A spec's base image resolved through its lading.lock: the pin the lock holds for the
 * reference, when it holds one, and with `frozen`, only through it. The registry's
 * diagnostics are told as the spec's export's.
 */
import type { ImageIR } from "../eval/index.ts";
import type { PlannedBase } from "../plan/index.ts";
import { DiagnosticError, error, formatReference } from "../core/index.ts";
import type { Store } from "../store/index.ts";
import type { RegistryOptions } from "./client.ts";
import { readLock } from "./lock.ts";
import { resolveBase } from "./pull.ts";

/**
 * Where the lock file is, how diagnostics name it and the spec, whether only the lock
 * may pin, and where the resolved documents go.
 *
 * @category model
 */
export interface LockedBaseOptions {
  readonly lockFile: string;
  readonly lockShown: string;
  readonly specShown: string;
  readonly frozen: boolean;
  readonly store: Store;
  readonly registry: RegistryOptions;
}

/**
 * The base image an evaluated export pulls, resolved for its platform; none when it
 * pulls none.
 *
 * @category destructors
 */
export const resolveLockedBase = async (ir: ImageIR, opts: LockedBaseOptions): Promise<PlannedBase | undefined> => {
  const ref = ir.base;
  if (ref === undefined) return undefined;
  // The lock is keyed by the reference as written.
  const key = formatReference(ref);
  const pins = await readLock(opts.lockFile, opts.lockShown);
  const pin = pins?.get(key);
  if (opts.frozen && ref.digest === undefined && pin === undefined) {
    const hint = `run 'lading lock ${opts.specShown}' and commit the lock file`;
    throw new DiagnosticError([
      pins === undefined
        ? error({ file: opts.lockShown }, "--frozen needs lading.lock, and there is none", hint)
        : error({ file: opts.lockShown, exportName: ir.exportName }, `${key} is not pinned: the lock file is stale`, hint),
    ]);
  }
  // A registry's answer is about the spec's export: the diagnostic names both.
  return resolveBase(opts.store, ref, ir.platform, pin, opts.registry).catch((e: unknown) => {
    if (!(e instanceof DiagnosticError)) throw e;
    throw new DiagnosticError(
      e.diagnostics.map((d) => ({ ...d, file: opts.specShown, exportName: ir.exportName, message: d.file?.startsWith("docker://") === true ? `${d.file}: ${d.message}` : d.message })),
    );
  });
};
