/**
 * An image as read from a location: its verified documents and layers that open their
 * blob or tar stream when asked. Every reader (the transports' `open`) returns one;
 * inspect, diff, copy and the validator take one.
 */
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import type { Readable } from "node:stream";
import * as zlib from "node:zlib";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestOf, failAt } from "../core/index.ts";
import type { Descriptor, ImageConfig, Manifest } from "../oci/index.ts";
import { decodeJson } from "../oci/index.ts";

/**
 * A layer of an opened image.
 *
 * @category model
 */
export interface OpenedLayer {
  /** The layer as stored: compressed for OCI layouts, maybe not in docker archives. */
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  /** A fresh stream of the stored bytes. */
  openBlob(): Readable;
  /** A fresh stream of the uncompressed tar. */
  openTar(): Readable;
}

/**
 * An image read from a transport.
 *
 * @category model
 */
export interface OpenedImage {
  readonly source: string;
  /** The manifest digest; for docker archives, which hold none, undefined. */
  readonly digest: Digest | undefined;
  readonly manifest: Manifest | undefined;
  /** The manifest's bytes, verified; docker archives have none. */
  readonly manifestBytes: Uint8Array | undefined;
  readonly config: ImageConfig;
  /** The config's bytes, verified. */
  readonly configBytes: Uint8Array;
  readonly configDigest: Digest;
  readonly layers: ReadonlyArray<OpenedLayer>;
  close(): Promise<void>;
}

/** A blob's bytes, checked against its size and digest; `where` names the image. */
export const readVerified = async (file: string, digest: Digest, size: number | undefined, where: string): Promise<Buffer> => {
  const bytes = await fs.readFile(file).catch(() => failAt(where, `blob ${digest} is missing`));
  if (size !== undefined && bytes.byteLength !== size) failAt(where, `blob ${digest} has ${bytes.byteLength} bytes, its descriptor says ${size}`);
  if (digestOf(bytes) !== digest) failAt(where, `blob ${digest} does not match its digest`);
  return bytes;
};

/** A document decoded by its codec, or the codec's diagnostic thrown. */
export const decodeOrFail = <A>(codec: t.Decoder<unknown, A>, text: string, where: string): A => {
  const r = decodeJson(codec, text, where);
  if (E.isLeft(r)) throw new DiagnosticError([r.left]);
  return r.right;
};

/** Whether a file starts with gzip's magic bytes. */
export const isGzip = async (file: string): Promise<boolean> => {
  const h = await fs.open(file, "r");
  try {
    const b = Buffer.alloc(2);
    await h.read(b, 0, 2, 0);
    return b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await h.close();
  }
};

/** The tar stream of a layer file, gunzipped when it is compressed. */
export const tarStreamOf = (file: string, gzipped: boolean): Readable =>
  gzipped ? createReadStream(file).pipe(zlib.createGunzip()) : createReadStream(file);

/**
 * A layer whose blob is (or will be) the file `file`, compressed or not as its media
 * type says.
 *
 * @category constructors
 */
export const layerAt = (descriptor: Descriptor, diffId: Digest, file: string): OpenedLayer => ({
  descriptor,
  diffId,
  openBlob: () => createReadStream(file),
  openTar: () => tarStreamOf(file, descriptor.mediaType.endsWith("gzip")),
});

/**
 * The layers of a manifest whose blobs are (or will be) files at `blob(digest)`; a
 * config that lists another number of diff_ids is refused.
 */
export const layersOf = (manifest: Manifest, config: ImageConfig, blob: (d: Digest) => string, source: string): ReadonlyArray<OpenedLayer> => {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) failAt(source, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  return manifest.layers.map((d, i) => layerAt(d, config.rootfs.diff_ids[i]!, blob(d.digest)));
};
