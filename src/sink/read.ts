/**
 * Reading images back from any transport lading writes, for `lading inspect`, for
 * `lading diff` and for the validator. Every document is decoded by its codec and every
 * blob is checked against its digest before use.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import * as tar from "tar-stream";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestFromHex, digestHex, digestOf, error, forEachLimit } from "../core/index.ts";
import type { Descriptor, ImageConfig, Manifest } from "../oci/index.ts";
import { classifyLayerEntry, decodeJson, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DockerArchiveManifest, ImageConfig as ImageConfigC, Index, Manifest as ManifestC, OCI_INDEX, OciLayout, REF_NAME } from "../oci/index.ts";
import type { Reference } from "../core/index.ts";
import { fetchBlob, pullImage, registryClient, TRANSFERS } from "../registry/index.ts";
import { openStore, sweepStaleTemps, tempDirPrefix } from "../store/index.ts";
import { resolveInRoot } from "./InRootPath.ts";
import type { Transport } from "./Transport.ts";
import { formatTransport } from "./Transport.ts";

/**
 * A layer of an opened image.
 *
 * @category model
 */
export interface OpenedLayer {
  /** The layer as stored: compressed for OCI layouts, maybe not in docker archives. */
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  /** A fresh stream of the stored bytes. */
  openBlob(): Readable;
  /** A fresh stream of the uncompressed tar. */
  openTar(): Readable;
}

/**
 * An image read from a transport.
 *
 * @category model
 */
export interface OpenedImage {
  readonly source: string;
  /** The manifest digest; for docker archives, which hold none, undefined. */
  readonly digest: Digest | undefined;
  readonly manifest: Manifest | undefined;
  /** The manifest's bytes, verified; docker archives have none. */
  readonly manifestBytes: Uint8Array | undefined;
  readonly config: ImageConfig;
  /** The config's bytes, verified. */
  readonly configBytes: Uint8Array;
  readonly configDigest: Digest;
  readonly layers: ReadonlyArray<OpenedLayer>;
  close(): Promise<void>;
}

const fail = (where: string, message: string, hint?: string): never => {
  throw new DiagnosticError([error({ file: where }, message, hint)]);
};

const readVerified = async (file: string, digest: Digest, size: number | undefined, where: string): Promise<Buffer> => {
  const bytes = await fs.readFile(file).catch(() => fail(where, `blob ${digest} is missing`));
  if (size !== undefined && bytes.byteLength !== size) fail(where, `blob ${digest} has ${bytes.byteLength} bytes, its descriptor says ${size}`);
  if (digestOf(bytes) !== digest) fail(where, `blob ${digest} does not match its digest`);
  return bytes;
};

const decodeOrFail = <A>(codec: t.Decoder<unknown, A>, text: string, where: string): A => {
  const r = decodeJson(codec, text, where);
  if (E.isLeft(r)) throw new DiagnosticError([r.left]);
  return r.right;
};

const isGzip = async (file: string): Promise<boolean> => {
  const h = await fs.open(file, "r");
  try {
    const b = Buffer.alloc(2);
    await h.read(b, 0, 2, 0);
    return b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await h.close();
  }
};

const tarStreamOf = (file: string, gzipped: boolean): Readable =>
  gzipped ? createReadStream(file).pipe(zlib.createGunzip()) : createReadStream(file);

/**
 * A layer whose blob is (or will be) the file `file`, compressed or not as its media
 * type says.
 *
 * @category constructors
 */
export const layerAt = (descriptor: Descriptor, diffId: Digest, file: string): OpenedLayer => ({
  descriptor,
  diffId,
  openBlob: () => createReadStream(file),
  openTar: () => tarStreamOf(file, descriptor.mediaType.endsWith("gzip")),
});

/** The layers of a manifest whose blobs are (or will be) files at `blob(digest)`. */
const layersOf = (manifest: Manifest, config: ImageConfig, blob: (d: Digest) => string, source: string): ReadonlyArray<OpenedLayer> => {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) fail(source, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  return manifest.layers.map((d, i) => layerAt(d, config.rootfs.diff_ids[i]!, blob(d.digest)));
};

const openOciDir = async (dir: string, tag: string | undefined, source: string, close: () => Promise<void>): Promise<OpenedImage> => {
  const layout = decodeOrFail(OciLayout, await fs.readFile(path.join(dir, "oci-layout"), "utf8").catch(() => fail(source, "not an OCI image layout (no oci-layout file)")), `${source}: oci-layout`);
  if (layout.imageLayoutVersion !== "1.0.0") fail(source, `unsupported OCI layout version ${JSON.stringify(layout.imageLayoutVersion)}`);
  const index = decodeOrFail(Index, await fs.readFile(path.join(dir, "index.json"), "utf8").catch(() => fail(source, "not an OCI image layout (no index.json)")), `${source}: index.json`);
  const candidates = tag === undefined ? index.manifests : index.manifests.filter((d) => d.annotations?.[REF_NAME] === tag);
  const tags = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((x): x is string => x !== undefined);
  if (candidates.length === 0) fail(source, tag === undefined ? "the layout holds no image" : `no image tagged "${tag}"`, tags.length > 0 ? `tags here: ${tags.join(", ")}` : undefined);
  if (candidates.length > 1) fail(source, "the layout holds several images: name one with :TAG", `tags here: ${tags.join(", ")}`);
  const desc = candidates[0]!;
  if (desc.mediaType === OCI_INDEX) fail(source, "nested image indexes are not supported yet");
  const blob = (d: Digest): string => path.join(dir, "blobs", "sha256", digestHex(d));
  const manifestBytes = await readVerified(blob(desc.digest), desc.digest, desc.size, source);
  const manifest = decodeOrFail(ManifestC, manifestBytes.toString("utf8"), `${source}: manifest`);
  const configBytes = await readVerified(blob(manifest.config.digest), manifest.config.digest, manifest.config.size, source);
  const config = decodeOrFail(ImageConfigC, configBytes.toString("utf8"), `${source}: config`);
  return { source, digest: desc.digest, manifest, manifestBytes, config, configBytes, configDigest: manifest.config.digest, layers: layersOf(manifest, config, blob, source), close };
};

/**
 * Unpacks an archive's files into `dir`. Member names are resolved inside `dir` as a
 * rootfs path is, and one that climbs out with `..` or holds a whiteout name is refused:
 * no archive member is written anywhere else, whatever its name.
 */
const extractTo = async (file: string, dir: string, source: string): Promise<void> => {
  const ex = tar.extract();
  const root = path.resolve(dir);
  const cache = new Map<string, string>();
  ex.on("entry", (header, stream, next) => {
    // A failure mid-member destroys this stream too; the pipeline below reports it.
    stream.on("error", () => {});
    const done = (e?: unknown): void => {
      stream.resume();
      next(e as Error | undefined);
    };
    (async () => {
      const name = classifyLayerEntry(header.name);
      if (E.isLeft(name) || name.right._tag !== "Path") return fail(source, `archive member ${JSON.stringify(header.name)} ${E.isLeft(name) ? name.left : "is not a file name"}: refused`);
      // Links are not followed by the readers and never made here: files and directories only.
      if (header.type !== "file" && header.type !== "directory") return;
      const dest = await resolveInRoot(root, name.right.segments.join("/"), source, { create: true, followLast: false, cache });
      if (header.type === "directory") await fs.mkdir(dest, { recursive: true });
      else {
        // A member named twice would mean one thing to one reader and another to the next.
        const out = await fs.open(dest, "wx").catch((e: NodeJS.ErrnoException) => {
          if (e.code === "EEXIST") return fail(source, `archive member ${JSON.stringify(header.name)} appears twice: refused`);
          throw e;
        });
        await pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream("", { fd: out.fd, autoClose: false })).finally(() => out.close());
      }
    })().then(() => done(), done);
  });
  try {
    await pipeline(createReadStream(file), ex as unknown as NodeJS.WritableStream);
  } catch (e) {
    if (e instanceof DiagnosticError) throw e;
    fail(source, `cannot read the archive: ${(e as Error).message}`);
  }
};

const openDockerArchive = async (dir: string, ref: string | undefined, source: string, close: () => Promise<void>): Promise<OpenedImage> => {
  const entries = decodeOrFail(DockerArchiveManifest, await fs.readFile(path.join(dir, "manifest.json"), "utf8").catch(() => fail(source, "not a docker archive (no manifest.json)")), `${source}: manifest.json`);
  const want = ref === undefined ? undefined : /:[^/]+$/.test(ref) ? ref : `${ref}:latest`;
  const candidates = want === undefined ? entries : entries.filter((e) => (e.RepoTags ?? []).includes(want));
  if (candidates.length !== 1) fail(source, candidates.length === 0 ? `no image named ${want}` : "the archive holds several images: name one");
  const entry = candidates[0]!;
  const inside = (name: string): string => {
    const p = path.resolve(dir, name);
    if (!p.startsWith(path.resolve(dir) + path.sep)) fail(source, `member ${name} escapes the archive`);
    return p;
  };
  const configBytes = await fs.readFile(inside(entry.Config)).catch(() => fail(source, `config ${entry.Config} is missing`));
  const config = decodeOrFail(ImageConfigC, configBytes.toString("utf8"), `${source}: ${entry.Config}`);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) fail(source, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${entry.Layers.length} layers`);
  // A docker archive names layers by file, not digest: each is hashed here, streamed and
  // one at a time, so a layer of any size fits in memory.
  const layers: OpenedLayer[] = [];
  for (const [i, name] of entry.Layers.entries()) {
    const file = inside(name);
    const gz = await isGzip(file).catch(() => fail(source, `layer ${name} is missing`));
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).byteLength;
    }
    layers.push({
      descriptor: { mediaType: gz ? DOCKER_LAYER_GZIP : DOCKER_LAYER_TAR, digest: digestFromHex(hash.digest("hex")), size },
      diffId: config.rootfs.diff_ids[i]!,
      openBlob: () => createReadStream(file),
      openTar: () => tarStreamOf(file, gz),
    });
  }
  return { source, digest: undefined, manifest: undefined, manifestBytes: undefined, config, configBytes, configDigest: digestOf(configBytes), layers, close };
};

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

/**
 * Opens an image from a transport. Archives are unpacked into a temp directory that
 * `close()` removes.
 *
 * @category constructors
 */
export const openImage = async (from: Transport, env: Readonly<Record<string, string | undefined>> = {}): Promise<OpenedImage> => {
  const source = formatTransport(from);
  // What a killed process left of the same: lading's temp directories whose owner has gone.
  await sweepStaleTemps(os.tmpdir(), (name) => name.startsWith("lading-open-") || name.startsWith("lading-pull-"));
  if (from._tag === "Oci") return openOciDir(from.dir, from.tag, source, async () => {});
  if (from._tag === "Bundle") return fail(source, "a runtime bundle is an output only: read the image from an oci, oci-archive or docker-archive location");
  if (from._tag === "Registry") return openRegistryImage(from.reference, env, source);
  const file = from.file;
  await fs.access(file).catch(() => fail(source, "no such file"));
  const tmp = await fs.mkdtemp(tempDirPrefix(os.tmpdir(), "open"));
  const close = (): Promise<void> => fs.rm(tmp, { recursive: true, force: true });
  try {
    await extractTo(file, tmp, source);
    return from._tag === "OciArchive" ? await openOciDir(tmp, from.tag, source, close) : await openDockerArchive(tmp, from.ref, source, close);
  } catch (e) {
    await close();
    throw e;
  }
};
