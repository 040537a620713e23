/**
 * Tar archives of whole images (oci-archive, docker-archive). Written deterministically:
 * entries in a fixed order, mtime 0, root-owned, to a temp file renamed into place. Read
 * by unpacking into a temp directory whose every path stays inside it.
 */
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as E from "fp-ts/lib/Either.js";
import * as tar from "tar-stream";
import { DiagnosticError, failAt } from "../core/index.ts";
import { classifyLayerEntry, eachMember } from "../oci/index.ts";
import { tempDirPrefix, tempNameFor } from "../store/index.ts";
import { resolveInRoot } from "./InRootPath.ts";

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
    const source = createReadStream(m.file, { highWaterMark: 1 << 20 });
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

/**
 * Unpacks an archive's files into `dir`. Member names are resolved inside `dir` as a
 * rootfs path is, and one that climbs out with `..` or holds a whiteout name is refused:
 * no archive member is written anywhere else, whatever its name.
 */
const extractTo = async (file: string, dir: string, source: string): Promise<void> => {
  const ex = tar.extract();
  const root = path.resolve(dir);
  const cache = new Map<string, string>();
  eachMember(ex, async (header, stream) => {
    const name = classifyLayerEntry(header.name);
    if (E.isLeft(name) || name.right._tag !== "Path") return failAt(source, `archive member ${JSON.stringify(header.name)} ${E.isLeft(name) ? name.left : "is not a file name"}: refused`);
    // Links are not followed by the readers and never made here: files and directories only.
    if (header.type !== "file" && header.type !== "directory") return;
    const dest = await resolveInRoot(root, name.right.segments.join("/"), source, { create: true, followLast: false, cache });
    if (header.type === "directory") await fs.mkdir(dest, { recursive: true });
    else {
      // A member named twice would mean one thing to one reader and another to the next.
      const out = await fs.open(dest, "wx").catch((e: NodeJS.ErrnoException) => {
        if (e.code === "EEXIST") return failAt(source, `archive member ${JSON.stringify(header.name)} appears twice: refused`);
        throw e;
      });
      await pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream("", { fd: out.fd, autoClose: false })).finally(() => out.close());
    }
  });
  try {
    await pipeline(createReadStream(file), ex as unknown as NodeJS.WritableStream);
  } catch (e) {
    if (e instanceof DiagnosticError) throw e;
    failAt(source, `cannot read the archive: ${(e as Error).message}`);
  }
};

/**
 * Unpacks the archive `file` into a fresh temp directory and reads it with `open`; the
 * directory goes with the `close` it is given, or at once when reading fails.
 *
 * @category destructors
 */
export const openUnpacked = async <A>(file: string, source: string, open: (dir: string, close: () => Promise<void>) => Promise<A>): Promise<A> => {
  await fs.access(file).catch(() => failAt(source, "no such file"));
  const tmp = await fs.mkdtemp(tempDirPrefix(os.tmpdir(), "open"));
  const close = (): Promise<void> => fs.rm(tmp, { recursive: true, force: true });
  try {
    await extractTo(file, tmp, source);
    return await open(tmp, close);
  } catch (e) {
    await close();
    throw e;
  }
};
