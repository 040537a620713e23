/**
 * The host file digest cache: what a host file hashed to, under its path and fingerprint
 * (device, inode, size, times, mode), so that a plan does not read a file again that
 * has not changed. It is kept by directory, one small file of records for each host
 * directory whose files were hashed (`file-digests.d/KK/KEY`, KEY the hash of the
 * directory's path), and a plan loads a directory's records when it first asks about a
 * file there: what a plan holds is the records of the directories it is reading, not of
 * every file any spec ever copied, and a plan of a small tree reads a few small files,
 * whatever the store has seen.
 */
import { hash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Digest } from "../core/index.ts";
import { digestFromHex, digestHex } from "../core/index.ts";
import { tempNameFor } from "./Temp.ts";

/**
 * A digest cache for host files that can be saved back to the store.
 *
 * @category model
 */
export interface StoredHashCache {
  get(path: string, fingerprint: string): Digest | undefined;
  set(path: string, fingerprint: string, digest: Digest): void;
  save(): Promise<void>;
}

/** A key: the first 16 bytes of the sha256 of `text`. */
const KEY = 16;
const keyOf = (text: string): Buffer => hash("sha256", text, "buffer").subarray(0, KEY);

/** A record on disk: the file path's key, the fingerprint's key, the digest's 32 bytes. */
const RECORD = KEY + KEY + 32;

/** Records held in memory at most, over the directories loaded, before the least recent is let go. */
const HELD_RECORDS = 1 << 16;

/**
 * One directory's records: those read from its file, sorted by path key (found by
 * halving, no object a record), and those set since, appended to a buffer of their own
 * and found through a map (only while a plan hashes files anew).
 */
interface Shard {
  readonly file: string;
  readonly base: Buffer;
  added: Buffer;
  readonly index: Map<string, number>;
}

/** Where the record for `key` starts in `buf`, a buffer of records sorted by key; -1 for none. */
const search = (buf: Buffer, key: Buffer): number => {
  let lo = 0;
  let hi = buf.length / RECORD - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = buf.compare(key, 0, KEY, mid * RECORD, mid * RECORD + KEY);
    if (c === 0) return mid * RECORD;
    if (c > 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
};

/** A shard's records, one a key (the latest set wins), sorted by key. */
const merged = (shard: Shard): Buffer => {
  const sources: Array<[Buffer, number]> = [];
  for (let at = 0; at < shard.base.length; at += RECORD) if (!shard.index.has(shard.base.toString("latin1", at, at + KEY))) sources.push([shard.base, at]);
  for (const at of shard.index.values()) sources.push([shard.added, at]);
  sources.sort(([a, i], [b, j]) => a.compare(b, j, j + KEY, i, i + KEY));
  const out = Buffer.allocUnsafe(sources.length * RECORD);
  sources.forEach(([buf, at], n) => buf.copy(out, n * RECORD, at, at + RECORD));
  return out;
};

const heldBy = (shard: Shard): number => shard.base.length / RECORD + shard.index.size;

/**
 * Opens the cache of the store at `root`. Records of a directory are read when a file
 * there is first asked about, kept while recently used, and written back (whole, through
 * a temp file in the store's `tmp`, then renamed) when let go of or saved. A shard file
 * that is not whole records is taken as empty: the cache only spares hashing, and the
 * build checks each file's content as it writes it.
 *
 * @category constructors
 */
export const openFileDigests = (root: string): StoredHashCache => {
  const dir = path.join(root, "file-digests.d");
  const tmp = path.join(root, "tmp");
  // Insertion order is use order: a shard used again is moved to the end.
  const loaded = new Map<string, Shard>();
  let held = 0;

  const write = (shard: Shard): void => {
    if (shard.index.size === 0) return;
    const out = merged(shard);
    const temp = tempNameFor(path.join(tmp, `file-digests-${path.basename(shard.file)}`));
    try {
      fs.mkdirSync(path.dirname(shard.file), { recursive: true });
      fs.writeFileSync(temp, out);
      fs.renameSync(temp, shard.file);
    } catch {
      // A cache not written is a cache that hashes again next time.
      fs.rmSync(temp, { force: true });
    }
  };

  const shardOf = (file: string): Shard => {
    const dirKey = hash("sha256", path.dirname(file), "hex").slice(0, 2 * KEY);
    const known = loaded.get(dirKey);
    if (known !== undefined) {
      loaded.delete(dirKey);
      loaded.set(dirKey, known);
      return known;
    }
    const shardFile = path.join(dir, dirKey.slice(0, 2), dirKey.slice(2));
    let base = Buffer.alloc(0);
    try {
      const bytes = fs.readFileSync(shardFile);
      if (bytes.length % RECORD === 0) base = bytes;
    } catch {
      // None yet, or unreadable: every file there is hashed.
    }
    const shard: Shard = { file: shardFile, base, added: Buffer.alloc(0), index: new Map() };
    loaded.set(dirKey, shard);
    held += heldBy(shard);
    for (const [k, old] of loaded) {
      if (held <= HELD_RECORDS || old === shard) break;
      write(old);
      loaded.delete(k);
      held -= heldBy(old);
    }
    return shard;
  };

  return {
    get: (p, fingerprint) => {
      const shard = shardOf(p);
      const key = keyOf(p);
      let buf = shard.added;
      let at = shard.index.size === 0 ? undefined : shard.index.get(key.toString("latin1"));
      if (at === undefined) {
        buf = shard.base;
        at = search(buf, key);
        if (at < 0) return undefined;
      }
      if (buf.compare(keyOf(fingerprint), 0, KEY, at + KEY, at + 2 * KEY) !== 0) return undefined;
      return digestFromHex(buf.toString("hex", at + 2 * KEY, at + RECORD));
    },
    set: (p, fingerprint, digest) => {
      const shard = shardOf(p);
      const key = keyOf(p);
      const k = key.toString("latin1");
      let at = shard.index.get(k);
      if (at === undefined) {
        at = shard.index.size * RECORD;
        if (at + RECORD > shard.added.length) {
          const grown = Buffer.allocUnsafe(Math.max(RECORD * 16, shard.added.length * 2));
          shard.added.copy(grown);
          shard.added = grown;
        }
        shard.index.set(k, at);
        held++;
      }
      key.copy(shard.added, at);
      keyOf(fingerprint).copy(shard.added, at + KEY);
      Buffer.from(digestHex(digest), "hex").copy(shard.added, at + 2 * KEY);
    },
    save: async () => {
      for (const shard of loaded.values()) write(shard);
      // The cache's earlier forms, one file for every record, are not read any more.
      for (const old of ["file-digests", "hashes"]) fs.rmSync(path.join(root, old), { force: true });
    },
  };
};
