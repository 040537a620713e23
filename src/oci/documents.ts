/**
 * The OCI documents lading writes: image config, manifest and index, in canonical JSON
 * so that equal images give equal bytes and equal digests.
 */
import type { Digest } from "../core/index.ts";
import { canonicalJson, digestOf } from "../core/index.ts";
import type { Descriptor, ImageConfig, Index, Manifest } from "./codecs.ts";
import type { Layer } from "./Image.ts";
import { DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_MANIFEST, REF_NAME } from "./MediaType.ts";

/**
 * A document with its canonical bytes and digest, computed once.
 *
 * @category model
 */
export interface Blob<A> {
  readonly value: A;
  readonly bytes: Uint8Array;
  readonly digest: Digest;
}

/**
 * Serializes a document as canonical JSON and digests the bytes, once: equal values
 * give equal bytes and equal digests.
 *
 * @category constructors
 */
export const canonicalBlob = <A>(value: A): Blob<A> => {
  const bytes = new TextEncoder().encode(canonicalJson(value));
  return { value, bytes, digest: digestOf(bytes) };
};

/**
 * A descriptor pointing at a blob: the given media type, the blob's digest and its size
 * in bytes.
 *
 * @category constructors
 */
export const descriptorOf = (mediaType: string, blob: { readonly bytes: Uint8Array; readonly digest: Digest }): Descriptor => ({
  mediaType,
  digest: blob.digest,
  size: blob.bytes.byteLength,
});

/**
 * A built layer: its compressed blob and the digest of its uncompressed tar. Plain data,
 * beside {@link Layer}: what the store records under a layer's cache key and a step
 * runner returns, read back as a {@link Layer} by `storedLayer`.
 *
 * @category model
 */
export interface LayerBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly diffId: Digest;
  /** Size of the uncompressed tar. */
  readonly uncompressedSize: number;
}

/**
 * The OCI media type for a layer media type: Docker's two layer types map to OCI's
 * (the bytes are the same); others are kept.
 *
 * @category destructors
 */
export const ociLayerMediaType = (mediaType: string): string =>
  mediaType === DOCKER_LAYER_GZIP ? OCI_LAYER_GZIP : mediaType === DOCKER_LAYER_TAR ? OCI_LAYER_TAR : mediaType;

/**
 * The manifest of an image config plus layers.
 *
 * @category constructors
 */
export const makeManifest = (
  config: Blob<ImageConfig>,
  layers: ReadonlyArray<{ readonly mediaType: string; readonly digest: Digest; readonly size: number }>,
  annotations: Readonly<Record<string, string>>,
): Blob<Manifest> =>
  canonicalBlob<Manifest>({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptorOf(OCI_CONFIG, config),
    layers: layers.map((l) => ({ mediaType: ociLayerMediaType(l.mediaType), digest: l.digest, size: l.size })),
    ...(Object.keys(annotations).length === 0 ? {} : { annotations: { ...annotations } }),
  });

/**
 * An OCI layout index naming one manifest descriptor per tag.
 *
 * @category constructors
 */
export const makeIndex = (manifests: ReadonlyArray<Descriptor>): Blob<Index> =>
  canonicalBlob<Index>({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...manifests] });

/**
 * A manifest descriptor tagged with a ref name, for an OCI layout's index.
 *
 * @category constructors
 */
export const taggedDescriptor = (manifest: Blob<Manifest>, tag: string | undefined, platform?: Descriptor["platform"]): Descriptor => ({
  ...descriptorOf(manifest.value.mediaType ?? OCI_MANIFEST, manifest),
  ...(tag === undefined ? {} : { annotations: { [REF_NAME]: tag } }),
  ...(platform === undefined ? {} : { platform }),
});
