/**
 * `docker://HOST/REPO[:TAG]`, a registry. Read: the manifest and config, then every
 * layer into a temp store, each checked against its digest. Imported for a copy: the
 * manifest and config only, the layers fetched when a destination needs their bytes.
 * Written: blobs the registry lacks (a HEAD first, so a second push uploads nothing; a
 * base layer on the same registry is mounted, never downloaded), then the manifest.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import type { Reference } from "../core/index.ts";
import { DiagnosticError, error, forEachLimit, formatReference } from "../core/index.ts";
import { OCI_MANIFEST } from "../oci/index.ts";
import { fetchBlob, pullImage, registryClient, TRANSFERS } from "../registry/index.ts";
import { openStore, tempDirPrefix } from "../store/index.ts";
import { verifyDiffIds } from "./blobs.ts";
import type { Endpoint, WriteContext } from "./Endpoint.ts";
import type { OpenedImage } from "./opened.ts";
import { layersOf } from "./opened.ts";

/**
 * Pulls an image's manifest, config and layers into a temp directory, every one checked
 * against its digest; from an index, the linux/amd64 image (or the only one).
 */
const openRegistryImage = async (reference: Reference, env: Readonly<Record<string, string | undefined>>, source: string): Promise<OpenedImage> => {
  const tmp = await fs.mkdtemp(tempDirPrefix(os.tmpdir(), "pull"));
  const close = (): Promise<void> => fs.rm(tmp, { recursive: true, force: true });
  try {
    const store = await openStore(tmp);
    const pulled = await pullImage(store, reference, undefined, { env });
    const client = registryClient(reference, { env });
    await forEachLimit([...new Map(pulled.base.layers.map((l) => [l.digest, l])).values()], TRANSFERS, (l) => fetchBlob(store, client, l.digest, l.size));
    const { manifest, config } = pulled;
    return {
      source,
      digest: manifest.digest,
      manifest: manifest.value,
      manifestBytes: manifest.bytes,
      config: config.value,
      configBytes: config.bytes,
      configDigest: config.digest,
      layers: layersOf(manifest.value, config.value, (d) => store.blobPath(d), source),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
};

const pushImage = async ({ store, blobs, image, opts }: WriteContext, reference: Reference): Promise<void> => {
  if (reference.digest !== undefined && reference.digest !== image.manifest.digest) {
    throw new DiagnosticError([error({ file: `docker://${formatReference(reference)}` }, `the image's digest is ${image.manifest.digest}, not the one the reference names`)]);
  }
  const client = registryClient(reference, { env: opts.env ?? {} });
  const remote = image.remote;
  // A base layer already on the same registry is mounted, not sent: it is never
  // downloaded for this push.
  const mountFrom = remote !== undefined && remote.host === reference.host && remote.repository !== reference.repository ? remote.repository : undefined;
  const remoteLayers = new Set(image.remote === undefined ? [] : image.layers.map((l) => l.digest));
  await forEachLimit([...new Set([...image.layers.map((l) => l.digest), image.config.digest])], TRANSFERS, async (d) => {
    if (await client.hasBlob(d)) return;
    if (mountFrom !== undefined && remoteLayers.has(d) && (await client.mountBlob(d, mountFrom))) return;
    await blobs.ensure(d);
    const file = store.blobPath(d);
    await client.pushBlob(d, { file, size: (await fs.stat(file)).size });
  });
  await client.putManifest(reference.tag ?? image.manifest.digest, image.manifest.value.mediaType ?? OCI_MANIFEST, image.manifest.bytes);
};

/**
 * The repository (and tag or digest) `reference` names.
 *
 * @category constructors
 */
export const registryImage = (reference: Reference, source: string): Endpoint => ({
  source,
  open: (env) => openRegistryImage(reference, env, source),
  import: async (store, platform, env) => {
    const pulled = await pullImage(store, reference, platform, { env });
    return { manifest: pulled.manifest, config: pulled.config, layers: pulled.base.layers, cached: [], remote: reference };
  },
  write: async (w) => {
    // Between registries the layers are never downloaded, so never unpacked: only
    // layers already here are checked.
    if (w.image.remote === undefined) await verifyDiffIds(w.store, w.blobs, w.image);
    await pushImage(w, reference);
  },
});
