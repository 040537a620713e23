export * from "./IR.ts";
export { evaluate, MAX_ID } from "./evaluate.ts";
export { parseMemory } from "./run.ts";
