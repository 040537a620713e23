/**
 * The deterministic tar writer: entries in plan order (sorted, parents first), mtime
 * from the plan, uid/gid from the spec, no user or group names, USTAR headers where they
 * fit and PAX where they do not (tar-stream decides). File contents are re-hashed while
 * streaming and must match the plan, so a host file edited between plan and build fails
 * the build instead of producing an image that lies about its plan.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tar from "tar-stream";
import { DiagnosticError, digestFromHex, digestOf, error } from "../core/index.ts";
import type { PlanInputs, PlannedEntry, PlannedLayer } from "../plan/index.ts";

/**
 * Version of lading's tar layout; part of every layer cache key.
 *
 * @category model
 */
export const TAR_FORMAT = "lading-tar/1";

const SMALL_FILE = 1 << 20;

/**
 * Bytes handed to the pack and not yet taken by the pipeline: past this the writer waits.
 * Generous, so that reading files and compressing overlap instead of taking turns.
 */
const QUEUE_LIMIT = 8 << 20;

/**
 * Entries handed to the pack and not yet taken: each holds a stream of tar-stream's, so
 * 8 MiB of tiny files would be tens of thousands of them in memory at once.
 */
const ENTRY_LIMIT = 1024;

/** How many bytes the writer reads between two turns of the event loop. */
const YIELD_EVERY = 256 << 10;

/**
 * mode 0 is falsy to tar-stream, which would replace it by its default: the file type
 * bits make it truthy and are masked off when the header is encoded.
 */
const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000, link: 0o100000 } as const;

type TarHeader = Partial<tar.Header> & Pick<tar.Header, "name">;
type Sink = ReturnType<tar.Pack["entry"]>;

const headerOf = (e: PlannedEntry, mtime: Date): TarHeader => {
  const name = e.path.slice(1);
  const common = { name, uid: e.uid, gid: e.gid, mtime };
  switch (e.type) {
    case "file":
      return { ...common, type: "file", mode: TYPE_BITS.file | e.mode, size: e.size ?? 0 };
    case "dir":
      return { ...common, type: "directory", mode: TYPE_BITS.directory | e.mode };
    case "symlink":
      return { ...common, type: "symlink", mode: TYPE_BITS.symlink | 0o777, linkname: e.target ?? "" };
    case "hardlink":
      return { ...common, type: "link", mode: TYPE_BITS.link | 0o644, linkname: (e.target ?? "/").slice(1) };
  }
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

const changed = (layer: string, e: PlannedEntry, why: string): DiagnosticError =>
  new DiagnosticError([error({ layer, path: e.path }, `host file ${e.source} ${why} since it was planned`, "run the build again")]);


/**
 * Writes every entry of a planned layer into `pack`, then finalizes it. Files are read
 * synchronously (a small read is microseconds; a promise-based one is a thread-pool round
 * trip) and entries are not awaited one by one: up to QUEUE_LIMIT bytes stay queued.
 *
 * @category destructors
 */
export const writeLayerTar = async (pack: tar.Pack, layer: PlannedLayer, inputs: PlanInputs, created: number): Promise<void> => {
  const mtime = new Date(created * 1000);
  let queued = 0;
  let entriesQueued = 0;
  let sinceYield = 0;
  let failure: Error | undefined;
  let waiter: { readonly limit: number; readonly wake: () => void } | undefined;
  const settle = (n: number) => (err?: Error | null): void => {
    if (err) failure ??= err;
    queued -= n;
    entriesQueued--;
    if (waiter !== undefined && ((queued <= waiter.limit && entriesQueued <= ENTRY_LIMIT) || failure !== undefined)) {
      const { wake } = waiter;
      waiter = undefined;
      wake();
    }
  };
  /** Waits until at most `limit` bytes are queued; rethrows the pack's failure. */
  const drainTo = async (limit: number): Promise<void> => {
    while ((queued > limit || entriesQueued > ENTRY_LIMIT) && failure === undefined) await new Promise<void>((wake) => (waiter = { limit, wake }));
    if (failure !== undefined) throw failure;
  };
  const add = (header: TarHeader, body?: Buffer): Sink => {
    const n = 512 + (body?.byteLength ?? header.size ?? 0);
    queued += n;
    entriesQueued++;
    const sink = body === undefined ? pack.entry(header, settle(n)) : pack.entry(header, body, settle(n));
    // A destroyed pack fails its entries: record it here rather than let the error go
    // unhandled, and let the loop below throw it.
    sink.on("error", (err: Error) => (failure ??= err));
    return sink;
  };
  for (const e of layer.entries) {
    const header = headerOf(e, mtime);
    if (e.xattrs !== undefined && Object.keys(e.xattrs).length > 0) {
      // Written straight into the stream, between two entries: everything before is out.
      await drainTo(0);
      (pack as unknown as { push(b: Buffer): boolean }).push(paxExtendedHeader(e, paxRecords(e.xattrs), created));
    }
    if (e.type !== "file") {
      add(header);
    } else if (e.source === "inline") {
      const bytes = inputs.inline.get(e.digest!);
      if (bytes === undefined) throw new Error(`inline content ${e.digest} missing from plan inputs`);
      add(header, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } else {
      // A package file's content was unpacked into the store, verified, when planned; so
      // was an archive's, and a download.
      const abs = e.source!.startsWith("deb:") && inputs.packageContent !== undefined
        ? inputs.packageContent(e.digest!)
        : /^(tar|url):/.test(e.source!) && inputs.archiveContent !== undefined
          ? inputs.archiveContent(e.digest!)
          : path.resolve(inputs.specDir, e.source!);
      if ((e.size ?? 0) < SMALL_FILE) {
        let bytes: Buffer;
        try {
          bytes = fs.readFileSync(abs);
        } catch {
          throw changed(layer.name, e, "disappeared");
        }
        if (bytes.byteLength !== e.size || digestOf(bytes) !== e.digest) throw changed(layer.name, e, "changed");
        add(header, bytes);
      } else await addLargeFile(add(header), abs, layer.name, e);
    }
    await drainTo(QUEUE_LIMIT);
    // Let the event loop run now and then: the compressor's thread waits for its callbacks.
    sinceYield += 512 + (e.size ?? 0);
    if (sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  await drainTo(0);
  pack.finalize();
};

const waitForDrain = (sink: Sink): Promise<void> =>
  new Promise((resolve) => {
    if (sink.destroyed) {
      resolve();
      return;
    }
    const done = (): void => {
      sink.off("drain", done);
      sink.off("close", done);
      resolve();
    };
    sink.on("drain", done);
    sink.on("close", done);
  });

/** Streams a large host file into its entry, re-hashing it against the plan. */
const addLargeFile = async (sink: Sink, abs: string, layer: string, e: PlannedEntry): Promise<void> => {
  let fd: number;
  try {
    fd = fs.openSync(abs, "r");
  } catch {
    throw changed(layer, e, "disappeared");
  }
  const hash = createHash("sha256");
  let written = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(SMALL_FILE);
      const n = fs.readSync(fd, buf);
      if (n === 0) break;
      written += n;
      if (written > (e.size ?? 0)) throw changed(layer, e, "grew");
      hash.update(buf.subarray(0, n));
      if (sink.destroyed) throw new Error("the layer stream was closed");
      if (!sink.write(buf.subarray(0, n))) await waitForDrain(sink);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (written !== e.size || digestFromHex(hash.digest("hex")) !== e.digest) throw changed(layer, e, "changed");
  sink.end(undefined);
};
