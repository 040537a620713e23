/**
 * The deterministic tar writer: entries in plan order (sorted, parents first), mtime
 * from the plan, uid/gid from the spec, no user or group names, USTAR headers where they
 * fit and PAX where they do not (tar-stream decides). File contents are re-hashed while
 * streaming and must match the plan, so a host file edited between plan and build fails
 * the build instead of producing an image that lies about its plan.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { Readable } from "node:stream";
import type * as tar from "tar-stream";
import { DiagnosticError, digestFromHex, digestOf, error } from "../core/index.ts";
import type { PlanInputs, PlannedEntry, PlannedFile, PlannedLayer } from "../plan/index.ts";

/**
 * Version of lading's tar layout; part of every layer cache key.
 *
 * @category model
 */
export const TAR_FORMAT = "lading-tar/1";

const SMALL_FILE = 1 << 20;

/** The tar's bytes are handed on in chunks of this size, not three pieces a file. */
const CHUNK = 1 << 20;

/**
 * mode 0 is falsy to tar-stream, which would replace it by its default: the file type
 * bits make it truthy and are masked off when the header is encoded.
 */
const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000, link: 0o100000 } as const;

type TarHeader = Pick<tar.Header, "name" | "uid" | "gid" | "mtime" | "type" | "mode"> & Partial<Pick<tar.Header, "size" | "linkname">>;

/**
 * tar-stream's own header encoder, the one its pack writes with: lading's headers are its
 * bytes exactly, as they were when every entry went through a pack. The package does not
 * export the module by name, so it is found beside the package's entry point.
 */
interface HeaderEncoder {
  encode(header: object): Buffer | null;
  encodePax(header: { readonly name: string; readonly linkname?: string | undefined }): Buffer;
}
const headers: HeaderEncoder = (() => {
  const require = createRequire(import.meta.url);
  return require(path.join(path.dirname(require.resolve("tar-stream")), "headers.js")) as HeaderEncoder;
})();

/** Zeros to pad a body to whole blocks, and the two blocks that end a tar. */
const ZEROS = Buffer.alloc(1024);

/**
 * A header as tar-stream's pack writes it: USTAR where the name and link fit, else a
 * PAX header carrying them, then the USTAR header again.
 */
const encodeHeader = (h: TarHeader): ReadonlyArray<Buffer> => {
  const plain = headers.encode(h);
  if (plain !== null) return [plain];
  const pax = headers.encodePax({ name: h.name, linkname: h.linkname });
  const outer = { name: "PaxHeader", mode: h.mode, uid: h.uid, gid: h.gid, size: pax.byteLength, mtime: h.mtime, type: "pax-header", linkname: h.linkname && "PaxHeader" };
  const padding = pax.byteLength & 511;
  return [headers.encode(outer)!, pax, ...(padding === 0 ? [] : [ZEROS.subarray(0, 512 - padding)]), headers.encode({ ...outer, size: h.size, type: h.type })!];
};

const headerOf = (e: PlannedEntry, mtime: Date): TarHeader => {
  const name = e.path.slice(1);
  switch (e.type) {
    case "file":
      return { name, uid: e.uid, gid: e.gid, mtime, type: "file", mode: TYPE_BITS.file | e.mode, size: e.size ?? 0 };
    case "dir":
      return { name, uid: e.uid, gid: e.gid, mtime, type: "directory", mode: TYPE_BITS.directory | e.mode, size: 0 };
    case "symlink":
      return { name, uid: e.uid, gid: e.gid, mtime, type: "symlink", mode: TYPE_BITS.symlink | 0o777, size: 0, linkname: e.target ?? "" };
    case "hardlink":
      return { name, uid: e.uid, gid: e.gid, mtime, type: "link", mode: TYPE_BITS.link | 0o644, size: 0, linkname: (e.target ?? "/").slice(1) };
  }
};

/**
 * Where a layer's tar is written: bytes are gathered into chunks of 1 MiB and pushed to
 * `stream`; a write waits while the reader is behind.
 *
 * @category model
 */
export interface TarStream {
  readonly stream: Readable;
  /** Copies `b` in; resolves at once unless a full chunk has to wait for the reader. */
  write(b: Uint8Array): Promise<void>;
  /** The last chunk, then the end of the stream. */
  end(): Promise<void>;
}

/**
 * A stream for {@link writeLayerTar}. Small entries cost a copy into the current chunk,
 * not a stream object, a header object and three buffers each: for 200,000 small files
 * that garbage, outliving young collections in the queues, filled the old heap.
 *
 * @category constructors
 */
export const tarStream = (): TarStream => {
  let wake: (() => void) | undefined;
  const stream = new Readable({
    highWaterMark: CHUNK,
    read() {
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  let chunk = Buffer.allocUnsafe(CHUNK);
  let used = 0;
  // A reader that fails closes the stream: a write waiting for it is let go, and fails.
  stream.on("close", () => {
    const w = wake;
    wake = undefined;
    w?.();
  });
  const closed = (): Error => new Error("the layer stream was closed");
  const push = async (b: Buffer): Promise<void> => {
    if (stream.destroyed) throw closed();
    if (stream.push(b)) return;
    await new Promise<void>((r) => (wake = r));
    if (stream.destroyed) throw closed();
  };
  const flush = async (): Promise<void> => {
    if (used === 0) return;
    const full = chunk.subarray(0, used);
    chunk = Buffer.allocUnsafe(CHUNK);
    used = 0;
    await push(full);
  };
  return {
    stream,
    write: async (b) => {
      for (let off = 0; off < b.byteLength; ) {
        const n = Math.min(b.byteLength - off, CHUNK - used);
        chunk.set(b.subarray(off, off + n), used);
        used += n;
        off += n;
        if (used === CHUNK) await flush();
      }
    },
    end: async () => {
      await flush();
      stream.push(null);
    },
  };
};

/**
 * PAX records `SCHILY.xattr.NAME=VALUE` (GNU tar's and the OCI layer spec's spelling), the
 * values as raw bytes: tar-stream writes PAX values as UTF-8 text, which would mangle a
 * binary capability set, so the extended header is written here as an entry of its own,
 * right before the file it describes.
 */
const paxRecords = (xattrs: Readonly<Record<string, string>>): Buffer =>
  Buffer.concat(
    Object.keys(xattrs)
      .sort()
      .map((name) => {
        const body = Buffer.concat([Buffer.from(` SCHILY.xattr.${name}=`), Buffer.from(xattrs[name]!, "base64"), Buffer.from("\n")]);
        // The length prefix counts itself: grow it until it does.
        let n = body.byteLength + 1;
        while (String(n).length + body.byteLength !== n) n = String(n).length + body.byteLength;
        return Buffer.concat([Buffer.from(String(n)), body]);
      }),
  );

/** A field of a USTAR header: octal, zero-padded, NUL-terminated. */
const octal = (n: number, width: number): string => `${n.toString(8).padStart(width - 1, "0")}\0`;

/**
 * A PAX extended header (typeflag `x`) carrying `records`, padded to whole blocks.
 * tar-stream writes bodies for regular files only, so this one is made here.
 */
const paxExtendedHeader = (e: PlannedEntry, records: Buffer, created: number): Buffer => {
  // A name that needs its own PAX header would get a second one from tar-stream, and a
  // reader keeps only the last: such paths are refused rather than written without xattrs.
  if (Buffer.byteLength(e.path) > 100) throw new DiagnosticError([error({ path: e.path }, "a file with extended attributes needs a path of at most 100 bytes")]);
  const block = Buffer.alloc(512);
  block.write("PaxHeader", 0, "ascii");
  block.write(octal(0o644, 8), 100, "ascii");
  block.write(octal(0, 8), 108, "ascii");
  block.write(octal(0, 8), 116, "ascii");
  block.write(octal(records.byteLength, 12), 124, "ascii");
  block.write(octal(created, 12), 136, "ascii");
  block.write("x", 156, "ascii");
  block.write("ustar\0" + "00", 257, "ascii");
  // The checksum is summed with its own field as spaces.
  block.fill(" ", 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  const padding = (512 - (records.byteLength % 512)) % 512;
  return Buffer.concat([block, records, Buffer.alloc(padding)]);
};

const changed = (layer: string, e: PlannedFile, why: string): DiagnosticError =>
  new DiagnosticError([error({ layer, path: e.path }, `host file ${e.source} ${why} since it was planned`, "run the build again")]);


/**
 * Host paths of a layer's files, resolved once a directory: thousands of files of one
 * directory share its resolved path.
 */
const hostPaths = (specDir: string): ((source: string) => string) => {
  let dir: string | undefined;
  let resolved = "";
  return (source) => {
    const slash = source.lastIndexOf("/");
    const name = source.slice(slash + 1);
    if (name === "" || name === "." || name === "..") return path.resolve(specDir, source);
    const d = source.slice(0, slash + 1);
    if (d !== dir) {
      dir = d;
      resolved = path.resolve(specDir, d === "" ? "." : d);
    }
    return resolved === "/" ? `/${name}` : `${resolved}/${name}`;
  };
};

/**
 * Writes every entry of a planned layer into `out`, then ends it. Files are read
 * synchronously (a small read is microseconds; a promise-based one is a thread-pool round
 * trip).
 *
 * @category destructors
 */
export const writeLayerTar = async (out: TarStream, layer: PlannedLayer, inputs: PlanInputs, created: number): Promise<void> => {
  const mtime = new Date(created * 1000);
  const hostPath = hostPaths(inputs.specDir);
  const put = async (parts: ReadonlyArray<Uint8Array>): Promise<void> => {
    for (const p of parts) await out.write(p);
  };
  const padding = (size: number): ReadonlyArray<Buffer> => ((size & 511) === 0 ? [] : [ZEROS.subarray(0, 512 - (size & 511))]);
  for (const e of layer.entries) {
    const header = headerOf(e, mtime);
    if (e.xattrs !== undefined && Object.keys(e.xattrs).length > 0) await out.write(paxExtendedHeader(e, paxRecords(e.xattrs), created));
    if (e.type !== "file") {
      await put(encodeHeader(header));
    } else if (e.source === "inline") {
      const bytes = inputs.inline.get(e.digest);
      if (bytes === undefined) throw new Error(`inline content ${e.digest} missing from plan inputs`);
      await put([...encodeHeader({ ...header, size: bytes.byteLength }), bytes, ...padding(bytes.byteLength)]);
    } else {
      // A package file's content was unpacked into the store, verified, when planned; so
      // was an archive's, and a download.
      const abs = e.source!.startsWith("deb:") && inputs.packageContent !== undefined
        ? inputs.packageContent(e.digest)
        : (e.source!.startsWith("tar:") || e.source!.startsWith("url:")) && inputs.archiveContent !== undefined
          ? inputs.archiveContent(e.digest)
          : hostPath(e.source!);
      if ((e.size ?? 0) < SMALL_FILE) {
        let bytes: Buffer;
        try {
          bytes = fs.readFileSync(abs);
        } catch {
          throw changed(layer.name, e, "disappeared");
        }
        if (bytes.byteLength !== e.size || digestOf(bytes) !== e.digest) throw changed(layer.name, e, "changed");
        await put([...encodeHeader(header), bytes, ...padding(bytes.byteLength)]);
      } else {
        await put(encodeHeader(header));
        await addLargeFile(out, abs, layer.name, e);
        await put(padding(e.size ?? 0));
      }
    }
  }
  await out.write(ZEROS);
  await out.end();
};

/** Streams a large host file into the tar, re-hashing it against the plan. */
const addLargeFile = async (out: TarStream, abs: string, layer: string, e: PlannedFile): Promise<void> => {
  let fd: number;
  try {
    fd = fs.openSync(abs, "r");
  } catch {
    throw changed(layer, e, "disappeared");
  }
  const hash = createHash("sha256");
  let written = 0;
  const buf = Buffer.allocUnsafe(SMALL_FILE);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf);
      if (n === 0) break;
      written += n;
      if (written > e.size) throw changed(layer, e, "grew");
      hash.update(buf.subarray(0, n));
      await out.write(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  if (written !== e.size || digestFromHex(hash.digest("hex")) !== e.digest) throw changed(layer, e, "changed");
};
