export { buildImage, buildLayer, makeImageConfig, layerFormat, imageDigest } from "./build.ts";
export type { BuildEvent, BuiltImage } from "./build.ts";
export { TAR_FORMAT } from "./tar.ts";
export { compressionId } from "./gzip.ts";
