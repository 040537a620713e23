/**
 * The one image and layer vocabulary, after go-containerregistry's `v1.Image` and
 * `v1.Layer`: every producer (a build, an OCI layout, an archive, a registry, a pulled
 * base) gives an {@link Image}, and every consumer (the sinks, inspect, diff, copy, run)
 * takes one. A layer says what it is and opens its bytes only when asked: a registry's
 * layer is downloaded then, not before.
 */
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream";
import type { Digest, Reference } from "../core/index.ts";
import type { Blob } from "./documents.ts";
import { makeManifest } from "./documents.ts";
import type { ImageConfig, Manifest } from "./codecs.ts";
import { decompression } from "./Compression.ts";
import type { Compression } from "./MediaType.ts";
import { compressionOf } from "./MediaType.ts";

/**
 * A layer: its descriptor's media type, digest and size, its diff_id (the digest of the
 * uncompressed tar), and its bytes on demand. What is read is checked against the
 * descriptor: a registry's and the store's blobs on their way into the store, any other
 * by whoever reads it (`storeLayer` as it copies it in, inspect as it lists it).
 *
 * @category model
 */
export interface Layer {
  /** As stored: compressed for OCI layouts and registries, maybe not in docker archives. */
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly diffId: Digest;
  /** The uncompressed tar's size, known without reading it for the layers lading builds. */
  readonly uncompressedSize?: number;
  /** The registry repository the layer is fetched from; a push to the same registry mounts it from there. */
  readonly remote?: Reference;
  /**
   * The blob as a local file, only to be read: a remote layer is fetched (verified) first.
   * A layer in the store that is gone or damaged is an error that says so.
   */
  file(): Promise<string>;
  /** A fresh stream of the blob's bytes. */
  openBlob(): Promise<Readable>;
  /** A fresh stream of the uncompressed tar. */
  openTar(): Promise<Readable>;
}

/**
 * An image: its manifest, config and layers, in order, bottom first.
 *
 * @category model
 */
export interface Image {
  /** The location the image was read from or is built for: what diagnostics name. */
  readonly source: string;
  /** A docker archive holds none: undefined then, and made by {@link manifestOf} when one is needed. */
  readonly manifest: Blob<Manifest> | undefined;
  readonly config: Blob<ImageConfig>;
  readonly layers: ReadonlyArray<Layer>;
}

/**
 * An image read from a location whose files live in a temp directory until `close()`.
 *
 * @category model
 */
export interface OpenedImage extends Image {
  close(): Promise<void>;
}

/**
 * The tar stream of a layer file, decompressed as its compression says.
 *
 * @category destructors
 */
export const tarStreamOf = (file: string, compression: Compression): Readable => {
  const [decompress] = decompression(compression);
  if (decompress === undefined) return createReadStream(file);
  // Joined by pipeline, not pipe: a read error (the file gone, EIO) reaches the reader.
  pipeline(createReadStream(file), decompress, () => undefined);
  return decompress;
};

/**
 * A layer whose blob is the file `file()` gives (a layout's blob, an archive's member,
 * the store's blob, fetched or not yet), compressed or not as its media type says.
 *
 * @category constructors
 */
export const fileLayer = (
  descriptor: { readonly mediaType: string; readonly digest: Digest; readonly size: number },
  diffId: Digest,
  file: () => Promise<string>,
  extra: { readonly uncompressedSize?: number | undefined; readonly remote?: Reference | undefined } = {},
): Layer => ({
  mediaType: descriptor.mediaType,
  digest: descriptor.digest,
  size: descriptor.size,
  diffId,
  ...(extra.uncompressedSize === undefined ? {} : { uncompressedSize: extra.uncompressedSize }),
  ...(extra.remote === undefined ? {} : { remote: extra.remote }),
  file,
  openBlob: async () => createReadStream(await file()),
  openTar: async () => tarStreamOf(await file(), compressionOf(descriptor.mediaType) ?? "none"),
});

/**
 * The image's manifest; for a docker archive, which holds none, an OCI one made for its
 * layers as they are.
 *
 * @category destructors
 */
export const manifestOf = (image: Image): Blob<Manifest> => image.manifest ?? makeManifest(image.config, image.layers, {});
