/**
 * Images from any transport as images the sinks can write, for `lading copy`. The
 * manifest keeps its bytes, so a copy has the source's digest. From a registry only the
 * manifest and config are read here: layers move when the destination needs them, and a
 * layer the destination has (or can mount from the same registry) is never downloaded.
 * From a layout or an archive, every blob is checked against its digest on its way into
 * the store.
 */
import { forEachLimit } from "../core/index.ts";
import type { PlatformIR } from "../eval/index.ts";
import type { Image } from "../oci/index.ts";
import { manifestOf } from "../oci/index.ts";
import type { PlannedBase } from "../plan/index.ts";
import type { RegistryOptions } from "../registry/index.ts";
import { baseLayers, TRANSFERS } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { storedLayer, storeLayer } from "../store/index.ts";
import type { Inspection } from "./inspect.ts";
import { inspectLayers } from "./inspect.ts";
import { endpointOf, openImage } from "./transports.ts";
import type { Transport } from "./Transport.ts";

/** The image with every blob in the store, each layer checked on its way in. */
const intoStore = async (store: Store, image: Image): Promise<Image> => {
  await forEachLimit([...new Map(image.layers.map((l) => [l.digest, l])).values()], TRANSFERS, async (l) => void (await storeLayer(store, l, image.source)));
  const manifest = manifestOf(image);
  await store.putBlob(image.config.bytes);
  await store.putBlob(manifest.bytes);
  return { source: image.source, manifest, config: image.config, layers: image.layers.map((l) => storedLayer(store, l, l.diffId)) };
};

/**
 * The files of a base image's layers, for `lading diff` of specs built on it: the
 * layers are fetched into the store (verified) if they are not there, then read.
 *
 * @category destructors
 */
export const inspectBase = async (store: Store, base: PlannedBase, env: Readonly<Record<string, string | undefined>>): Promise<Inspection> => {
  const layers = baseLayers(store, base, base.layers, { env });
  // Fetched a few at once, then read one by one.
  await forEachLimit(layers, TRANSFERS, async (l) => void (await l.file()));
  return inspectLayers(`docker://${base.reference}`, layers);
};

/**
 * An image at `from`, ready for {@link writeImage}: its manifest and config in the
 * store, and its layers in the store or (from a registry) fetched when opened. From an
 * index, the image for `platform` (default linux/amd64).
 *
 * @category constructors
 */
export const importImage = async (store: Store, from: Transport, platform: PlatformIR | undefined, options: RegistryOptions): Promise<Image> => {
  const imported = endpointOf(from).import?.(store, platform, options);
  if (imported !== undefined) return imported;
  const opened = await openImage(from, options.env);
  try {
    return await intoStore(store, opened);
  } finally {
    await opened.close();
  }
};
