import type { CheckResult } from "./check.ts";

export type { CheckResult } from "./check.ts";
export { collectLocalSources, collectManifests, collectPackageFiles, computeCheckKey, sourceDigest } from "./sources.ts";

/**
 * Type checks spec files and flags impure calls (see `check.ts`). The compiler is
 * loaded on first use only: a build whose check is cached never pays for it.
 *
 * @category destructors
 */
export const checkSpecs = async (
  files: ReadonlyArray<string>,
  ladingRoot: string,
  display: (abs: string) => string,
): Promise<CheckResult> => (await import("./check.ts")).checkSpecs(files, ladingRoot, display);
