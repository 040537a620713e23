import type { CheckResult } from "./check.ts";
import type { Checker } from "./checker.ts";

export type { CheckResult } from "./check.ts";
export type { Checker } from "./checker.ts";
export { checkerName, chooseChecker } from "./checker.ts";
export { collectLocalSources, collectManifests, collectPackageFiles, computeCheckKey, sourceDigest } from "./sources.ts";

/**
 * Type checks spec files and flags impure calls, with `checker` (see `chooseChecker`):
 * the native compiler in a child process (`native.ts`), or ts-morph's in this one
 * (`check.ts`). Either is loaded on first use only: a build whose check is cached never
 * pays for it.
 *
 * @category destructors
 */
export const checkSpecs = async (
  files: ReadonlyArray<string>,
  ladingRoot: string,
  display: (abs: string) => string,
  checker: Checker,
): Promise<CheckResult> =>
  checker._tag === "native"
    ? (await import("./native.ts")).checkNatively(files, checker.exe, checker.ownEntries, ladingRoot, display)
    : (await import("./check.ts")).checkSpecs(files, ladingRoot, display);
