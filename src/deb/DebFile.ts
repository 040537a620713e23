/**
 * Reading a `.deb` (deb(5)): an `ar` archive of `debian-binary`, `control.tar.*` and
 * `data.tar.*`. The data archive (xz, zstd, gzip or plain: Debian's use xz, Ubuntu's
 * zstd) is streamed through its decompressor and read as entries for a layer. A
 * package's data is refused when it holds a name with `..`, an absolute name, a hard
 * link to a path outside it, or an entry below one of its own symlinks (which would
 * write wherever the link points); absolute symlinks are kept, they are normal inside
 * an image and write nothing.
 */
import { Readable } from "node:stream";
import * as zlib from "node:zlib";
import xzDecompress from "xz-decompress";
import type { EntryWithout } from "../plan/index.ts";
import type { Digest, ImagePath } from "../core/index.ts";
import { createZstdDecoder } from "../core/index.ts";
import { fileMember, imagePathOf, memberAttributes, readTar, symlinkAbove } from "../archive/index.ts";

/**
 * One entry of a package's data archive, as it goes into a layer.
 *
 * @category model
 */
export type DebEntry = EntryWithout<"source">;

/**
 * What a `.deb` holds: its control file, its md5sums and conffiles (for the dpkg
 * database), and its data entries in archive order.
 *
 * @category model
 */
export interface DebContents {
  readonly control: string;
  readonly md5sums: string;
  readonly conffiles: string;
  readonly entries: ReadonlyArray<DebEntry>;
}

/**
 * A `.deb` that cannot be read or is refused; `message` says why.
 *
 * @category model
 */
export class DebError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DebError";
  }
}

const { XzReadableStream } = xzDecompress as unknown as { XzReadableStream: new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };

/** The members of an ar archive, by name. */
const arMembers = (deb: Uint8Array): Map<string, Uint8Array> => {
  const buf = Buffer.from(deb.buffer, deb.byteOffset, deb.byteLength);
  if (buf.subarray(0, 8).toString("latin1") !== "!<arch>\n") throw new DebError("not a .deb: no ar signature");
  const out = new Map<string, Uint8Array>();
  let at = 8;
  while (at + 60 <= buf.length) {
    const header = buf.subarray(at, at + 60).toString("latin1");
    if (header.slice(58, 60) !== "`\n") throw new DebError(`not a .deb: a broken ar header at byte ${at}`);
    const name = header.slice(0, 16).trim().replace(/\/$/, "");
    const size = Number(header.slice(48, 58).trim());
    if (!Number.isSafeInteger(size) || at + 60 + size > buf.length) throw new DebError(`not a .deb: member ${name} runs past the end`);
    out.set(name, buf.subarray(at + 60, at + 60 + size));
    at += 60 + size + (size % 2);
  }
  return out;
};

/** The member `prefix.tar[.xz|.zst|.gz]`, decompressed as a stream. */
const tarMember = (members: Map<string, Uint8Array>, prefix: string): Readable => {
  for (const [name, bytes] of members) {
    if (!name.startsWith(`${prefix}.tar`)) continue;
    const source = Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    switch (name.slice(prefix.length + 4)) {
      case "":
        return source;
      case ".gz":
        return source.pipe(zlib.createGunzip());
      case ".xz":
        return Readable.fromWeb(new XzReadableStream(Readable.toWeb(source) as ReadableStream<Uint8Array>) as import("node:stream/web").ReadableStream);
      case ".zst":
        return source.pipe(createZstdDecoder());
      default:
        throw new DebError(`${name}: compression not supported (xz, zstd, gzip or none)`);
    }
  }
  throw new DebError(`not a .deb: no ${prefix}.tar member`);
};

/**
 * Reads a `.deb`: control data, and the data archive's entries with each file's sha256.
 * With `files`, each file's bytes are handed to it too (for a build). Throws a
 * {@link DebError} for what it refuses.
 *
 * @category destructors
 */
export const readDeb = async (deb: Uint8Array, files?: (digest: Digest, bytes: Buffer) => void): Promise<DebContents> => {
  const members = arMembers(deb);
  const control = new Map<string, string>();
  await readTar(
    tarMember(members, "control"),
    (h, body) => {
      const name = h.name.replace(/^\.\//, "");
      if (body !== undefined) control.set(name, body.toString("utf8"));
    },
    (h) => ["control", "md5sums", "conffiles"].includes(h.name.replace(/^\.\//, "")),
  );
  const controlText = control.get("control");
  if (controlText === undefined) throw new DebError("not a .deb: its control archive has no control file");
  const entries: DebEntry[] = [];
  const symlinks = new Set<string>();
  const seen = new Set<string>();
  await readTar(
    tarMember(members, "data"),
    (h, body) => {
      const p = imagePathOf(h.name);
      if (p === undefined) return;
      if (!p.startsWith("/")) throw new DebError(`its data holds ${p}`);
      const path = p as ImagePath;
      const through = symlinkAbove(symlinks, path);
      if (through !== undefined) throw new DebError(`its data writes ${path} through its own symlink ${through}`);
      const common = memberAttributes(h, path);
      switch (h.type) {
        case "file":
        case "contiguous-file":
          entries.push(fileMember(h, path, body, files));
          break;
        case "directory":
          entries.push({ ...common, type: "dir" });
          break;
        case "symlink":
          if (!h.linkname) throw new DebError(`its symlink ${path} has no target`);
          symlinks.add(path);
          entries.push({ ...common, type: "symlink", mode: 0o777, target: h.linkname });
          break;
        case "link": {
          const t = imagePathOf(h.linkname ?? "");
          if (t === undefined || !t.startsWith("/") || !seen.has(t)) throw new DebError(`its hard link ${path} points to ${JSON.stringify(h.linkname)}, not a file before it in the package`);
          entries.push({ ...common, type: "hardlink", mode: common.mode, target: t });
          break;
        }
        default:
          throw new DebError(`its data holds ${path}, a ${h.type ?? "special file"}: only files, directories and links go into layers`);
      }
      seen.add(path);
    },
    () => true,
  );
  return { control: controlText, md5sums: control.get("md5sums") ?? "", conffiles: control.get("conffiles") ?? "", entries };
};
