export * from "./IR.ts";
export { evaluate, isWhiteoutName, MAX_ID } from "./evaluate.ts";
export { parseMemory } from "./run.ts";
