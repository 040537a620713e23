/**
 * Reading tar archives into layer entries: a `.deb`'s data archive and an archive a spec
 * extracts (`Entry.archive`, `Entry.fetch` with `extract`). The compression is told by
 * the first bytes, never by the name. What would write outside the place it is
 * extracted to, or hide files of lower layers, is refused, naming the member: an
 * absolute name, a `..`, a `.wh.` name, an entry below one of its own symlinks, a
 * relative symlink or a hard link leading out of it, and devices or fifos.
 */
import { Readable } from "node:stream";
import * as t from "io-ts";
import * as tar from "tar-stream";
import xzDecompress from "xz-decompress";
import type { Digest, ImagePath } from "../core/index.ts";
import { digestOf } from "../core/index.ts";
import { compressionOfHead, decompression, DigestC, whiteoutComponent } from "../oci/index.ts";
import type { EntryWithout } from "../plan/index.ts";

const { XzReadableStream } = xzDecompress as unknown as { XzReadableStream: new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };

/**
 * One entry of an archive, its path relative to where it is extracted (`/` being that
 * place), as it goes into a layer.
 *
 * @category model
 */
export type TarEntry = EntryWithout<"source">;

/**
 * The codec of a {@link TarEntry}, for listings kept in the store.
 *
 * @category instances
 */
export const TarEntryC = t.intersection([
  t.type({ path: t.string, type: t.keyof({ file: null, dir: null, symlink: null, hardlink: null }), mode: t.number, uid: t.number, gid: t.number }),
  t.partial({ size: t.number, digest: DigestC, target: t.string }),
]);

/**
 * An archive refused or unreadable: `member` is the name as the archive writes it, when
 * one member is to blame.
 *
 * @category model
 */
export class TarError extends Error {
  constructor(
    message: string,
    readonly member?: string,
  ) {
    super(message);
    this.name = "TarError";
  }
}

/**
 * A member's name as a path below the extraction root, undefined for the root itself,
 * or why it is refused.
 *
 * @category destructors
 */
export const imagePathOf = (raw: string): ImagePath | string | undefined => {
  if (raw.startsWith("/")) return `an absolute name ${JSON.stringify(raw)}`;
  const segs = raw.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.includes("..")) return `a name with .. ${JSON.stringify(raw)}`;
  if (raw.includes("\0")) return "a name with a NUL byte";
  return segs.length === 0 ? undefined : `/${segs.join("/")}`;
};

/**
 * The first directory above `path` that is one of the archive's own `symlinks`: a
 * member written through it would land wherever the link points.
 *
 * @category destructors
 */
export const symlinkAbove = (symlinks: ReadonlySet<string>, path: ImagePath): string | undefined => {
  for (let i = path.indexOf("/", 1); i > 0; i = path.indexOf("/", i + 1)) if (symlinks.has(path.slice(0, i))) return path.slice(0, i);
  return undefined;
};

/**
 * What every entry of a member has: its path, permission bits and owner.
 *
 * @category constructors
 */
export const memberAttributes = (h: tar.Header, path: ImagePath): { readonly path: ImagePath; readonly mode: number; readonly uid: number; readonly gid: number } => ({
  path,
  mode: (h.mode ?? 0o644) & 0o7777,
  uid: h.uid ?? 0,
  gid: h.gid ?? 0,
});

/**
 * A regular file member as an entry; its bytes go to `onFile` by their digest.
 *
 * @category constructors
 */
export const fileMember = (h: tar.Header, path: ImagePath, body: Buffer | undefined, onFile: ((digest: Digest, bytes: Buffer) => void) | undefined): TarEntry => {
  const bytes = body ?? Buffer.alloc(0);
  const digest = digestOf(bytes);
  onFile?.(digest, bytes);
  return { ...memberAttributes(h, path), type: "file", size: bytes.byteLength, digest };
};

/**
 * Reads every entry of a tar stream; `onEntry` gets each one, with a regular file's
 * bytes when `withBodies` asks for them. What `onEntry` throws ends the read.
 *
 * @category destructors
 */
export const readTar = async (
  stream: Readable,
  onEntry: (header: tar.Header, body: Buffer | undefined) => void,
  withBodies: (header: tar.Header) => boolean,
): Promise<void> => {
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, body, next) => {
      const parts: Buffer[] = [];
      const keep = (header.type === "file" || header.type === "contiguous-file") && withBodies(header);
      body.on("data", (c: unknown) => {
        if (keep) parts.push(c as Buffer);
      });
      body.on("end", () => {
        try {
          onEntry(header, keep ? Buffer.concat(parts) : undefined);
          next();
        } catch (e) {
          extract.destroy(e as Error);
        }
      });
      body.on("error", reject);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
    stream.on("error", reject);
  });
  stream.pipe(extract);
  await done;
};

/** The first bytes of the compressions lading reads here besides a layer's, or refuses by name. */
const XZ = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const REFUSED: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [["bzip2", [0x42, 0x5a, 0x68]]];

const startsWith = (head: Uint8Array, magic: ReadonlyArray<number>): boolean => magic.every((b, i) => head[i] === b);

/**
 * The tar stream inside `source`, whose first bytes are `head`: gzip, xz and zstd are
 * decompressed, anything else is read as a plain tar.
 *
 * @category destructors
 */
export const decompressedTar = (source: Readable, head: Uint8Array): Readable => {
  const [decompress] = decompression(compressionOfHead(head));
  if (decompress !== undefined) return source.pipe(decompress);
  if (startsWith(head, XZ)) return Readable.fromWeb(new XzReadableStream(Readable.toWeb(source) as ReadableStream<Uint8Array>) as import("node:stream/web").ReadableStream);
  const refused = REFUSED.find(([, magic]) => startsWith(head, magic));
  if (refused !== undefined) throw new TarError(`is compressed with ${refused[0]}: lading reads plain, gzip, xz and zstd tar archives`);
  return source;
};

/** Whether the relative symlink target leads above the root from the link at `at`. */
const leavesRoot = (at: ImagePath, target: string): boolean => {
  let depth = at.split("/").length - 2;
  for (const seg of target.split("/")) {
    if (seg === "" || seg === ".") continue;
    depth += seg === ".." ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
};

/**
 * Reads an archive's tar stream into entries, in archive order, a later member at a
 * path replacing an earlier one as tar does; `onFile` gets each file's bytes by digest.
 * Throws a {@link TarError} naming the member it refuses.
 *
 * @category destructors
 */
export const listTarArchive = async (stream: Readable, onFile: (digest: Digest, bytes: Buffer) => void): Promise<ReadonlyArray<TarEntry>> => {
  const entries = new Map<string, TarEntry>();
  const symlinks = new Set<string>();
  await readTar(
    stream,
    (h, body) => {
      const refuse = (why: string): never => {
        throw new TarError(why, h.name);
      };
      const p = imagePathOf(h.name);
      if (p === undefined) return;
      if (!p.startsWith("/")) refuse(`has ${p}`);
      const path = p as ImagePath;
      const whiteout = whiteoutComponent(path);
      if (whiteout !== undefined) refuse(`has the name ${whiteout}, an OCI whiteout that would delete files of lower layers`);
      const through = symlinkAbove(symlinks, path);
      if (through !== undefined) refuse(`is written through the archive's own symlink ${through}`);
      const common = memberAttributes(h, path);
      switch (h.type) {
        case "file":
        case "contiguous-file":
          entries.set(path, fileMember(h, path, body, onFile));
          break;
        case "directory":
          entries.set(path, { ...common, type: "dir" });
          break;
        case "symlink": {
          const target = h.linkname ?? "";
          if (target === "" || target.includes("\0")) refuse("is a symlink without a target");
          if (!target.startsWith("/") && leavesRoot(path, target)) refuse(`is a symlink to ${JSON.stringify(target)}, outside the archive`);
          symlinks.add(path);
          entries.set(path, { ...common, type: "symlink", mode: 0o777, target });
          break;
        }
        case "link": {
          const target = imagePathOf(h.linkname ?? "");
          if (target === undefined || !target.startsWith("/") || entries.get(target)?.type !== "file") {
            refuse(`is a hard link to ${JSON.stringify(h.linkname)}, not a file before it in the archive`);
          }
          entries.set(path, { ...common, type: "hardlink", target: target! });
          break;
        }
        default:
          refuse(`is a ${h.type ?? "special file"}: only files, directories and links go into layers`);
      }
    },
    () => true,
  );
  return [...entries.values()];
};
