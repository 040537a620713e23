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

/** One directory's records: by the path key (as latin1 text), the fingerprint key and digest. */
interface Shard {
  readonly file: string;
  readonly records: Map<string, Buffer>;
  dirty: boolean;
}

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
    if (!shard.dirty) return;
    const out = Buffer.allocUnsafe(shard.records.size * RECORD);
    let at = 0;
    for (const [k, v] of shard.records) {
      at += out.write(k, at, "latin1");
      at += v.copy(out, at);
    }
    const temp = tempNameFor(path.join(tmp, `file-digests-${path.basename(shard.file)}`));
    try {
      fs.mkdirSync(path.dirname(shard.file), { recursive: true });
      fs.writeFileSync(temp, out);
      fs.renameSync(temp, shard.file);
    } catch {
      // A cache not written is a cache that hashes again next time.
      fs.rmSync(temp, { force: true });
    }
    shard.dirty = false;
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
    const records = new Map<string, Buffer>();
    try {
      const bytes = fs.readFileSync(shardFile);
      if (bytes.length % RECORD === 0) {
        for (let at = 0; at < bytes.length; at += RECORD) records.set(bytes.toString("latin1", at, at + KEY), Buffer.from(bytes.subarray(at + KEY, at + RECORD)));
      }
    } catch {
      // None yet, or unreadable: every file there is hashed.
    }
    const shard: Shard = { file: shardFile, records, dirty: false };
    loaded.set(dirKey, shard);
    held += records.size;
    for (const [k, old] of loaded) {
      if (held <= HELD_RECORDS || old === shard) break;
      write(old);
      loaded.delete(k);
      held -= old.records.size;
    }
    return shard;
  };

  return {
    get: (p, fingerprint) => {
      const v = shardOf(p).records.get(keyOf(p).toString("latin1"));
      if (v === undefined || !v.subarray(0, KEY).equals(keyOf(fingerprint))) return undefined;
      return digestFromHex(v.toString("hex", KEY));
    },
    set: (p, fingerprint, digest) => {
      const shard = shardOf(p);
      const k = keyOf(p).toString("latin1");
      if (!shard.records.has(k)) held++;
      shard.records.set(k, Buffer.concat([keyOf(fingerprint), Buffer.from(digestHex(digest), "hex")]));
      shard.dirty = true;
    },
    save: async () => {
      for (const shard of loaded.values()) write(shard);
      // The cache's earlier forms, one file for every record, are not read any more.
      for (const old of ["file-digests", "hashes"]) fs.rmSync(path.join(root, old), { force: true });
    },
  };
};
