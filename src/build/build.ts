/**
 * build: a BuildPlan to blobs in the store. Each layer is streamed as tar, hashed
 * (diff_id), compressed (gzip, or zstd when asked), hashed again (digest) and written
 * to a temp file that is renamed into the store: never the whole layer in memory. A layer whose cache key the store
 * already holds is not rebuilt, and its content is not read.
 */
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../core/index.ts";
import { createDigestingStream, DiagnosticError, gathering } from "../core/index.ts";
import type { Blob, Image, ImageConfig, Layer, LayerBlob } from "../oci/index.ts";
import { canonicalBlob, makeManifest, OCI_LAYER_GZIP, OCI_LAYER_ZSTD } from "../oci/index.ts";
import type { BuildPlan, LayerFormat, PlanInputs, PlannedLayer, PlannedRun } from "../plan/index.ts";
import type { RegistryOptions } from "../registry/index.ts";
import { baseLayers } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { storedLayer } from "../store/index.ts";
import { compressionId, createDeterministicGzip } from "./gzip.ts";
import { TAR_FORMAT, tarStream, writeLayerTar } from "./tar.ts";
import { createDeterministicZstd, zstdCompressionId } from "./zstd.ts";

/**
 * How built layers are compressed: gzip (the default, read by every tool) or zstd
 * (a cheaper compressor, so faster builds; podman, containerd and recent Docker engines
 * read it).
 *
 * @category model
 */
export type LayerCompression = "gzip" | "zstd";

/**
 * The layer format a build writes with `compression`; plan puts it into every cache key.
 *
 * @category constructors
 */
export const layerFormatFor = (compression: LayerCompression): LayerFormat => ({
  tar: TAR_FORMAT,
  compression: compression === "gzip" ? compressionId : zstdCompressionId(),
});

/**
 * The default layer format: gzip.
 *
 * @category constructors
 */
export const layerFormat: LayerFormat = layerFormatFor("gzip");

/** A compressor: the media type of what it makes, and a new stream of it. */
interface Compressor {
  readonly mediaType: string;
  readonly create: () => import("node:stream").Transform;
}

/**
 * The compressor a plan's format names. The format comes from the plan, and the plan from
 * this version of lading: a name it does not know means a plan made by another version.
 */
const compressorOf = (format: LayerFormat): Compressor => {
  if (format.compression === compressionId) return { mediaType: OCI_LAYER_GZIP, create: createDeterministicGzip };
  if (format.compression === zstdCompressionId()) return { mediaType: OCI_LAYER_ZSTD, create: createDeterministicZstd };
  throw new Error(`layers cannot be compressed as ${format.compression} by this version of lading`);
};

/**
 * Progress events, for a terminal's progress line.
 *
 * @category model
 */
export type BuildEvent =
  | { readonly _tag: "LayerCached"; readonly layer: string }
  | { readonly _tag: "StepStarted"; readonly layer: string; readonly run: PlannedRun }
  | { readonly _tag: "LayerStarted"; readonly layer: string; readonly contentSize: number }
  /** How much of the layer's tar is written, every few tenths of a second while it is. */
  | { readonly _tag: "LayerProgress"; readonly layer: string; readonly tarBytes: number; readonly contentSize: number }
  | { readonly _tag: "LayerBuilt"; readonly layer: string; readonly blob: LayerBlob };

/**
 * What running a step needs: the plan it is part of, the step, and the layers below it
 * (their blobs in the store, except a base's not fetched yet).
 *
 * @category model
 */
export interface StepRequest {
  readonly plan: BuildPlan;
  readonly layer: PlannedLayer & { readonly run: PlannedRun };
  readonly below: ReadonlyArray<Layer>;
  readonly inputs: PlanInputs;
}

/**
 * Runs a step and builds what it changed into a layer blob in the store; provided by the
 * sandbox, so that build itself runs nothing.
 *
 * @category model
 */
export type StepRunner = (request: StepRequest) => Promise<LayerBlob>;

/**
 * How a build runs steps (without a runner, a step that is not cached is an error) and
 * how a base's layers are fetched, when something opens them.
 *
 * @category model
 */
export interface BuildOptions {
  readonly runStep?: StepRunner;
  readonly registry?: RegistryOptions;
}

/**
 * What a build gives: the image (its documents and built layers in the store, a base's
 * layers fetched from its registry when opened), and which layers came from the cache.
 *
 * @category model
 */
export interface Built {
  readonly image: Image;
  /** Layers taken from the cache, by name. */
  readonly cached: ReadonlyArray<string>;
}

/**
 * Stream buffers between the stages: large, so the tar writer, the hashes and the
 * compressor (on the thread pool) work at once instead of waiting on each other.
 */
const BUFFER = 4 << 20;

/** Chunks handed to the hashes and the compressor: one per MiB instead of three per file. */
const CHUNK = 1 << 20;

/** How often a layer being built reports how far it has come. */
const PROGRESS_MS = 250;

/**
 * Builds one layer into the store, unconditionally.
 *
 * @category destructors
 */
export const buildLayer = async (
  store: Store,
  layer: PlannedLayer,
  inputs: PlanInputs,
  plan: Pick<BuildPlan, "created" | "format">,
  onTarBytes?: (n: number) => void,
): Promise<LayerBlob> => {
  const compressor = compressorOf(plan.format);
  const temp = store.tempPath();
  const tarDigest = createDigestingStream(BUFFER);
  const ticker = onTarBytes === undefined ? undefined : setInterval(() => onTarBytes(tarDigest.size()), PROGRESS_MS);
  ticker?.unref();
  const blobDigest = createDigestingStream(BUFFER);
  const out = tarStream();
  const producing = writeLayerTar(out, layer, inputs, plan.created).catch((e: unknown) => {
    out.stream.destroy(e as Error);
    throw e;
  });
  // Both settle before anything is cleaned up: a failed producer ends the pipeline, whose
  // file stream may still be opening the temp file; removed earlier, it would come back.
  const [produced, piped] = await Promise.allSettled([
    producing,
    pipeline(
      out.stream,
      gathering(CHUNK, BUFFER),
      tarDigest.stream,
      compressor.create(),
      blobDigest.stream,
      createWriteStream(temp, { highWaterMark: CHUNK }),
    ),
  ]);
  if (ticker !== undefined) clearInterval(ticker);
  if (produced.status === "rejected" || piped.status === "rejected") {
    await fs.rm(temp, { force: true });
    // The producer's error says what went wrong; the pipeline's is only its echo.
    throw produced.status === "rejected" ? produced.reason : (piped as PromiseRejectedResult).reason;
  }
  const blob: LayerBlob = {
    digest: blobDigest.digest(),
    size: blobDigest.size(),
    diffId: tarDigest.digest(),
    uncompressedSize: tarDigest.size(),
  };
  await store.commitBlob(temp, blob.digest);
  return blob;
};

const isoTime = (seconds: number): string => new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");

/**
 * The image config of a plan whose layers are built.
 *
 * @category constructors
 */
export const makeImageConfig = (plan: BuildPlan, layers: ReadonlyArray<{ readonly diffId: Digest }>): Blob<ImageConfig> => {
  const created = isoTime(plan.created);
  return canonicalBlob<ImageConfig>({
    architecture: plan.platform.architecture,
    os: plan.platform.os,
    ...(plan.platform.variant === undefined ? {} : { variant: plan.platform.variant }),
    created,
    config: JSON.parse(JSON.stringify(plan.config)) as NonNullable<ImageConfig["config"]>,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: [...(plan.base?.history ?? []), ...plan.layers.map((l) => ({
      created,
      created_by: l.run === undefined ? `lading: layer ${l.name}` : `lading: run ${l.name}: ${l.run.shell ?? JSON.stringify(l.run.argv)}`,
      ...(l.comment === undefined ? {} : { comment: l.comment }),
    }))],
  });
};

/**
 * Builds every layer of a plan (or takes it from the cache), then the config and
 * manifest, all into the store.
 *
 * @category destructors
 */
export const buildImage = async (
  store: Store,
  plan: BuildPlan,
  inputs: PlanInputs,
  onEvent: (e: BuildEvent) => void = () => {},
  options: BuildOptions = {},
): Promise<Built> => {
  const layers: Layer[] = plan.base === undefined ? [] : [...baseLayers(store, plan.base, plan.base.layers, options.registry ?? { env: {} })];
  const { mediaType } = compressorOf(plan.format);
  const built = (blob: LayerBlob): Layer => storedLayer(store, { mediaType, ...blob }, blob.diffId, blob.uncompressedSize);
  const cached: string[] = [];
  for (const layer of plan.layers) {
    const hit = await store.getLayer(layer.cacheKey);
    // A record counts only with its blob, whole and right: a blob cut short by a crash,
    // or damaged on disk since, is rebuilt.
    if (hit !== undefined && (await store.hasBlob(hit.digest, hit.size))) {
      layers.push(built(hit));
      cached.push(layer.name);
      onEvent({ _tag: "LayerCached", layer: layer.name });
      continue;
    }
    const run = layer.run;
    if (run !== undefined) {
      if (options.runStep === undefined) throw new DiagnosticError([{ severity: "error", exportName: plan.exportName, layer: layer.name, message: "this build cannot run steps" }]);
      onEvent({ _tag: "StepStarted", layer: layer.name, run });
      const blob = await options.runStep({ plan, layer: { ...layer, run }, below: [...layers], inputs });
      await store.putLayer(layer.cacheKey, blob);
      layers.push(built(blob));
      onEvent({ _tag: "LayerBuilt", layer: layer.name, blob });
      continue;
    }
    onEvent({ _tag: "LayerStarted", layer: layer.name, contentSize: layer.contentSize });
    const blob = await buildLayer(store, layer, inputs, plan, (tarBytes) => onEvent({ _tag: "LayerProgress", layer: layer.name, tarBytes, contentSize: layer.contentSize })).catch((e: unknown) => {
      // The tar writer knows the layer and path; the export is known here.
      if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => ({ exportName: plan.exportName, ...d })));
      throw e;
    });
    await store.putLayer(layer.cacheKey, blob);
    layers.push(built(blob));
    onEvent({ _tag: "LayerBuilt", layer: layer.name, blob });
  }
  const config = makeImageConfig(plan, layers);
  await store.putBlob(config.bytes);
  const manifest = makeManifest(config, layers, plan.annotations);
  await store.putBlob(manifest.bytes);
  return { image: { source: plan.exportName, manifest, config, layers }, cached };
};
