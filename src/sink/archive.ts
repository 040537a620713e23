/**
 * Deterministic tar archives of whole images (oci-archive, docker-archive): entries in a
 * fixed order, mtime 0, root-owned, written to a temp file and renamed into place.
 */
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { tempNameFor } from "../store/index.ts";

/**
 * One member of an archive: bytes, or a file streamed from disk through transforms
 * (that check a blob against its digest, and gunzip layers into docker-archive).
 *
 * @category model
 */
export type ArchiveMember =
  | { readonly name: string; readonly bytes: Uint8Array }
  | { readonly name: string; readonly file: string; readonly size: number; readonly transforms?: () => ReadonlyArray<NodeJS.ReadWriteStream> };

const EPOCH = new Date(0);

const writeMembers = async (pack: tar.Pack, members: ReadonlyArray<ArchiveMember>): Promise<void> => {
  const dirs = new Set<string>();
  for (const m of members) {
    const segs = m.name.split("/");
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join("/");
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      await new Promise<void>((res, rej) => pack.entry({ name: dir, type: "directory", mode: 0o40755, mtime: EPOCH }, (e) => (e ? rej(e) : res())).on("error", rej));
    }
    if ("bytes" in m) {
      await new Promise<void>((res, rej) =>
        pack.entry({ name: m.name, type: "file", mode: 0o100644, mtime: EPOCH }, Buffer.from(m.bytes), (e) => (e ? rej(e) : res())).on("error", rej),
      );
      continue;
    }
    const sink = pack.entry({ name: m.name, type: "file", mode: 0o100644, mtime: EPOCH, size: m.size });
    const source = createReadStream(m.file);
    await pipeline([source, ...(m.transforms?.() ?? []), sink as unknown as NodeJS.WritableStream]);
  }
  pack.finalize();
};

/**
 * Writes an archive to `file` whole or not at all.
 *
 * @category destructors
 */
export const writeArchive = async (file: string, members: ReadonlyArray<ArchiveMember>): Promise<void> => {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempNameFor(path.resolve(file));
  const pack = tar.pack();
  const producing = writeMembers(pack, members).catch((e: unknown) => {
    pack.destroy(e as Error);
    throw e;
  });
  try {
    await Promise.all([producing, pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(tmp))]);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    await producing;
    throw e;
  }
};
