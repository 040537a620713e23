export * from "./Store.ts";
export * from "./Temp.ts";
