export * from "./Digest.ts";
export * from "./CanonicalJson.ts";
export * from "./Diagnostic.ts";
export * from "./ImagePath.ts";
export * from "./Units.ts";
export * from "./Reference.ts";
export * from "./Concurrency.ts";
export * from "./EnvTemplate.ts";
