/**
 * Images from any transport as images the sinks can write, for `lading copy`. The
 * manifest keeps its bytes, so a copy has the source's digest. From a registry only the
 * manifest and config are read here: layers move when the destination needs them, and a
 * layer the destination has (or can mount from the same registry) is never downloaded.
 * From a layout or an archive, every blob is checked against its digest on its way into
 * the store.
 */
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { createDigestingStream, DiagnosticError, error, forEachLimit, parseReference } from "../core/index.ts";
import type { BuiltImage } from "../build/index.ts";
import type { ImageLayer } from "../oci/index.ts";
import { makeManifest } from "../oci/index.ts";
import type { PlatformIR } from "../eval/index.ts";
import type { PlannedBase } from "../plan/index.ts";
import { fetchBlob, registryClient, TRANSFERS } from "../registry/index.ts";
import type { Inspection } from "./inspect.ts";
import { inspectLayers } from "./inspect.ts";
import type { Store } from "../store/index.ts";
import type { OpenedImage, OpenedLayer } from "./opened.ts";
import { layerAt } from "./opened.ts";
import { endpointOf, openImage } from "./transports.ts";
import type { Transport } from "./Transport.ts";
import * as E from "fp-ts/lib/Either.js";

/** Streams a layer into the store, checking its digest on the way; nothing unverified stays. */
const importLayer = async (store: Store, layer: OpenedLayer, where: string): Promise<void> => {
  if (await store.hasBlob(layer.descriptor.digest, layer.descriptor.size)) return;
  const temp = store.tempPath();
  const counted = createDigestingStream();
  try {
    await pipeline(layer.openBlob(), counted.stream, createWriteStream(temp));
    if (counted.size() !== layer.descriptor.size || counted.digest() !== layer.descriptor.digest) {
      throw new DiagnosticError([error({ file: where }, `layer ${layer.descriptor.digest} does not match its digest: refused`)]);
    }
    await store.commitBlob(temp, layer.descriptor.digest);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
};

const fromOpened = async (store: Store, image: OpenedImage): Promise<BuiltImage> => {
  await forEachLimit([...new Map(image.layers.map((l) => [l.descriptor.digest, l])).values()], TRANSFERS, (l) => importLayer(store, l, image.source));
  const configDigest = await store.putBlob(image.configBytes);
  const config = { value: image.config, bytes: image.configBytes, digest: configDigest };
  const layers: ImageLayer[] = image.layers.map((l) => ({ mediaType: l.descriptor.mediaType, digest: l.descriptor.digest, size: l.descriptor.size, diffId: l.diffId }));
  if (image.manifest === undefined || image.manifestBytes === undefined || image.digest === undefined) {
    // A docker archive holds no manifest: an OCI one is made for its layers, as they are.
    const manifest = makeManifest(config, layers, {});
    await store.putBlob(manifest.bytes);
    return { manifest, config, layers, cached: [] };
  }
  await store.putBlob(image.manifestBytes);
  return { manifest: { value: image.manifest, bytes: image.manifestBytes, digest: image.digest }, config, layers, cached: [] };
};

/**
 * The files of a base image's layers, for `lading diff` of specs built on it: the
 * layers are fetched into the store (verified) if they are not there, then read.
 *
 * @category destructors
 */
export const inspectBase = async (store: Store, base: PlannedBase, env: Readonly<Record<string, string | undefined>>): Promise<Inspection> => {
  const ref = parseReference(base.reference);
  if (E.isLeft(ref)) throw new Error(`a planned base has an invalid reference: ${ref.left}`);
  const client = registryClient(ref.right, { env });
  const unique = [...new Map(base.layers.map((l) => [l.digest, l])).values()];
  await forEachLimit(unique, TRANSFERS, (l) => fetchBlob(store, client, l.digest, l.size));
  return inspectLayers(
    `docker://${base.reference}`,
    base.layers.map((l) => layerAt({ mediaType: l.mediaType, digest: l.digest, size: l.size }, l.diffId, store.blobPath(l.digest))),
  );
};

/**
 * An image at `from`, ready for {@link writeImage}: its manifest and config in the
 * store, and its layers in the store or (from a registry) fetched on demand. From an
 * index, the image for `platform` (default linux/amd64).
 *
 * @category constructors
 */
export const importImage = async (
  store: Store,
  from: Transport,
  platform: PlatformIR | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Promise<BuiltImage> => {
  const imported = endpointOf(from).import?.(store, platform, env);
  if (imported !== undefined) return imported;
  const opened = await openImage(from, env);
  try {
    return await fromOpened(store, opened);
  } finally {
    await opened.close();
  }
};
