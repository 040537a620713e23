export * from "./Store.ts";
export * from "./Temp.ts";
export * from "./Layer.ts";
