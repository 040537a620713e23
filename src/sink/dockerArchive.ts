/**
 * `docker-archive:FILE[:NAME:TAG]`, what `podman load` and `docker load` read: a
 * manifest.json naming the config and each layer's file. Read by unpacking it and hashing
 * each layer file (the archive names layers by file, not digest); written with every
 * layer as an uncompressed tar named by its diff_id. Uncompressed, because that is what
 * podman load takes fastest: it stores such a layer as it is, where a gzip layer is
 * decompressed and hashed again (for a 1 GiB image, 1.6 s against 6.5 s). A base layer's
 * size comes from the store's record of what it unpacks to, so it is decompressed once
 * per write, not twice.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { canonicalJson, digestHex, digestOf, digestOfFile, failAt } from "../core/index.ts";
import type { Layer, OpenedImage } from "../oci/index.ts";
import { decompression, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DockerArchiveManifest, fileLayer, ImageConfig as ImageConfigC, OCI_LAYER_ZSTD } from "../oci/index.ts";
import { sweepBeside } from "../store/index.ts";
import type { ArchiveMember } from "./archive.ts";
import { openUnpacked, writeArchive } from "./archive.ts";
import { checkedBlob, ensureAll, layerCompression, verifyDiffId } from "./blobs.ts";
import type { Endpoint, WriteContext } from "./Endpoint.ts";
import { decodeOrFail, sniffCompression } from "./opened.ts";

const openDockerDir = async (dir: string, ref: string | undefined, source: string, close: () => Promise<void>): Promise<OpenedImage> => {
  const entries = decodeOrFail(DockerArchiveManifest, await fs.readFile(path.join(dir, "manifest.json"), "utf8").catch(() => failAt(source, "not a docker archive (no manifest.json)")), `${source}: manifest.json`);
  const want = ref === undefined ? undefined : withLatest(ref);
  const candidates = want === undefined ? entries : entries.filter((e) => (e.RepoTags ?? []).includes(want));
  if (candidates.length !== 1) failAt(source, candidates.length === 0 ? `no image named ${want}` : "the archive holds several images: name one");
  const entry = candidates[0]!;
  const inside = (name: string): string => {
    const p = path.resolve(dir, name);
    if (!p.startsWith(path.resolve(dir) + path.sep)) failAt(source, `member ${name} escapes the archive`);
    return p;
  };
  const configBytes = await fs.readFile(inside(entry.Config)).catch(() => failAt(source, `config ${entry.Config} is missing`));
  const config = decodeOrFail(ImageConfigC, configBytes.toString("utf8"), `${source}: ${entry.Config}`);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) failAt(source, `the config lists ${config.rootfs.diff_ids.length} diff_ids for ${entry.Layers.length} layers`);
  // Each layer is hashed here, streamed and one at a time, so a layer of any size fits in memory.
  const layers: Layer[] = [];
  for (const [i, name] of entry.Layers.entries()) {
    const file = inside(name);
    const compression = await sniffCompression(file).catch(() => failAt(source, `layer ${name} is missing`));
    const { digest, size } = await digestOfFile(file);
    // Docker has no media type of its own for zstd: the OCI one, as Docker itself writes it.
    const mediaType = compression === "gzip" ? DOCKER_LAYER_GZIP : compression === "zstd" ? OCI_LAYER_ZSTD : DOCKER_LAYER_TAR;
    layers.push(fileLayer({ mediaType, digest, size }, config.rootfs.diff_ids[i]!, async () => file));
  }
  return { source, manifest: undefined, config: { value: config, bytes: configBytes, digest: digestOf(configBytes) }, layers, close };
};

const members = async ({ store, blobs, image }: WriteContext, ref: string): Promise<ArchiveMember[]> => {
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
      transforms: () => [checkedBlob(store, l.digest), ...decompression(compression, 1 << 20)],
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

const withLatest = (ref: string): string => (/:[^/]+$/.test(ref) ? ref : `${ref}:latest`);

/**
 * The archive `file`; written without a name, the image is
 * `localhost/<default name, lowercased>:latest`.
 *
 * @category constructors
 */
export const dockerArchive = (file: string, ref: string | undefined, source: string): Endpoint => ({
  source,
  open: () => openUnpacked(file, source, (dir, close) => openDockerDir(dir, ref, source, close)),
  write: async (w) => {
    await sweepBeside(file);
    await writeArchive(file, await members(w, withLatest(ref ?? `localhost/${w.opts.defaultName.toLowerCase()}`)));
  },
});
