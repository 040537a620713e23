/**
 * One pass over every layer of an opened image: re-hashes the stored blob and the
 * uncompressed tar, checks them against the descriptor and the config's diff_ids, and
 * lists the files. This is both `lading inspect` and the validator every test runs.
 */
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import * as tar from "tar-stream";
import type { Diagnostic, Digest } from "../core/index.ts";
import { createDigestingStream, digestFromHex, error } from "../core/index.ts";
import type { OpenedImage, OpenedLayer } from "./read.ts";

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

const inspectLayer = async (source: string, layer: OpenedLayer, index: number, problems: Diagnostic[]): Promise<InspectedLayer> => {
  const blob = createDigestingStream();
  const tarred = createDigestingStream();
  const files: LayerFile[] = [];
  const where = { file: source, layer: `#${index + 1} ${layer.descriptor.digest.slice(0, 19)}` };
  const ex = tar.extract();
  ex.on("entry", (header, stream, next) => {
    const h = createHash("sha256");
    stream.on("data", (c: unknown) => h.update(c as Buffer));
    stream.on("end", () => {
      const type = typeOf(header.type);
      const p = `/${header.name.replace(/^\.?\/+/, "").replace(/\/+$/, "")}`;
      files.push({
        path: p === "/" ? "/" : p,
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
  const gz = layer.descriptor.mediaType.endsWith("gzip");
  try {
    await pipeline([
      layer.openBlob(),
      blob.stream,
      ...(gz ? [zlib.createGunzip()] : []),
      tarred.stream,
      ex as unknown as NodeJS.WritableStream,
    ]);
  } catch (e) {
    problems.push(error(where, `cannot read the layer: ${(e as Error).message}`));
  }
  const digest = blob.digest();
  const diffId = tarred.digest();
  if (digest !== layer.descriptor.digest) problems.push(error(where, `blob digest ${digest} does not match descriptor ${layer.descriptor.digest}`));
  if (blob.size() !== layer.descriptor.size) problems.push(error(where, `blob has ${blob.size()} bytes, descriptor says ${layer.descriptor.size}`));
  if (diffId !== layer.diffId) problems.push(error(where, `uncompressed digest ${diffId} does not match diff_id ${layer.diffId}`));
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) problems.push(error({ ...where, path: f.path }, "path appears twice in the layer"));
    seen.add(f.path);
  }
  return { digest: layer.descriptor.digest, mediaType: layer.descriptor.mediaType, size: layer.descriptor.size, diffId: layer.diffId, files };
};

/**
 * Reads every layer once, verifying and listing it.
 *
 * @category destructors
 */
export const inspectImage = (image: OpenedImage): Promise<Inspection> => inspectLayers(image.source, image.layers);

/**
 * Reads layers once each, verifying and listing them; `source` names them in problems.
 *
 * @category destructors
 */
export const inspectLayers = async (source: string, opened: ReadonlyArray<OpenedLayer>): Promise<Inspection> => {
  const problems: Diagnostic[] = [];
  const layers: InspectedLayer[] = [];
  for (const [i, l] of opened.entries()) layers.push(await inspectLayer(source, l, i, problems));
  return { layers, problems };
};

/**
 * The file tree a container sees: layers applied in order, with OCI whiteouts.
 *
 * @category destructors
 */
export const flattenLayers = <F extends { readonly path: string; readonly type: string }>(
  layers: ReadonlyArray<{ readonly files: ReadonlyArray<F> }>,
): ReadonlyMap<string, F> => {
  const tree = new Map<string, F>();
  for (const l of layers) {
    for (const f of l.files) {
      const base = f.path.slice(f.path.lastIndexOf("/") + 1);
      const dir = f.path.slice(0, f.path.lastIndexOf("/")) || "/";
      const prefix = dir === "/" ? "/" : `${dir}/`;
      if (base === ".wh..wh..opq") {
        for (const k of [...tree.keys()]) if (k.startsWith(prefix)) tree.delete(k);
        continue;
      }
      if (base.startsWith(".wh.")) {
        const gone = `${prefix}${base.slice(4)}`;
        for (const k of [...tree.keys()]) if (k === gone || k.startsWith(`${gone}/`)) tree.delete(k);
        continue;
      }
      if (f.type !== "dir" && tree.get(f.path)?.type === "dir") {
        for (const k of [...tree.keys()]) if (k.startsWith(`${f.path}/`)) tree.delete(k);
      }
      tree.set(f.path, f);
    }
  }
  return tree;
};
