export { buildImage, buildLayer, makeImageConfig, layerFormat } from "./build.ts";
export type { BuildEvent, BuildOptions, Built, StepRequest, StepRunner } from "./build.ts";
export { TAR_FORMAT } from "./tar.ts";
export { compressionId } from "./gzip.ts";
