/**
 * The one way every reader turns a layer's blob into its tar: gunzip, zstd decoding, or
 * nothing, as the layer's compression says.
 */
import type { Duplex } from "node:stream";
import * as zlib from "node:zlib";
import { createZstdDecoder, isZstdStart } from "../core/index.ts";
import type { Compression } from "./MediaType.ts";

/**
 * How bytes that start with `head` are compressed, by their magic numbers: gzip, zstd (a
 * zstd or skippable frame), or none. For what names no media type: a docker archive's
 * layers, a host archive.
 *
 * @category destructors
 */
export const compressionOfHead = (head: Uint8Array): Compression => (head[0] === 0x1f && head[1] === 0x8b ? "gzip" : isZstdStart(head) ? "zstd" : "none");

/**
 * The stages that decompress a blob compressed as `compression`: none for a plain tar.
 * `chunkSize` is gunzip's output chunk; zstd's are the blocks it decodes.
 *
 * @category constructors
 */
export const decompression = (compression: Compression, chunkSize?: number): Duplex[] =>
  compression === "gzip" ? [zlib.createGunzip(chunkSize === undefined ? {} : { chunkSize })] : compression === "zstd" ? [createZstdDecoder()] : [];
