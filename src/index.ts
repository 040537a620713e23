/**
 * The public API of lading: the spec DSL. Spec files import from here.
 */
export { Image, Layer, Entry, Mount, Config, Platform, Debian, Param } from "./spec/index.ts";
export type { ImagePath } from "./spec/index.ts";
export { pipe, flow } from "fp-ts/lib/function.js";
