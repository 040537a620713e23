/**
 * `lading import`: a Dockerfile translated into a lading spec.
 */
export * from "./translate.ts";
export * from "./generate.ts";
