/**
 * The one way every reader turns a layer's blob into its tar: gunzip, zstd decoding, or
 * nothing, as the layer's compression says.
 */
import type { Duplex } from "node:stream";
import * as zlib from "node:zlib";
import { createZstdDecoder } from "../core/index.ts";
import type { Compression } from "./MediaType.ts";

/**
 * The stages that decompress a blob compressed as `compression`: none for a plain tar.
 * `chunkSize` is gunzip's output chunk; zstd's are the blocks it decodes.
 *
 * @category constructors
 */
export const decompression = (compression: Compression, chunkSize?: number): Duplex[] =>
  compression === "gzip" ? [zlib.createGunzip(chunkSize === undefined ? {} : { chunkSize })] : compression === "zstd" ? [createZstdDecoder()] : [];
