export * from "./Transport.ts";
export { writeImage } from "./write.ts";
export type { WriteOptions } from "./write.ts";
export { openImage } from "./read.ts";
export type { OpenedImage, OpenedLayer } from "./read.ts";
export { inspectImage, flattenLayers } from "./inspect.ts";
export type { Inspection, InspectedLayer, LayerFile } from "./inspect.ts";
export { parseReference, formatReference } from "./Reference.ts";
export type { Reference } from "./Reference.ts";
