export { checkSpecs, specCompilerOptions } from "./check.ts";
export { collectLocalSources, computeCheckKey } from "./sources.ts";
export { findImpurities } from "./impurity.ts";
