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
import { manifestOf, OCI_MANIFEST } from "../oci/index.ts";
import { pullImage, registryClient, TRANSFERS } from "../registry/index.ts";
import { openStore, tempDirPrefix } from "../store/index.ts";
import { verifyDiffIds } from "./blobs.ts";
import type { Endpoint, WriteContext } from "./Endpoint.ts";
import type { OpenedImage } from "../oci/index.ts";

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
    await forEachLimit(pulled.layers, TRANSFERS, async (l) => void (await l.file()));
    return { ...pulled, source, close };
  } catch (e) {
    await close();
    throw e;
  }
};

const pushImage = async ({ store, blobs, image, opts }: WriteContext, reference: Reference): Promise<void> => {
  const manifest = manifestOf(image);
  if (reference.digest !== undefined && reference.digest !== manifest.digest) {
    throw new DiagnosticError([error({ file: `docker://${formatReference(reference)}` }, `the image's digest is ${manifest.digest}, not the one the reference names`)]);
  }
  const client = registryClient(reference, { env: opts.env ?? {} });
  // A layer of a repository on the same registry is mounted from there, not sent: it is
  // never downloaded for this push.
  const mountFrom = new Map(
    image.layers.flatMap((l) => (l.remote !== undefined && l.remote.host === reference.host && l.remote.repository !== reference.repository ? [[l.digest, l.remote.repository] as const] : [])),
  );
  await forEachLimit([...new Set([...image.layers.map((l) => l.digest), image.config.digest])], TRANSFERS, async (d) => {
    if (await client.hasBlob(d)) return;
    const from = mountFrom.get(d);
    if (from !== undefined && (await client.mountBlob(d, from))) return;
    await blobs.ensure(d);
    const file = store.blobPath(d);
    await client.pushBlob(d, { file, size: (await fs.stat(file)).size });
  });
  await client.putManifest(reference.tag ?? manifest.digest, manifest.value.mediaType ?? OCI_MANIFEST, manifest.bytes);
};

/**
 * The repository (and tag or digest) `reference` names.
 *
 * @category constructors
 */
export const registryImage = (reference: Reference, source: string): Endpoint => ({
  source,
  open: (env) => openRegistryImage(reference, env, source),
  import: async (store, platform, options) => ({ ...(await pullImage(store, reference, platform, options)), source }),
  write: async (w) => {
    // Between registries the layers are never downloaded, so never unpacked: only
    // layers not from a registry are checked.
    await verifyDiffIds(w.store, w.blobs, { ...w.image, layers: w.image.layers.filter((l) => l.remote === undefined) });
    await pushImage(w, reference);
  },
});
