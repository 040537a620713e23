export * from "./Store.ts";
export * from "./Temp.ts";
export * from "./Unpacked.ts";
export * from "./Layer.ts";
