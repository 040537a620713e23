import type { Diagnostic } from "../core/index.ts";

export { collectLocalSources, collectPackageFiles, computeCheckKey } from "./sources.ts";

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
): Promise<ReadonlyArray<Diagnostic>> => (await import("./check.ts")).checkSpecs(files, ladingRoot, display);
