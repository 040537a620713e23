export * from "./IR.ts";
export { deriveEntries, evaluate, MAX_ID } from "./evaluate.ts";
export { debianArchitecture } from "./packages.ts";
export { parseMemory } from "./run.ts";
