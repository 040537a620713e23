/**
 * SBOMs: what an image holds, as SPDX, from its plan.
 */
export * from "./spdx.ts";
