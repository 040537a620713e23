/**
 * Base images from registries: a reference resolved to the image for a platform
 * (manifests and config only), and blobs fetched into the store when a sink needs their
 * bytes. Everything that lands in the store was checked against its digest first, and
 * what the store holds is never fetched again.
 */
import * as fs from "node:fs/promises";
import * as E from "fp-ts/lib/Either.js";
import type * as t from "io-ts";
import type { Digest, Reference } from "../core/index.ts";
import { DiagnosticError, digestOf, formatPlatform, formatReference, parseReference } from "../core/index.ts";
import { failFor as fail } from "./retry.ts";
import type { PlatformIR } from "../eval/index.ts";
import type { Blob, Compression, Descriptor, ImageConfig, Image, Layer, Manifest } from "../oci/index.ts";
import { compressionOf, decodeJson, fileLayer, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, ImageConfig as ImageConfigC, Index, Manifest as ManifestC, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD } from "../oci/index.ts";
import type { BaseLayer, FetchBaseLayer, PlannedBase } from "../plan/index.ts";
import type { Store, Unpacking } from "../store/index.ts";
import { unpacking } from "../store/index.ts";
import type { RegistryClient, RegistryOptions } from "./client.ts";
import { registryClient } from "./client.ts";

/** Image configs larger than this are refused: they are read whole. */
const MAX_CONFIG = 8 << 20;


/**
 * The layer media types an image lading builds on may have.
 *
 * @category model
 */
export const LAYER_TYPES: ReadonlySet<string> = new Set([OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR]);

const decodeOrFail = <A>(codec: t.Decoder<unknown, A>, bytes: Uint8Array, where: string): A => {
  const r = decodeJson(codec, Buffer.from(bytes).toString("utf8"), where);
  if (E.isLeft(r)) throw new DiagnosticError([r.left]);
  return r.right;
};

/** A stored blob's bytes, if the store has it whole. */
const readStored = async (store: Store, digest: Digest): Promise<Buffer | undefined> => {
  const bytes = await fs.readFile(store.blobPath(digest)).catch(() => undefined);
  return bytes !== undefined && digestOf(bytes) === digest ? bytes : undefined;
};

/** A manifest or index by digest: from the store, else fetched (verified) into it. */
const manifestByDigest = async (store: Store, client: RegistryClient, digest: Digest): Promise<Buffer> => {
  const stored = await readStored(store, digest);
  if (stored !== undefined) return stored;
  const m = await client.getManifest(digest);
  await store.putBlob(m.bytes);
  return m.bytes;
};

/**
 * Fetches a blob of `remote`'s repository into the store unless it is there: to a temp
 * file first, checked against digest and size, then renamed into place.
 *
 * @category destructors
 */
export const fetchBlob = async (store: Store, client: RegistryClient, digest: Digest, size: number | undefined, compression?: Compression): Promise<void> => {
  if (await store.hasBlob(digest, size)) return;
  const temp = store.tempPath();
  // A layer is unpacked as it arrives, on the thread pool while the next bytes come: what
  // it unpacks to is recorded with it, and checking its diff_id needs no second pass.
  let unpacked: Unpacking | undefined;
  await client.getBlob(digest, temp, size, compression === undefined ? undefined : () => (unpacked = unpacking(compression)).stream);
  await store.commitBlob(temp, digest);
  // A layer that does not unpack gets no record: the reader that needs it says why.
  const found = await unpacked?.result().catch(() => undefined);
  if (found !== undefined && compression !== undefined) await store.putUnpacked(digest, compression, found);
};

/**
 * The layers of `ref`'s repository: each is fetched into the store (verified) when
 * something opens it, and never before; a layer the store has is not fetched at all.
 *
 * @category constructors
 */
export const remoteLayers = (store: Store, ref: Reference, layers: ReadonlyArray<BaseLayer>, options: RegistryOptions): ReadonlyArray<Layer> => {
  let client: RegistryClient | undefined;
  // A layer listed twice, or opened by two readers at once, is fetched once.
  const fetching = new Map<Digest, Promise<void>>();
  const fetchOnce = (l: BaseLayer): Promise<void> => {
    const known = fetching.get(l.digest);
    if (known !== undefined) return known;
    const started = fetchBlob(store, (client ??= registryClient(ref, options)), l.digest, l.size, compressionOf(l.mediaType)).finally(() => fetching.delete(l.digest));
    fetching.set(l.digest, started);
    return started;
  };
  return layers.map((l) =>
    fileLayer(l, l.diffId, async () => {
      await fetchOnce(l);
      return store.blobPath(l.digest);
    }, { remote: ref }),
  );
};

/**
 * The layers of a planned base, fetched from its registry when opened. The plan holds
 * the reference as text (it is data, printed as JSON and keyed in lading.lock): this is
 * the one place it is read back, where the plan's base becomes layers.
 *
 * @category constructors
 */
export const baseLayers = (store: Store, base: PlannedBase, layers: ReadonlyArray<BaseLayer>, options: RegistryOptions): ReadonlyArray<Layer> => {
  const ref = parseReference(base.reference);
  if (E.isLeft(ref)) throw new Error(`a planned base has an invalid reference: ${ref.left}`);
  return remoteLayers(store, ref.right, layers, options);
};

/**
 * How plan's host reads a base layer: fetched into the store (verified) when opened,
 * unless it is there already.
 *
 * @category constructors
 */
export const baseLayerFetcher =
  (store: Store, options: RegistryOptions): FetchBaseLayer =>
  (base, layer) =>
    baseLayers(store, base, [layer], options)[0]!;

/** The platform chosen from an index when none is asked for. */
const DEFAULT_PLATFORM: PlatformIR = { os: "linux", architecture: "amd64" };

/** The index entry for a platform; a variant the spec leaves open matches any. */
const choosePlatform = (manifests: ReadonlyArray<Descriptor>, platform: PlatformIR): Descriptor | undefined =>
  manifests.find(
    (d) =>
      d.platform !== undefined &&
      d.platform.os === platform.os &&
      d.platform.architecture === platform.architecture &&
      (platform.variant === undefined || d.platform.variant === platform.variant),
  );

const isIndex = (mediaType: string, bytes: Uint8Array): boolean => {
  if (mediaType === OCI_INDEX || mediaType.endsWith("manifest.list.v2+json")) return true;
  try {
    return Array.isArray((JSON.parse(Buffer.from(bytes).toString("utf8")) as { manifests?: unknown }).manifests);
  } catch {
    return false;
  }
};

const mediaTypeOf = (bytes: Uint8Array): string => {
  try {
    const m = (JSON.parse(Buffer.from(bytes).toString("utf8")) as { mediaType?: unknown }).mediaType;
    return typeof m === "string" ? m : "";
  } catch {
    return "";
  }
};

/**
 * What a tag names now: the digest of its manifest or index, fetched (and kept in the
 * store). For `lading lock`, and for a build whose reference nothing pins.
 *
 * @category destructors
 */
export const resolveTag = async (store: Store, ref: Reference, options: RegistryOptions): Promise<Digest> => {
  if (ref.digest !== undefined) return ref.digest;
  const m = await registryClient(ref, options).getManifest(ref.tag ?? "latest");
  await store.putBlob(m.bytes);
  return m.digest;
};

/**
 * Resolves a base image for a platform: the manifest and config, from the store when
 * it has them, else from the registry. A reference with a digest, or a `pin` from
 * lading.lock, asks the registry nothing about tags. No layer is downloaded. Without a
 * platform, an index gives its linux/amd64 image (or its only one) and a lone manifest
 * is taken whatever its platform.
 *
 * @category constructors
 */
export const resolveBase = async (
  store: Store,
  ref: Reference,
  platform: PlatformIR | undefined,
  pin: Digest | undefined,
  options: RegistryOptions,
): Promise<PlannedBase> => (await resolve(store, ref, platform, pin, options)).base;

/** Resolves as {@link resolveBase} does, keeping the manifest and config it read. */
const resolve = async (
  store: Store,
  ref: Reference,
  platform: PlatformIR | undefined,
  pin: Digest | undefined,
  options: RegistryOptions,
): Promise<{ readonly base: PlannedBase; readonly manifest: Blob<Manifest>; readonly config: Blob<ImageConfig> }> => {
  const client = registryClient(ref, options);
  const where = `docker://${formatReference(ref)}`;
  // A tag is asked about only when nothing pins it; its answer is used as it came.
  const tagged = ref.digest === undefined && pin === undefined ? await client.getManifest(ref.tag ?? "latest") : undefined;
  if (tagged !== undefined) await store.putBlob(tagged.bytes);
  const pinned = ref.digest ?? pin ?? tagged!.digest;
  let digest = pinned;
  let bytes = tagged?.bytes ?? (await manifestByDigest(store, client, digest));
  if (isIndex(mediaTypeOf(bytes), bytes)) {
    const index = decodeOrFail(Index, bytes, `${where}: index`);
    const wanted = platform ?? DEFAULT_PLATFORM;
    const chosen = choosePlatform(index.manifests, wanted) ?? (platform === undefined && index.manifests.length === 1 ? index.manifests[0] : undefined);
    if (chosen === undefined) {
      const offered = index.manifests.map((d) => (d.platform === undefined ? undefined : formatPlatform(d.platform))).filter((p) => p !== undefined);
      return fail(ref, `the index has no image for ${formatPlatform(wanted)}`, offered.length > 0 ? `it has: ${[...new Set(offered)].join(", ")}` : undefined);
    }
    digest = chosen.digest;
    bytes = await manifestByDigest(store, client, digest);
    if (isIndex(mediaTypeOf(bytes), bytes)) return fail(ref, `the index's entry for ${formatPlatform(wanted)} is another index: not supported`);
  }
  const manifest: Manifest = decodeOrFail(ManifestC, bytes, `${where}: manifest`);
  if (manifest.config.size > MAX_CONFIG) return fail(ref, `the image config is ${manifest.config.size} bytes, more than the ${MAX_CONFIG} lading accepts`);
  await fetchBlob(store, client, manifest.config.digest, manifest.config.size);
  const configBytes = await fs.readFile(store.blobPath(manifest.config.digest));
  const config: ImageConfig = decodeOrFail(ImageConfigC, configBytes, `${where}: config`);
  if (platform !== undefined && (config.os !== platform.os || config.architecture !== platform.architecture || (platform.variant !== undefined && config.variant !== platform.variant))) {
    return fail(ref, `the image is for ${formatPlatform(config)}, not ${formatPlatform(platform)}`, "pull an image for the spec's platform, or set the platform with Image.withPlatform");
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) return fail(ref, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  for (const l of manifest.layers) {
    if (!LAYER_TYPES.has(l.mediaType)) return fail(ref, `layer ${l.digest} has media type ${l.mediaType}, which lading cannot build on`);
  }
  return {
    base: {
      reference: formatReference(ref),
      pinned,
      digest,
      config: (config.config ?? {}) as Readonly<Record<string, unknown>>,
      history: config.history ?? [],
      layers: manifest.layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: config.rootfs.diff_ids[i]! })),
    },
    manifest: { value: manifest, bytes, digest },
    config: { value: config, bytes: configBytes, digest: manifest.config.digest },
  };
};

/**
 * Transfers at once: layers fetched from a registry, blobs pushed to one.
 *
 * @category constants
 */
export const TRANSFERS = 3;

/**
 * The image `ref` names, resolved as {@link resolveBase} does: its manifest and config
 * in the store, verified, and its layers fetched into the store when opened.
 *
 * @category constructors
 */
export const pullImage = async (store: Store, ref: Reference, platform: PlatformIR | undefined, options: RegistryOptions): Promise<Image> => {
  const { base, manifest, config } = await resolve(store, ref, platform, undefined, options);
  return { source: `docker://${formatReference(ref)}`, manifest, config, layers: remoteLayers(store, ref, base.layers, options) };
};
