/**
 * Writing a built image to a transport. Every output appears whole or not at all: a
 * new OCI directory is assembled beside its destination and renamed into place; an
 * existing one gets its blobs first and its index.json last, atomically; archives are
 * written to a temp file and renamed. A failure leaves the previous output intact.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import * as zlib from "node:zlib";
import * as E from "fp-ts/lib/Either.js";
import type { Digest } from "../core/index.ts";
import { canonicalJson, DiagnosticError, digestHex, error } from "../core/index.ts";
import type { BuiltImage } from "../build/index.ts";
import type { Descriptor, Index } from "../oci/index.ts";
import { decodeJson, Index as IndexC, makeIndex, OCI_MANIFEST, REF_NAME, taggedDescriptor } from "../oci/index.ts";
import type { Store } from "../store/index.ts";
import { pathExists, withFileLock, writeFileAtomic } from "../store/index.ts";
import type { ArchiveMember } from "./archive.ts";
import { writeArchive } from "./archive.ts";
import { writeBundle } from "./bundle.ts";
import type { Reference } from "./Reference.ts";
import { formatReference } from "./Reference.ts";
import { registryClient } from "./registry.ts";
import type { Transport } from "./Transport.ts";
import { formatTransport } from "./Transport.ts";

const OCI_LAYOUT = canonicalJson({ imageLayoutVersion: "1.0.0" });

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

const blobDigests = (image: BuiltImage): ReadonlyArray<Digest> => [
  ...image.layers.map((l) => l.digest),
  image.config.digest,
  image.manifest.digest,
];

/** Copies a store blob into a layout's blobs dir, atomically, unless present. */
const copyBlob = async (store: Store, digest: Digest, blobsDir: string): Promise<void> => {
  const dest = path.join(blobsDir, digestHex(digest));
  if (await pathExists(dest)) return;
  const tmp = `${dest}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await fs.copyFile(store.blobPath(digest), tmp, fs.constants.COPYFILE_FICLONE);
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
};

const readIndex = async (dir: string): Promise<Index> => {
  const where = path.join(dir, "index.json");
  const text = await fs.readFile(where, "utf8").catch(() => {
    throw new DiagnosticError([error({ file: dir }, "exists but is not an OCI image layout (no index.json)", "choose a new directory or an existing OCI layout")]);
  });
  const r = decodeJson(IndexC, text, where);
  if (E.isLeft(r)) throw new DiagnosticError([r.left]);
  return r.right;
};

const withTag = (index: Index | undefined, manifest: Descriptor, tag: string): Index => {
  const kept = (index?.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] !== tag);
  return makeIndex([...kept, manifest]).value;
};

/** Adds the image's blobs to an existing layout, then its tag to index.json, under a lock. */
const addToOciDir = async (store: Store, image: BuiltImage, dir: string, tag: string, descriptor: Descriptor): Promise<void> => {
  await fs.mkdir(path.join(dir, "blobs", "sha256"), { recursive: true });
  for (const d of blobDigests(image)) await copyBlob(store, d, path.join(dir, "blobs", "sha256"));
  // Two builds may tag into one layout at once: each rewrites index.json from the other's.
  await withFileLock(path.join(dir, "index.json.lock"), async () => {
    const index = await readIndex(dir);
    if (!(await pathExists(path.join(dir, "oci-layout")))) await writeFileAtomic(path.join(dir, "oci-layout"), OCI_LAYOUT);
    await writeFileAtomic(path.join(dir, "index.json"), canonicalJson(withTag(index, descriptor, tag)));
  });
};

const writeOciDir = async (store: Store, image: BuiltImage, dir: string, tag: string, opts: WriteOptions): Promise<void> => {
  const descriptor = taggedDescriptor(image.manifest, tag, opts.platform);
  if (await pathExists(dir)) {
    await readIndex(dir);
    return addToOciDir(store, image, dir, tag, descriptor);
  }
  await fs.mkdir(path.dirname(path.resolve(dir)), { recursive: true });
  const tmp = `${path.resolve(dir)}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await fs.mkdir(path.join(tmp, "blobs", "sha256"), { recursive: true });
    for (const d of blobDigests(image)) await copyBlob(store, d, path.join(tmp, "blobs", "sha256"));
    await fs.writeFile(path.join(tmp, "oci-layout"), OCI_LAYOUT);
    await fs.writeFile(path.join(tmp, "index.json"), canonicalJson(withTag(undefined, descriptor, tag)));
    await fs.rename(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    // Another build made the layout first: join it instead.
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === "ENOTEMPTY" || code === "EEXIST") && (await pathExists(path.join(dir, "index.json")))) return addToOciDir(store, image, dir, tag, descriptor);
    throw e;
  }
};

const ociArchiveMembers = async (store: Store, image: BuiltImage, tag: string, opts: WriteOptions): Promise<ArchiveMember[]> => {
  const index = withTag(undefined, taggedDescriptor(image.manifest, tag, opts.platform), tag);
  const blobs = await Promise.all(
    [...new Set(blobDigests(image))].sort().map(async (d) => ({
      name: `blobs/sha256/${digestHex(d)}`,
      file: store.blobPath(d),
      size: (await fs.stat(store.blobPath(d))).size,
    })),
  );
  return [
    { name: "oci-layout", bytes: new TextEncoder().encode(OCI_LAYOUT) },
    { name: "index.json", bytes: new TextEncoder().encode(canonicalJson(index)) },
    ...blobs,
  ];
};

const dockerArchiveMembers = (store: Store, image: BuiltImage, ref: string): ArchiveMember[] => {
  const configName = `${digestHex(image.config.digest)}.json`;
  const layers = image.layers.map((l) => ({
    name: `${digestHex(l.diffId)}.tar`,
    file: store.blobPath(l.digest),
    size: l.uncompressedSize,
    transform: () => zlib.createGunzip(),
  }));
  const unique = [...new Map(layers.map((l) => [l.name, l])).values()];
  const manifest = [{ Config: configName, RepoTags: [ref], Layers: layers.map((l) => l.name) }];
  return [
    { name: "manifest.json", bytes: new TextEncoder().encode(canonicalJson(manifest)) },
    { name: configName, bytes: image.config.bytes },
    ...unique,
  ];
};

/**
 * Pushes blobs the registry lacks (a HEAD first, so a second push uploads nothing),
 * then the manifest under the reference's tag, or its digest.
 */
const pushImage = async (store: Store, image: BuiltImage, reference: Reference, env: Readonly<Record<string, string | undefined>>): Promise<void> => {
  if (reference.digest !== undefined && reference.digest !== image.manifest.digest) {
    throw new DiagnosticError([error({ file: `docker://${formatReference(reference)}` }, `the image's digest is ${image.manifest.digest}, not the one the reference names`)]);
  }
  const client = registryClient(reference, { env });
  for (const d of [...new Set([...image.layers.map((l) => l.digest), image.config.digest])]) {
    if (await client.hasBlob(d)) continue;
    const file = store.blobPath(d);
    await client.pushBlob(d, { file, size: (await fs.stat(file)).size });
  }
  await client.putManifest(reference.tag ?? image.manifest.digest, OCI_MANIFEST, image.manifest.bytes);
};

const withLatest = (ref: string): string => (/:[^/]+$/.test(ref) ? ref : `${ref}:latest`);

/**
 * Writes a built image from the store to a transport. An OCI tag defaults to `latest`;
 * a docker-archive without a name gets `localhost/<default name, lowercased>:latest`.
 *
 * @category destructors
 */
export const writeImage = async (store: Store, image: BuiltImage, to: Transport, opts: WriteOptions): Promise<void> => {
  try {
    switch (to._tag) {
      case "Oci":
        return await writeOciDir(store, image, to.dir, to.tag ?? "latest", opts);
      case "OciArchive":
        return await writeArchive(to.file, await ociArchiveMembers(store, image, to.tag ?? "latest", opts));
      case "DockerArchive":
        return await writeArchive(to.file, dockerArchiveMembers(store, image, withLatest(to.ref ?? `localhost/${opts.defaultName.toLowerCase()}`)));
      case "Bundle":
        return await writeBundle(store, image, to.dir, opts.defaultName);
      case "Registry":
        return await pushImage(store, image, to.reference, opts.env ?? {});
      default: {
        const never: never = to;
        throw new Error(`unknown transport ${JSON.stringify(never)}`);
      }
    }
  } catch (e) {
    if (e instanceof DiagnosticError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new DiagnosticError([error({ file: formatTransport(to) }, `cannot write: ${(e as Error).message}`)]);
    throw e;
  }
};
