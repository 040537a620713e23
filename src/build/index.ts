export { buildImage, buildLayer, makeImageConfig, layerFormat, layerFormatFor } from "./build.ts";
export type { BuildEvent, BuildOptions, Built, LayerCompression, StepRequest, StepRunner } from "./build.ts";
export { TAR_FORMAT } from "./tar.ts";
export { compressionId } from "./gzip.ts";
export { zstdCompressionId, ZSTD_LEVEL } from "./zstd.ts";
