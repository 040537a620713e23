export * as Image from "./Image.ts";
export * as Layer from "./Layer.ts";
export * as Entry from "./Entry.ts";
export * as Mount from "./Mount.ts";
export * as Config from "./Config.ts";
export * as Platform from "./Platform.ts";
export type { ImagePath } from "../core/index.ts";
export * as Runtime from "./Runtime.ts";
