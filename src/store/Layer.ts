/**
 * Layers and the store: a layer whose blob is the store's, and any layer brought into
 * the store, checked against its digest on the way, for the writers and the overlay
 * that work from the store's files.
 */
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../core/index.ts";
import { createDigestingStream, DiagnosticError, error } from "../core/index.ts";
import type { Layer } from "../oci/index.ts";
import { fileLayer } from "../oci/index.ts";
import type { Store } from "./Store.ts";

/**
 * A layer whose blob is in the store: built here, or brought in before. One gone or
 * damaged since is removed, and opening it is the error that says to build again.
 *
 * @category constructors
 */
export const storedLayer = (
  store: Store,
  descriptor: { readonly mediaType: string; readonly digest: Digest; readonly size: number },
  diffId: Digest,
  uncompressedSize?: number,
): Layer =>
  fileLayer(
    descriptor,
    diffId,
    async () => {
      if (await store.hasBlob(descriptor.digest, descriptor.size)) return store.blobPath(descriptor.digest);
      throw await store.discardCorrupt(descriptor.digest);
    },
    { uncompressedSize },
  );

/**
 * Makes sure the layer's blob is in the store and returns its path there. Opening a
 * registry's layer fetches it into the store (verified); any other is streamed in,
 * checked against its digest and size, and nothing unverified stays. `where` names the
 * image in a diagnostic.
 *
 * @category destructors
 */
export const storeLayer = async (store: Store, layer: Layer, where: string): Promise<string> => {
  const at = store.blobPath(layer.digest);
  if (await store.hasBlob(layer.digest, layer.size)) return at;
  const file = await layer.file();
  if (file === at && (await store.hasBlob(layer.digest, layer.size))) return at;
  const temp = store.tempPath();
  const counted = createDigestingStream();
  try {
    await pipeline(await layer.openBlob(), counted.stream, createWriteStream(temp));
    if (counted.size() !== layer.size || counted.digest() !== layer.digest) {
      throw new DiagnosticError([error({ file: where }, `layer ${layer.digest} does not match its digest: refused`)]);
    }
    await store.commitBlob(temp, layer.digest);
    return at;
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
};
