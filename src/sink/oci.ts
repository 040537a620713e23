/**
 * `oci:DIR[:TAG]`, an OCI image layout. Read: index.json's image for the tag, every
 * document decoded and every blob checked against its digest. Write: a new layout is
 * assembled beside its destination and renamed into place; an existing one gets its
 * blobs first and its index.json last, atomically, under a lock. Blobs are files of their
 * own, never hard links into the store.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { Digest } from "../core/index.ts";
import { canonicalJson, DiagnosticError, digestHex, error, failAt, forEachLimit } from "../core/index.ts";
import type { Descriptor, Index, OpenedImage } from "../oci/index.ts";
import { decodeJson, ImageConfig as ImageConfigC, manifestOf, Index as IndexC, makeIndex, Manifest as ManifestC, OCI_INDEX, OciLayout, REF_NAME, taggedDescriptor } from "../oci/index.ts";
import { TRANSFERS } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { pathExists, sweepBeside, sweepStaleTemps, tempNameFor, withFileLock, writeFileAtomic } from "../store/index.ts";
import type { Blobs } from "./blobs.ts";
import { blobDigests, verifyDiffIds } from "./blobs.ts";
import type { Endpoint, WriteContext } from "./Endpoint.ts";
import { decodeOrFail, layersOf, readVerified } from "./opened.ts";

/** The `oci-layout` file's bytes. */
export const OCI_LAYOUT = canonicalJson({ imageLayoutVersion: "1.0.0" });

/** An index holding `manifest` under `tag`, and the other tags of `index` as they were. */
export const withTag = (index: Index | undefined, manifest: Descriptor, tag: string): Index => {
  const kept = (index?.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] !== tag);
  return makeIndex([...kept, manifest]).value;
};

/** Reads the image of a layout in `dir` (an unpacked oci-archive too); `source` names it. */
export const openOciDir = async (dir: string, tag: string | undefined, source: string, close: () => Promise<void>): Promise<OpenedImage> => {
  const layout = decodeOrFail(OciLayout, await fs.readFile(path.join(dir, "oci-layout"), "utf8").catch(() => failAt(source, "not an OCI image layout (no oci-layout file)")), `${source}: oci-layout`);
  if (layout.imageLayoutVersion !== "1.0.0") failAt(source, `unsupported OCI layout version ${JSON.stringify(layout.imageLayoutVersion)}`);
  const index = decodeOrFail(IndexC, await fs.readFile(path.join(dir, "index.json"), "utf8").catch(() => failAt(source, "not an OCI image layout (no index.json)")), `${source}: index.json`);
  const candidates = tag === undefined ? index.manifests : index.manifests.filter((d) => d.annotations?.[REF_NAME] === tag);
  const tags = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((x): x is string => x !== undefined);
  if (candidates.length === 0) failAt(source, tag === undefined ? "the layout holds no image" : `no image tagged "${tag}"`, tags.length > 0 ? `tags here: ${tags.join(", ")}` : undefined);
  if (candidates.length > 1) failAt(source, "the layout holds several images: name one with :TAG", `tags here: ${tags.join(", ")}`);
  const desc = candidates[0]!;
  if (desc.mediaType === OCI_INDEX) failAt(source, "nested image indexes are not supported yet");
  const blob = (d: Digest): string => path.join(dir, "blobs", "sha256", digestHex(d));
  const manifestBytes = await readVerified(blob(desc.digest), desc.digest, desc.size, source);
  const manifest = decodeOrFail(ManifestC, manifestBytes.toString("utf8"), `${source}: manifest`);
  const configBytes = await readVerified(blob(manifest.config.digest), manifest.config.digest, manifest.config.size, source);
  const config = decodeOrFail(ImageConfigC, configBytes.toString("utf8"), `${source}: config`);
  return {
    source,
    manifest: { value: manifest, bytes: manifestBytes, digest: desc.digest },
    config: { value: config, bytes: configBytes, digest: manifest.config.digest },
    layers: layersOf(manifest, config, blob, source),
    close,
  };
};

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

const readIndex = async (dir: string): Promise<Index> => {
  const where = path.join(dir, "index.json");
  const text = await fs.readFile(where, "utf8").catch(() => {
    throw new DiagnosticError([error({ file: dir }, "exists but is not an OCI image layout (no index.json)", "choose a new directory or an existing OCI layout")]);
  });
  const r = decodeJson(IndexC, text, where);
  if (E.isLeft(r)) throw new DiagnosticError([r.left]);
  return r.right;
};

/** Adds the image's blobs to an existing layout, then its tag to index.json, under a lock. */
const addToOciDir = async (w: WriteContext, dir: string, tag: string, descriptor: Descriptor): Promise<void> => {
  await fs.mkdir(path.join(dir, "blobs", "sha256"), { recursive: true });
  await forEachLimit(blobDigests(w.image), TRANSFERS, (d) => copyBlob(w.store, w.blobs, d, path.join(dir, "blobs", "sha256")));
  // Two builds may tag into one layout at once: each rewrites index.json from the other's.
  await withFileLock(path.join(dir, "index.json.lock"), async () => {
    const index = await readIndex(dir);
    if (!(await pathExists(path.join(dir, "oci-layout")))) await writeFileAtomic(path.join(dir, "oci-layout"), OCI_LAYOUT);
    await writeFileAtomic(path.join(dir, "index.json"), canonicalJson(withTag(index, descriptor, tag)));
  });
};

const writeOciDir = async (w: WriteContext, dir: string, tag: string): Promise<void> => {
  const descriptor = taggedDescriptor(manifestOf(w.image), tag, w.opts.platform);
  // What a killed write left: the layout it was assembling, and blobs half-copied into this one.
  await sweepBeside(dir);
  await sweepStaleTemps(path.join(dir, "blobs", "sha256"));
  await sweepStaleTemps(dir);
  if (await pathExists(dir)) {
    await readIndex(dir);
    return addToOciDir(w, dir, tag, descriptor);
  }
  await fs.mkdir(path.dirname(path.resolve(dir)), { recursive: true });
  const tmp = tempNameFor(path.resolve(dir));
  try {
    await fs.mkdir(path.join(tmp, "blobs", "sha256"), { recursive: true });
    await forEachLimit(blobDigests(w.image), TRANSFERS, (d) => copyBlob(w.store, w.blobs, d, path.join(tmp, "blobs", "sha256")));
    await fs.writeFile(path.join(tmp, "oci-layout"), OCI_LAYOUT);
    await fs.writeFile(path.join(tmp, "index.json"), canonicalJson(withTag(undefined, descriptor, tag)));
    await fs.rename(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    // Another build made the layout first: join it instead.
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === "ENOTEMPTY" || code === "EEXIST") && (await pathExists(path.join(dir, "index.json")))) return addToOciDir(w, dir, tag, descriptor);
    throw e;
  }
};

/**
 * The layout at `dir`; the tag defaults to `latest` when written.
 *
 * @category constructors
 */
export const ociLayout = (dir: string, tag: string | undefined, source: string): Endpoint => ({
  source,
  open: () => openOciDir(dir, tag, source, async () => {}),
  write: async (w) => {
    await verifyDiffIds(w.store, w.blobs, w.image);
    await writeOciDir(w, dir, tag ?? "latest");
  },
});
