/**
 * One pass over every layer of an opened image: re-hashes the stored blob and the
 * uncompressed tar, checks them against the descriptor and the config's diff_ids, and
 * lists the files. This is both `lading inspect` and the validator every test runs.
 */
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import type { Diagnostic, Digest } from "../core/index.ts";
import * as E from "fp-ts/lib/Either.js";
import { createDigestingStream, digestFromHex, error, showPath } from "../core/index.ts";
import type { Image, Layer } from "../oci/index.ts";
import { classifyLayerEntry, compressionOf, decompression, layerEntryPath } from "../oci/index.ts";

/**
 * A file as found in a layer's tar.
 *
 * @category model
 */
export interface LayerFile {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink" | "hardlink" | "other";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly size: number;
  readonly digest?: Digest;
  readonly target?: string;
}

/**
 * A layer as read back: its descriptor's digest, media type and size, its diff_id, and
 * its files in archive order.
 *
 * @category model
 */
export interface InspectedLayer {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly diffId: Digest;
  readonly files: ReadonlyArray<LayerFile>;
}

/**
 * What inspecting an image found: every layer with its files, and every problem (a
 * digest, size or diff_id that does not match, an unreadable layer, a path listed twice).
 *
 * @category model
 */
export interface Inspection {
  readonly layers: ReadonlyArray<InspectedLayer>;
  /** Empty when every blob matches its digest, size and diff_id. */
  readonly problems: ReadonlyArray<Diagnostic>;
}

const typeOf = (t: tar.Header["type"]): LayerFile["type"] =>
  t === "file" || t === "contiguous-file" ? "file" : t === "directory" ? "dir" : t === "symlink" ? "symlink" : t === "link" ? "hardlink" : "other";

const inspectLayer = async (source: string, layer: Layer, index: number, problems: Diagnostic[]): Promise<InspectedLayer> => {
  const blob = createDigestingStream();
  const tarred = createDigestingStream();
  const files: LayerFile[] = [];
  const where = { file: source, layer: `#${index + 1} ${layer.digest.slice(0, 19)}` };
  const ex = tar.extract();
  ex.on("entry", (header, stream, next) => {
    // A failure mid-entry (a corrupt gzip) destroys this stream too: the pipeline below
    // reports it, so here it is only heard, never left to crash the process.
    stream.on("error", () => {});
    const h = createHash("sha256");
    stream.on("data", (c: unknown) => h.update(c as Buffer));
    stream.on("end", () => {
      const type = typeOf(header.type);
      // Read as every sink reads it: a name the bundle sink would refuse is a problem here.
      const classified = classifyLayerEntry(header.name);
      const p = layerEntryPath(header.name);
      if (E.isLeft(classified) || p === undefined) {
        problems.push(error({ ...where, path: showPath(header.name) }, `layer entry ${E.isLeft(classified) ? classified.left : "climbs out of the root"}`));
        next();
        return;
      }
      if (classified.right._tag === "Root" && type !== "dir") problems.push(error({ ...where, path: "/" }, `the entry for the root is a ${header.type}: the root of an image is always a directory`));
      files.push({
        path: p,
        type,
        mode: header.mode & 0o7777,
        uid: header.uid,
        gid: header.gid,
        mtime: header.mtime.getTime() / 1000,
        size: header.size,
        ...(type === "file" ? { digest: digestFromHex(h.digest("hex")) } : {}),
        ...(type === "symlink" || type === "hardlink" ? { target: type === "hardlink" ? `/${header.linkname ?? ""}` : (header.linkname ?? "") } : {}),
      });
      next();
    });
    stream.resume();
  });
  try {
    await pipeline([
      await layer.openBlob(),
      blob.stream,
      ...decompression(compressionOf(layer.mediaType) ?? "none"),
      tarred.stream,
      ex as unknown as NodeJS.WritableStream,
    ]);
  } catch (e) {
    problems.push(error(where, `cannot read the layer: ${(e as Error).message}`));
  }
  const digest = blob.digest();
  const diffId = tarred.digest();
  if (digest !== layer.digest) problems.push(error(where, `blob digest ${digest} does not match descriptor ${layer.digest}`));
  if (blob.size() !== layer.size) problems.push(error(where, `blob has ${blob.size()} bytes, descriptor says ${layer.size}`));
  if (diffId !== layer.diffId) problems.push(error(where, `uncompressed digest ${diffId} does not match diff_id ${layer.diffId}`));
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) problems.push(error({ ...where, path: f.path }, "path appears twice in the layer"));
    seen.add(f.path);
  }
  return { digest: layer.digest, mediaType: layer.mediaType, size: layer.size, diffId: layer.diffId, files };
};

/**
 * Reads every layer once, verifying and listing it.
 *
 * @category destructors
 */
export const inspectImage = (image: Image): Promise<Inspection> => inspectLayers(image.source, image.layers);

/**
 * Reads layers once each, verifying and listing them; `source` names them in problems.
 *
 * @category destructors
 */
export const inspectLayers = async (source: string, opened: ReadonlyArray<Layer>): Promise<Inspection> => {
  const problems: Diagnostic[] = [];
  const layers: InspectedLayer[] = [];
  for (const [i, l] of opened.entries()) layers.push(await inspectLayer(source, l, i, problems));
  return { layers, problems };
};

/**
 * The file tree a container sees: layers applied in order, with OCI whiteouts. The map
 * is a new one, the caller's to change.
 *
 * @category destructors
 */
export const flattenLayers = <F extends { readonly path: string; readonly type: string }>(
  layers: ReadonlyArray<{ readonly files: ReadonlyArray<F> }>,
): Map<string, F> => {
  const tree = new Map<string, F>();
  const under = (segments: ReadonlyArray<string>): string => (segments.length === 0 ? "/" : `/${segments.join("/")}/`);
  const removeBelow = (prefix: string): void => {
    for (const k of [...tree.keys()]) if (k.startsWith(prefix)) tree.delete(k);
  };
  for (const l of layers) {
    // A layer's whiteouts take away only what lower layers hold, whatever the order of
    // its entries (`.wh..wh..opq` sorts after `.bashrc`): they are applied first, before
    // any of its own entries is in the tree.
    const own: F[] = [];
    for (const f of l.files) {
      // The rules every sink applies; a name they refuse was reported by inspect.
      const name = classifyLayerEntry(f.path);
      if (E.isLeft(name)) continue;
      switch (name.right._tag) {
        case "Root":
          continue;
        case "Opaque":
          removeBelow(under(name.right.dir));
          continue;
        case "Whiteout": {
          const gone = `${under(name.right.dir)}${name.right.name}`;
          tree.delete(gone);
          removeBelow(`${gone}/`);
          continue;
        }
        case "Path":
          own.push(f);
          continue;
        default: {
          const never: never = name.right;
          throw new Error(`unknown layer entry ${JSON.stringify(never)}`);
        }
      }
    }
    for (const f of own) {
      if (f.type !== "dir" && tree.get(f.path)?.type === "dir") removeBelow(`${f.path}/`);
      tree.set(f.path, f);
    }
  }
  return tree;
};
