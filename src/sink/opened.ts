/**
 * What the readers of images share: a blob's bytes checked against its digest, a
 * document decoded or refused, and the layers of a manifest whose blobs are files.
 */
import * as fs from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestOf, failAt } from "../core/index.ts";
import type { Compression, ImageConfig, Layer, Manifest } from "../oci/index.ts";
import { compressionOfHead, decodeJson, fileLayer } from "../oci/index.ts";

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

/**
 * How a file is compressed, by its first bytes: gzip, zstd (a zstd or skippable frame),
 * or none. A docker archive names no media types: `docker save` writes its layers as it
 * stores them, plain, gzipped or zstd.
 */
export const sniffCompression = async (file: string): Promise<Compression> => {
  const h = await fs.open(file, "r");
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await h.read(b, 0, 4, 0);
    const head = b.subarray(0, bytesRead);
    return compressionOfHead(head);
  } finally {
    await h.close();
  }
};

/**
 * The layers of a manifest whose blobs are (or will be) files at `blob(digest)`; a
 * config that lists another number of diff_ids is refused.
 */
export const layersOf = (manifest: Manifest, config: ImageConfig, blob: (d: Digest) => string, source: string): ReadonlyArray<Layer> => {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) failAt(source, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  return manifest.layers.map((d, i) => fileLayer(d, config.rootfs.diff_ids[i]!, async () => blob(d.digest)));
};
