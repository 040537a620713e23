/**
 * `oci-archive:FILE[:TAG]`, an OCI image layout as one tar file. Read by unpacking it
 * and reading the layout; written from the store as a deterministic archive whose every
 * blob is checked on its way in.
 */
import * as fs from "node:fs/promises";
import { canonicalJson, digestHex } from "../core/index.ts";
import { manifestOf, taggedDescriptor } from "../oci/index.ts";
import { sweepBeside } from "../store/index.ts";
import type { ArchiveMember } from "./archive.ts";
import { openUnpacked, writeArchive } from "./archive.ts";
import { blobDigests, checkedBlob, ensureAll, verifyDiffIds } from "./blobs.ts";
import type { Endpoint, WriteContext } from "./Endpoint.ts";
import { OCI_LAYOUT, openOciDir, withTag } from "./oci.ts";

const members = async ({ store, blobs, image, opts }: WriteContext, tag: string): Promise<ArchiveMember[]> => {
  await ensureAll(blobs, blobDigests(image));
  const index = withTag(undefined, taggedDescriptor(manifestOf(image), tag, opts.platform), tag);
  const files = await Promise.all(
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
    ...files,
  ];
};

/**
 * The archive `file`; the tag defaults to `latest` when written.
 *
 * @category constructors
 */
export const ociArchive = (file: string, tag: string | undefined, source: string): Endpoint => ({
  source,
  open: () => openUnpacked(file, source, (dir, close) => openOciDir(dir, tag, source, close)),
  write: async (w) => {
    await verifyDiffIds(w.store, w.blobs, w.image);
    await sweepBeside(file);
    await writeArchive(file, await members(w, tag ?? "latest"));
  },
});
