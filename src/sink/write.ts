/**
 * Writing a built image to a transport. Every output appears whole or not at all: a
 * new OCI directory is assembled beside its destination and renamed into place; an
 * existing one gets its blobs first and its index.json last, atomically; archives are
 * written to a temp file and renamed. A failure leaves the previous output intact.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import * as E from "fp-ts/lib/Either.js";
import type { Digest } from "../core/index.ts";
import { canonicalJson, createDigestingStream, DiagnosticError, digestFromHex, digestHex, error, forEachLimit } from "../core/index.ts";
import type { BuiltImage } from "../build/index.ts";
import type { Descriptor, ImageLayer, Index } from "../oci/index.ts";
import { decodeJson, Index as IndexC, makeIndex, OCI_MANIFEST, REF_NAME, taggedDescriptor } from "../oci/index.ts";
import type { Store } from "../store/index.ts";
import { pathExists, sweepBeside, sweepStaleTemps, tempNameFor, withFileLock, writeFileAtomic } from "../store/index.ts";
import type { ArchiveMember } from "./archive.ts";
import { writeArchive } from "./archive.ts";
import { writeBundle } from "./bundle.ts";
import type { Reference } from "../core/index.ts";
import { formatReference } from "../core/index.ts";
import type { RegistryClient } from "../registry/index.ts";
import { fetchBlob, registryClient, TRANSFERS } from "../registry/index.ts";
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
  ...new Set([...image.layers.map((l) => l.digest), image.config.digest, image.manifest.digest]),
];

/**
 * What a sink needs to get an image's blobs into the store: a base image's layers are
 * fetched from its registry (verified) only when a sink needs their bytes.
 */
interface Blobs {
  ensure(digest: Digest): Promise<void>;
}

const blobsOf = (store: Store, image: BuiltImage, env: Readonly<Record<string, string | undefined>>): Blobs => {
  let client: RegistryClient | undefined;
  const sizes = new Map<Digest, number>(image.layers.map((l) => [l.digest, l.size]));
  return {
    ensure: async (digest) => {
      if (await store.hasBlob(digest, sizes.get(digest))) return;
      // Gone, or damaged and removed just now: a base's layer is fetched again; one
      // built here needs the build again.
      if (image.remote === undefined) throw await store.discardCorrupt(digest);
      client ??= registryClient(image.remote, { env });
      await fetchBlob(store, client, digest, sizes.get(digest));
    },
  };
};

const ensureAll = (blobs: Blobs, digests: ReadonlyArray<Digest>): Promise<void> => forEachLimit([...new Set(digests)], TRANSFERS, (d) => blobs.ensure(d));

/**
 * Copies a store blob into a layout's blobs dir, atomically, unless present: a file of
 * its own, hashed as written (see `Store.exportBlob`), never a hard link into the store.
 */
const copyBlob = async (store: Store, blobs: Blobs, digest: Digest, blobsDir: string): Promise<void> => {
  const dest = path.join(blobsDir, digestHex(digest));
  if (await pathExists(dest)) return;
  await blobs.ensure(digest);
  await store.exportBlob(digest, dest);
};

/**
 * A pass-through that hashes a store blob on its way into an archive, and fails the
 * write at its end when the bytes were not the blob's: a damaged blob is removed from
 * the store, and the archive is not written.
 */
const checkedBlob = (store: Store, digest: Digest): Transform => {
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
const addToOciDir = async (store: Store, blobs: Blobs, image: BuiltImage, dir: string, tag: string, descriptor: Descriptor): Promise<void> => {
  await fs.mkdir(path.join(dir, "blobs", "sha256"), { recursive: true });
  await forEachLimit(blobDigests(image), TRANSFERS, (d) => copyBlob(store, blobs, d, path.join(dir, "blobs", "sha256")));
  // Two builds may tag into one layout at once: each rewrites index.json from the other's.
  await withFileLock(path.join(dir, "index.json.lock"), async () => {
    const index = await readIndex(dir);
    if (!(await pathExists(path.join(dir, "oci-layout")))) await writeFileAtomic(path.join(dir, "oci-layout"), OCI_LAYOUT);
    await writeFileAtomic(path.join(dir, "index.json"), canonicalJson(withTag(index, descriptor, tag)));
  });
};

const writeOciDir = async (store: Store, blobs: Blobs, image: BuiltImage, dir: string, tag: string, opts: WriteOptions): Promise<void> => {
  const descriptor = taggedDescriptor(image.manifest, tag, opts.platform);
  // What a killed write left: the layout it was assembling, and blobs half-copied into this one.
  await sweepBeside(dir);
  await sweepStaleTemps(path.join(dir, "blobs", "sha256"));
  await sweepStaleTemps(dir);
  if (await pathExists(dir)) {
    await readIndex(dir);
    return addToOciDir(store, blobs, image, dir, tag, descriptor);
  }
  await fs.mkdir(path.dirname(path.resolve(dir)), { recursive: true });
  const tmp = tempNameFor(path.resolve(dir));
  try {
    await fs.mkdir(path.join(tmp, "blobs", "sha256"), { recursive: true });
    await forEachLimit(blobDigests(image), TRANSFERS, (d) => copyBlob(store, blobs, d, path.join(tmp, "blobs", "sha256")));
    await fs.writeFile(path.join(tmp, "oci-layout"), OCI_LAYOUT);
    await fs.writeFile(path.join(tmp, "index.json"), canonicalJson(withTag(undefined, descriptor, tag)));
    await fs.rename(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    // Another build made the layout first: join it instead.
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === "ENOTEMPTY" || code === "EEXIST") && (await pathExists(path.join(dir, "index.json")))) return addToOciDir(store, blobs, image, dir, tag, descriptor);
    throw e;
  }
};

const ociArchiveMembers = async (store: Store, blobs: Blobs, image: BuiltImage, tag: string, opts: WriteOptions): Promise<ArchiveMember[]> => {
  await ensureAll(blobs, blobDigests(image));
  const index = withTag(undefined, taggedDescriptor(image.manifest, tag, opts.platform), tag);
  const members = await Promise.all(
    [...new Set(blobDigests(image))].sort().map(async (d) => ({
      name: `blobs/sha256/${digestHex(d)}`,
      file: store.blobPath(d),
      size: (await fs.stat(store.blobPath(d))).size,
      transforms: () => [checkedBlob(store, d)],
    })),
  );
  return [
    { name: "oci-layout", bytes: new TextEncoder().encode(OCI_LAYOUT) },
    { name: "index.json", bytes: new TextEncoder().encode(canonicalJson(index)) },
    ...members,
  ];
};

const dockerArchiveMembers = async (store: Store, blobs: Blobs, image: BuiltImage, ref: string): Promise<ArchiveMember[]> => {
  const configName = `${digestHex(image.config.digest)}.json`;
  for (const l of image.layers) layerCompression(l.mediaType, `layer ${l.digest}`);
  await ensureAll(blobs, image.layers.map((l) => l.digest));
  const layers: ArchiveMember[] = [];
  for (const l of image.layers) {
    const compression = layerCompression(l.mediaType, `layer ${l.digest}`);
    layers.push({
      name: `${digestHex(l.diffId)}.tar`,
      file: store.blobPath(l.digest),
      size: l.uncompressedSize ?? (await verifyDiffId(store, l, compression)),
      transforms: () => (compression === "gzip" ? [checkedBlob(store, l.digest), zlib.createGunzip()] : [checkedBlob(store, l.digest)]),
    });
  }
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
const pushImage = async (store: Store, blobs: Blobs, image: BuiltImage, reference: Reference, env: Readonly<Record<string, string | undefined>>): Promise<void> => {
  if (reference.digest !== undefined && reference.digest !== image.manifest.digest) {
    throw new DiagnosticError([error({ file: `docker://${formatReference(reference)}` }, `the image's digest is ${image.manifest.digest}, not the one the reference names`)]);
  }
  const client = registryClient(reference, { env });
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

/** How a layer is compressed, by its media type: gzip or none; others are refused here. */
const layerCompression = (mediaType: string, what: string): "gzip" | "none" => {
  if (mediaType.endsWith("gzip")) return "gzip";
  if (mediaType.endsWith(".tar") || mediaType.endsWith("rootfs.diff.tar")) return "none";
  throw new DiagnosticError([error({}, `${what} is ${mediaType}${mediaType.endsWith("zstd") ? " (zstd)" : ""}: only gzip and uncompressed layers can be unpacked here`, "write to oci: or docker://, which keep the layer as it is")]);
};

/**
 * Reads a layer's tar through once to learn its size, checking it against the layer's
 * diff_id: a base layer whose content is not what its config says is refused.
 */
const verifyDiffId = async (store: Store, layer: ImageLayer, compression: "gzip" | "none"): Promise<number> => {
  const tarred = createDigestingStream(1 << 20);
  await pipeline([
    createReadStream(store.blobPath(layer.digest), { highWaterMark: 1 << 20 }),
    ...(compression === "gzip" ? [zlib.createGunzip()] : []),
    tarred.stream,
    new Writable({ write: (_chunk, _enc, cb) => cb() }),
  ]).catch((e: unknown) => {
    throw new DiagnosticError([error({}, `layer ${layer.digest} cannot be unpacked: ${(e as Error).message}`)]);
  });
  if (tarred.digest() !== layer.diffId) {
    throw new DiagnosticError([error({}, `layer ${layer.digest} does not unpack to its diff_id ${layer.diffId}: refused`)]);
  }
  return tarred.size();
};

/**
 * Checks every layer lading did not build against its diff_id, before a sink writes it:
 * a config whose diff_ids do not match its layers is refused by every sink alike, as
 * by every reader. Layers lading built carry their uncompressed size: they were hashed
 * as they were made.
 */
const verifyDiffIds = async (store: Store, blobs: Blobs, image: BuiltImage): Promise<void> => {
  const foreign = [...new Map(image.layers.filter((l) => l.uncompressedSize === undefined).map((l) => [`${l.digest} ${l.diffId}`, l])).values()];
  await forEachLimit(foreign, TRANSFERS, async (l) => {
    // A layer lading cannot unpack (zstd) goes as it is, to sinks that keep it so.
    if (!l.mediaType.endsWith("gzip") && !l.mediaType.endsWith("tar")) return;
    const compression = layerCompression(l.mediaType, `layer ${l.digest}`);
    await blobs.ensure(l.digest);
    await verifyDiffId(store, l, compression);
  });
};

const withLatest = (ref: string): string => (/:[^/]+$/.test(ref) ? ref : `${ref}:latest`);

/**
 * Writes a built image from the store to a transport. An OCI tag defaults to `latest`;
 * a docker-archive without a name gets `localhost/<default name, lowercased>:latest`.
 *
 * @category destructors
 */
export const writeImage = async (store: Store, image: BuiltImage, to: Transport, opts: WriteOptions): Promise<void> => {
  const blobs = blobsOf(store, image, opts.env ?? {});
  try {
    switch (to._tag) {
      case "Oci":
        await verifyDiffIds(store, blobs, image);
        return await writeOciDir(store, blobs, image, to.dir, to.tag ?? "latest", opts);
      case "OciArchive":
        await verifyDiffIds(store, blobs, image);
        await sweepBeside(to.file);
        return await writeArchive(to.file, await ociArchiveMembers(store, blobs, image, to.tag ?? "latest", opts));
      case "DockerArchive":
        await sweepBeside(to.file);
        return await writeArchive(to.file, await dockerArchiveMembers(store, blobs, image, withLatest(to.ref ?? `localhost/${opts.defaultName.toLowerCase()}`)));
      case "Bundle":
        for (const l of image.layers) layerCompression(l.mediaType, `layer ${l.digest}`);
        await ensureAll(blobs, image.layers.map((l) => l.digest));
        // Unpacked, a layer's bytes cannot be checked against its digest after the fact:
        // each is hashed now, whatever the verified record says.
        await forEachLimit([...new Set(image.layers.map((l) => l.digest))], TRANSFERS, async (d) => {
          if (!(await store.hasBlobHashedNow(d))) throw await store.discardCorrupt(d);
        });
        await sweepBeside(to.dir);
        return await writeBundle(store, image, to.dir, opts.defaultName);
      case "Registry":
        // Between registries the layers are never downloaded, so never unpacked: only
        // layers already here are checked.
        if (image.remote === undefined) await verifyDiffIds(store, blobs, image);
        return await pushImage(store, blobs, image, to.reference, opts.env ?? {});
      default: {
        const never: never = to;
        throw new Error(`unknown transport ${JSON.stringify(never)}`);
      }
    }
  } catch (e) {
    // A problem found deep in a sink names the location written to.
    if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => (d.file === undefined ? { ...d, file: formatTransport(to) } : d)));
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new DiagnosticError([error({ file: formatTransport(to) }, `cannot write: ${(e as Error).message}`)]);
    throw e;
  }
};
