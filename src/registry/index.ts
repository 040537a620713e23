
export * from "./client.ts";
export * from "./pull.ts";
export * from "./lock.ts";
