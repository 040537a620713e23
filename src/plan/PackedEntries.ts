/**
 * A layer's planned entries packed into a few large buffers: an 80-byte record an entry
 * (type, mode, owner, size, the digest as 32 bytes) and its strings as UTF-8 in 1 MiB
 * chunks, instead of one object, three strings and a digest string an entry. A plan of
 * 400,000 files holds about 107 bytes a file this way (measured), outside the collected heap; an
 * entry is made as an object only when it is read, and let go of after.
 */
import type { Digest } from "../core/index.ts";
import type { PlannedEntry } from "./BuildPlan.ts";

/**
 * What reads a layer's entries needs of them: how many, the one at an index, and all of
 * them in order. A plain array is one; so is {@link PackedEntries}.
 *
 * @category model
 */
export interface EntryList<E> extends Iterable<E> {
  readonly length: number;
  at(index: number): E | undefined;
}

const RECORD = 80;
const RECORDS_A_CHUNK = 4096;

const STRING_CHUNK = 1 << 20;

/** Where record `i` starts in its chunk. */
const offsetOf = (i: number): number => (i % RECORDS_A_CHUNK) * RECORD;

// Record layout (little-endian).
const TYPE = 0;
const FLAGS = 1;
const KEYS = 2;
const MODE = 4;
const UID = 8;
const GID = 12;
const SIZE = 16;
const STR_CHUNK = 24;
const STR_OFFSET = 28;
const PATH_LEN = 32;
const SOURCE_LEN = 36;
const TARGET_LEN = 40;
const DIGEST = 44;
const NUMBER_AT = { mode: MODE, uid: UID, gid: GID } as const;
const SOURCE_HEAD = 76;

const HAS_SOURCE = 1;
const HAS_TARGET = 2;
const HAS_DIGEST = 4;
const HAS_SIZE = 8;
/** Kept as the object it came as (xattrs, a string UTF-8 cannot carry, a field out of range). */
const AS_OBJECT = 16;
/** The source is a head kept once for the layer and the end of the path (SOURCE_LEN code units of it). */
const SOURCE_SPLIT = 32;

/** At most this many source heads a layer; a source past them is kept whole. */
const MAX_HEADS = 1 << 16;

/**
 * How much of its end `source` shares with `path`, in code units, not starting inside a
 * surrogate pair: a host file's source is its copy's root and then the path below it.
 */
const sharedEnd = (source: string, path: string): number => {
  let n = 0;
  while (n < source.length && n < path.length && source.charCodeAt(source.length - 1 - n) === path.charCodeAt(path.length - 1 - n)) n++;
  if (n > 0 && n < source.length) {
    const first = source.charCodeAt(source.length - n);
    if (first >= 0xdc00 && first <= 0xdfff) n--;
  }
  return n;
};

const TYPES: ReadonlyArray<PlannedEntry["type"]> = ["file", "dir", "symlink", "hardlink"];
const TYPE_CODE: Readonly<Record<string, number>> = { file: 0, dir: 1, symlink: 2, hardlink: 3 };
const FIELDS = new Set(["path", "type", "mode", "uid", "gid", "size", "digest", "source", "target"]);
const SHA256 = /^sha256:[0-9a-f]{64}$/;

const isU32 = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/** A planned entry whose file digest may still be coming (a host file being hashed). */
export type PackableEntry = PlannedEntry | (Omit<Extract<PlannedEntry, { type: "file" }>, "digest"> & { readonly digest: Digest | undefined });

/** Whether an entry fits a record: known fields of the expected kinds, strings UTF-8 keeps as they are. */
const packable = (e: PackableEntry): boolean => {
  const r = e as unknown as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!FIELDS.has(k)) return false;
  if (TYPE_CODE[e.type] === undefined || !isU32(e.mode) || !isU32(e.uid) || !isU32(e.gid)) return false;
  for (const k of ["path", "source", "target"]) {
    const v = r[k];
    if (v !== undefined && (typeof v !== "string" || !(v as unknown as { isWellFormed(): boolean }).isWellFormed())) return false;
  }
  const size = r["size"];
  if (size !== undefined && !(typeof size === "number" && Number.isSafeInteger(size) && size >= 0)) return false;
  const digest = r["digest"];
  return digest === undefined || (typeof digest === "string" && SHA256.test(digest));
};

/**
 * Entries packed as they are planned, then read back in any order ({@link PackedEntries.ordered}).
 * Each entry keeps its fields in the order it was made with, so that its JSON is the
 * same text an object would give.
 *
 * @category model
 */
export class PackedEntries implements EntryList<PlannedEntry> {
  private readonly records: Buffer[] = [];
  private readonly strings: Buffer[] = [];
  private stringUsed = STRING_CHUNK;
  private count = 0;
  /** Field orders, by the code records keep. */
  private readonly keyOrders: string[][] = [];
  private readonly keyCodes = new Map<string, number>();
  private readonly objects = new Map<number, PlannedEntry>();
  /** The heads of split sources, by the number records keep (plus one). */
  private readonly heads: string[] = [];
  private readonly headCodes = new Map<string, number>();
  /** The records' indices in reading order; undefined for the order they were packed in. */
  private order: Uint32Array | undefined = undefined;

  /** An empty list to pack into. */
  static empty(): PackedEntries {
    return new PackedEntries();
  }

  /** The entries of `list` packed, in its order. */
  static of(list: Iterable<PackableEntry>): PackedEntries {
    const p = new PackedEntries();
    for (const e of list) p.push(e);
    return p;
  }

  get length(): number {
    return this.order === undefined ? this.count : this.order.length;
  }

  /** Packs an entry and gives its record's index. Only before {@link ordered} views are made of it. */
  push(e: PackableEntry): number {
    const i = this.count++;
    if (i % RECORDS_A_CHUNK === 0) this.records.push(Buffer.allocUnsafeSlow(RECORD * RECORDS_A_CHUNK));
    const rec = this.records[this.records.length - 1]!;
    const at = offsetOf(i);
    if (!packable(e)) {
      rec[at + FLAGS] = AS_OBJECT;
      this.objects.set(i, e as PlannedEntry);
      return i;
    }
    const r = e as unknown as Record<string, string | number | undefined>;
    // A file's digest is kept in its place while its hash is still coming.
    const keys = Object.keys(r).filter((k) => r[k] !== undefined || k === "digest");
    const joined = keys.join(",");
    let code = this.keyCodes.get(joined);
    if (code === undefined) {
      code = this.keyOrders.length;
      if (code > 0xffff) throw new Error("too many field orders in one layer");
      this.keyOrders.push(keys);
      this.keyCodes.set(joined, code);
    }
    const source = r["source"] as string | undefined;
    const target = r["target"] as string | undefined;
    const size = r["size"] as number | undefined;
    const digest = r["digest"] as string | undefined;
    const pathLen = Buffer.byteLength(e.path);
    // Thousands of host files share their copy's root: a source is kept as that head, once,
    // and the end of its path.
    let head = 0;
    let tail = 0;
    if (source !== undefined) {
      tail = sharedEnd(source, e.path);
      const h = source.slice(0, source.length - tail);
      head = this.headCodes.get(h) ?? 0;
      if (head === 0 && this.heads.length < MAX_HEADS) {
        this.heads.push(h);
        head = this.heads.length;
        this.headCodes.set(h, head);
      }
    }
    const sourceLen = source === undefined || head !== 0 ? 0 : Buffer.byteLength(source);
    const targetLen = target === undefined ? 0 : Buffer.byteLength(target);
    const total = pathLen + sourceLen + targetLen;
    if (this.stringUsed + total > STRING_CHUNK || this.strings.length === 0) {
      this.strings.push(Buffer.allocUnsafeSlow(Math.max(STRING_CHUNK, total)));
      this.stringUsed = 0;
    }
    const chunk = this.strings.length - 1;
    const s = this.strings[chunk]!;
    const start = this.stringUsed;
    s.write(e.path, start, "utf8");
    if (sourceLen > 0) s.write(source!, start + pathLen, "utf8");
    if (target !== undefined) s.write(target, start + pathLen + sourceLen, "utf8");
    this.stringUsed += total;
    rec[at + TYPE] = TYPE_CODE[e.type]!;
    rec[at + FLAGS] = (source === undefined ? 0 : HAS_SOURCE) | (head === 0 ? 0 : SOURCE_SPLIT) | (target === undefined ? 0 : HAS_TARGET) | (size === undefined ? 0 : HAS_SIZE);
    rec.writeUInt16LE(code, at + KEYS);
    rec.writeUInt32LE(e.mode, at + MODE);
    rec.writeUInt32LE(e.uid, at + UID);
    rec.writeUInt32LE(e.gid, at + GID);
    rec.writeDoubleLE(size ?? 0, at + SIZE);
    rec.writeUInt32LE(chunk, at + STR_CHUNK);
    rec.writeUInt32LE(start, at + STR_OFFSET);
    rec.writeUInt32LE(pathLen, at + PATH_LEN);
    rec.writeUInt32LE(head === 0 ? sourceLen : tail, at + SOURCE_LEN);
    rec.writeUInt32LE(head, at + SOURCE_HEAD);
    rec.writeUInt32LE(targetLen, at + TARGET_LEN);
    if (digest !== undefined) this.setDigest(i, digest as Digest);
    return i;
  }

  /** The chunk holding record `i`. */
  private chunkOf(i: number): Buffer {
    return this.records[Math.floor(i / RECORDS_A_CHUNK)]!;
  }

  /** Fills in the digest of the file packed at record `i`, once its hash has come. */
  setDigest(i: number, digest: Digest): void {
    const rec = this.chunkOf(i);
    const at = offsetOf(i);
    if (rec[at + FLAGS]! & AS_OBJECT) {
      this.objects.set(i, { ...this.objects.get(i)!, digest } as PlannedEntry);
      return;
    }
    rec.write(digest.slice(7), at + DIGEST, "hex");
    rec[at + FLAGS]! |= HAS_DIGEST;
  }

  /** The entry at record `i`, made as an object. */
  record(i: number): PlannedEntry {
    const rec = this.chunkOf(i);
    const at = offsetOf(i);
    const flags = rec[at + FLAGS]!;
    if (flags & AS_OBJECT) return this.objects.get(i)!;
    const s = this.strings[rec.readUInt32LE(at + STR_CHUNK)]!;
    const start = rec.readUInt32LE(at + STR_OFFSET);
    const pathLen = rec.readUInt32LE(at + PATH_LEN);
    const split = (flags & SOURCE_SPLIT) !== 0;
    const sourceLen = split ? 0 : rec.readUInt32LE(at + SOURCE_LEN);
    const path = s.toString("utf8", start, start + pathLen);
    const out: Record<string, unknown> = {};
    for (const k of this.keyOrders[rec.readUInt16LE(at + KEYS)]!) {
      switch (k) {
        case "path":
          out[k] = path;
          break;
        case "type":
          out[k] = TYPES[rec[at + TYPE]!];
          break;
        case "mode":
        case "uid":
        case "gid":
          out[k] = rec.readUInt32LE(at + NUMBER_AT[k]);
          break;
        case "size":
          out[k] = rec.readDoubleLE(at + SIZE);
          break;
        case "source":
          out[k] = split ? this.heads[rec.readUInt32LE(at + SOURCE_HEAD) - 1]! + path.slice(path.length - rec.readUInt32LE(at + SOURCE_LEN)) : s.toString("utf8", start + pathLen, start + pathLen + sourceLen);
          break;
        case "target":
          out[k] = s.toString("utf8", start + pathLen + sourceLen, start + pathLen + sourceLen + rec.readUInt32LE(at + TARGET_LEN));
          break;
        case "digest":
          out[k] = flags & HAS_DIGEST ? `sha256:${rec.toString("hex", at + DIGEST, at + DIGEST + 32)}` : undefined;
          break;
      }
    }
    return out as unknown as PlannedEntry;
  }

  /** The record index of the entry at reading position `index`. */
  private recordOf(index: number): number {
    return this.order === undefined ? index : this.order[index]!;
  }

  at(index: number): PlannedEntry | undefined {
    if (!Number.isInteger(index)) return undefined;
    const i = index < 0 ? index + this.length : index;
    return i < 0 || i >= this.length ? undefined : this.record(this.recordOf(i));
  }

  *[Symbol.iterator](): Iterator<PlannedEntry> {
    for (let i = 0; i < this.length; i++) yield this.record(this.recordOf(i));
  }

  /** As a plain array, for `JSON.stringify`: the same text an array of the entries gives. */
  toJSON(): PlannedEntry[] {
    return [...this];
  }

  /** The path of record `i`'s entry as bytes (a view of the chunk, no copy), for comparing. */
  private pathBytes(i: number): readonly [Buffer, number, number] {
    const rec = this.chunkOf(i);
    const at = offsetOf(i);
    if (rec[at + FLAGS]! & AS_OBJECT) {
      const b = Buffer.from(this.objects.get(i)!.path, "utf8");
      return [b, 0, b.byteLength];
    }
    const start = rec.readUInt32LE(at + STR_OFFSET);
    return [this.strings[rec.readUInt32LE(at + STR_CHUNK)]!, start, start + rec.readUInt32LE(at + PATH_LEN)];
  }

  /** The type of record `i`'s entry. */
  typeOf(i: number): PlannedEntry["type"] {
    const rec = this.chunkOf(i);
    const at = offsetOf(i);
    return rec[at + FLAGS]! & AS_OBJECT ? this.objects.get(i)!.type : TYPES[rec[at + TYPE]!]!;
  }

  /** The path of record `i`'s entry. */
  pathOf(i: number): string {
    const [b, s, e] = this.pathBytes(i);
    return b.toString("utf8", s, e);
  }

  /** Records `i` and `j` by path, bytewise (UTF-8 bytes, as tar sorts them). */
  comparePaths(i: number, j: number): number {
    const [a, as, ae] = this.pathBytes(i);
    const [b, bs, be] = this.pathBytes(j);
    return a.compare(b, bs, be, as, ae);
  }

  /** Record `i`'s path against `key` (UTF-8 bytes), bytewise. */
  comparePathTo(i: number, key: Buffer): number {
    const [a, as, ae] = this.pathBytes(i);
    return a.compare(key, 0, key.byteLength, as, ae);
  }

  /** The record indices in path order, records with equal paths in the order they were packed. */
  sortedRecords(): number[] {
    const idx = Array.from({ length: this.count }, (_, i) => i);
    return idx.sort((i, j) => this.comparePaths(i, j) || i - j);
  }

  /**
   * A view of these records in the order `records` gives (indices of records, some left
   * out): the storage is shared, not copied. Nothing may be packed into the view; records
   * packed into this list after it was made are not in it.
   */
  ordered(records: ArrayLike<number>): PackedEntries {
    const view = Object.create(PackedEntries.prototype) as PackedEntries;
    Object.assign(view, this, { order: Uint32Array.from(records) });
    return view;
  }

  /**
   * The position of the entry at `path` in a list sorted bytewise by path, found by
   * halving; -1 when there is none.
   */
  findSorted(path: string): number {
    const key = Buffer.from(path, "utf8");
    let lo = 0;
    let hi = this.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.comparePathTo(this.recordOf(mid), key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}
