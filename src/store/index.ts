export * from "./Store.ts";
