export * from "./BuildPlan.ts";
export * from "./Host.ts";
export * from "./accounts.ts";
export { planImage, computeLayerCacheKey, computeRunCacheKey, mergeConfig } from "./plan.ts";
export type { PlanOptions, PlanResult } from "./plan.ts";
export * from "./PackageHost.ts";
export * from "./ArchiveHost.ts";
export { resolveImagePackages } from "./packages.ts";
export { planJsonChunks } from "./PlanJson.ts";
