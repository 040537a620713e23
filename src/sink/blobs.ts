/**
 * What every writing transport shares: getting an image's blobs into the store (each
 * layer from wherever it is: a registry's is fetched only when a sink needs its bytes),
 * checking a blob as it streams out, and checking layers lading did not build against
 * their diff_ids.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../core/index.ts";
import { createDigestingStream, DiagnosticError, digestFromHex, error, forEachLimit } from "../core/index.ts";
import type { Compression, Descriptor, Image, Layer } from "../oci/index.ts";
import { compressionOf, manifestOf } from "../oci/index.ts";
import { TRANSFERS } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { storeLayer, unpacking } from "../store/index.ts";

/**
 * What a sink needs besides the image: the name to use when the transport gives none,
 * and the platform to record in an OCI index's descriptor.
 *
 * @category model
 */
export interface WriteOptions {
  readonly defaultName: string;
  readonly platform?: Descriptor["platform"];
  /** Where registry credentials are looked up (DOCKER_CONFIG). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Makes sure a blob of the image is in the store, opening its layer if it must. */
export interface Blobs {
  ensure(digest: Digest): Promise<void>;
}

/** Every blob of an image: layers, config, manifest, each once. */
export const blobDigests = (image: Image): ReadonlyArray<Digest> => [
  ...new Set([...image.layers.map((l) => l.digest), image.config.digest, manifestOf(image).digest]),
];

/**
 * The image's blobs, brought into the store when a sink needs them: a layer as
 * {@link storeLayer} brings it, a document from its bytes.
 */
export const blobsOf = (store: Store, image: Image): Blobs => {
  const layers = new Map(image.layers.map((l) => [l.digest, l]));
  const documents = new Map([image.config, manifestOf(image)].map((b) => [b.digest, b.bytes]));
  return {
    ensure: async (digest) => {
      const layer = layers.get(digest);
      if (layer !== undefined) return void (await storeLayer(store, layer, image.source));
      const bytes = documents.get(digest);
      if (bytes === undefined) throw new Error(`${digest} is not a blob of the image`);
      await store.putBlob(bytes);
    },
  };
};

/** Ensures every blob named, a few at a time. */
export const ensureAll = (blobs: Blobs, digests: ReadonlyArray<Digest>): Promise<void> => forEachLimit([...new Set(digests)], TRANSFERS, (d) => blobs.ensure(d));

/**
 * A pass-through that hashes a store blob on its way into an archive, and fails the
 * write at its end when the bytes were not the blob's: a damaged blob is removed from
 * the store, and the archive is not written.
 */
export const checkedBlob = (store: Store, digest: Digest): Transform => {
  const hash = createHash("sha256");
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      if (digestFromHex(hash.digest("hex")) === digest) cb();
      else store.discardCorrupt(digest).then((e) => cb(e), (e: Error) => cb(e));
    },
  });
};

/** How a layer is compressed, by its media type; a type lading does not know is refused. */
export const layerCompression = (mediaType: string, what: string): Compression => {
  const compression = compressionOf(mediaType);
  if (compression !== undefined) return compression;
  throw new DiagnosticError([error({}, `${what} is ${mediaType}: only gzip, zstd and uncompressed layers can be unpacked here`, "write to oci: or docker://, which keep the layer as it is")]);
};

/**
 * A layer's uncompressed size, checking the layer against its diff_id: a base layer whose
 * content is not what its config says is refused. The blob is read through once, its own
 * digest checked as well, and what it unpacks to recorded in the store by its digest: a
 * later build on the same base reads the record instead of the layer.
 */
export const verifyDiffId = async (store: Store, layer: Layer, compression: Compression): Promise<number> => {
  const refuse = (diffId: Digest): never => {
    throw new DiagnosticError([error({}, `layer ${layer.digest} does not unpack to its diff_id ${layer.diffId} (it unpacks to ${diffId}): refused`)]);
  };
  const known = await store.getUnpacked(layer.digest, compression);
  if (known !== undefined) return known.diffId === layer.diffId ? known.uncompressedSize : refuse(known.diffId);
  const blob = createDigestingStream(1 << 20);
  const unpacked = unpacking(compression);
  const found = await pipeline([createReadStream(store.blobPath(layer.digest), { highWaterMark: 1 << 20 }), blob.stream, unpacked.stream])
    .then(() => unpacked.result())
    .catch((e: unknown) => {
      throw new DiagnosticError([error({}, `layer ${layer.digest} cannot be unpacked: ${(e as Error).message}`)]);
    });
  if (blob.digest() !== layer.digest) throw await store.discardCorrupt(layer.digest);
  await store.putUnpacked(layer.digest, compression, found);
  return found.diffId === layer.diffId ? found.uncompressedSize : refuse(found.diffId);
};

/**
 * Checks every layer lading did not build against its diff_id, before a sink writes it:
 * a config whose diff_ids do not match its layers is refused by every sink alike, as
 * by every reader. Layers lading built carry their uncompressed size: they were hashed
 * as they were made.
 */
export const verifyDiffIds = async (store: Store, blobs: Blobs, image: Image): Promise<void> => {
  // One check for each way a blob is given: the same blob as gzip and as a plain tar is two.
  const foreign = [...new Map(image.layers.filter((l) => l.uncompressedSize === undefined).map((l) => [`${l.digest} ${compressionOf(l.mediaType) ?? l.mediaType} ${l.diffId}`, l])).values()];
  await forEachLimit(foreign, TRANSFERS, async (l) => {
    // A layer of a type lading does not know goes as it is, to sinks that keep it so.
    const compression = compressionOf(l.mediaType);
    if (compression === undefined) return;
    await blobs.ensure(l.digest);
    await verifyDiffId(store, l, compression);
  });
};
