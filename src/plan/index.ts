export * from "./BuildPlan.ts";
export * from "./Host.ts";
export { planImage, computeLayerCacheKey, mergeConfig } from "./plan.ts";
export type { PlanOptions, PlanResult } from "./plan.ts";
export { planJsonChunks } from "./PlanJson.ts";
