/**
 * The content-addressed store: blobs named by digest, a cache of built layers by cache
 * key, the results of type checks by the sources checked, and a cache of host file digests. Every write
 * goes to a temp file in the store and is renamed into place, so concurrent builds and
 * crashes never leave a half-written blob or record behind, and what a killed process
 * left is removed by the next one to open the store.
 *
 * A blob is never trusted by its name and size alone: a blob is served only after it
 * was hashed, and every copy out of the store is hashed again as written (see
 * `hasBlob` and `exportBlob`).
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Diagnostic, Digest } from "../core/index.ts";
import { DiagnosticError, digestHex, digestOf, digestOfFile, error } from "../core/index.ts";
import { DigestC } from "../oci/index.ts";
import type { Compression, LayerBlob } from "../oci/index.ts";
import { ownerIsGone, PROCESS_OWNER, sweepStaleTemps, tempNameFor } from "./Temp.ts";
import type { StoredHashCache } from "./FileDigests.ts";
import { openFileDigests } from "./FileDigests.ts";

export type { StoredHashCache } from "./FileDigests.ts";

const LayerRecord = t.type({ digest: DigestC, size: t.number, diffId: DigestC, uncompressedSize: t.number });

/**
 * What a layer blob unpacks to, read as gzip, zstd or a plain tar: its tar's digest (the
 * diff_id) and size, found once by reading the blob through. It is a fact about the
 * blob's content, which its digest names, and about the reading, which its compression
 * names: kept under both, it cannot go stale (one blob given as gzip by one manifest and
 * as a plain tar by another is two records), and a blob whose bytes changed on disk is
 * caught by its digest wherever it is read.
 */
const UnpackedRecord = t.type({ diffId: DigestC, uncompressedSize: t.number });

/**
 * A layer blob's diff_id and uncompressed size, as recorded.
 *
 * @category model
 */
export type UnpackedRecord = t.TypeOf<typeof UnpackedRecord>;

/** A diagnostic as a check record holds it: every field of {@link Diagnostic}. */
const DiagnosticRecord: t.Type<Diagnostic, unknown> = t.intersection([
  t.type({ severity: t.keyof({ error: null, warning: null }), message: t.string }),
  t.partial({ file: t.string, line: t.number, column: t.number, exportName: t.string, layer: t.string, path: t.string, hint: t.string }),
]);

/**
 * What a type check found, errors and warnings alike (none when the sources passed), and
 * every file the checker read with the digest of what it read: the record holds only
 * while each is still there with that digest. A record without them is never answered from.
 */
const CheckRecord = t.type({
  diagnostics: t.readonlyArray(DiagnosticRecord),
  files: t.readonlyArray(t.tuple([t.string, DigestC])),
});

/**
 * A recorded type check: what it found, and the files it read by path (relative to the
 * first spec's directory) and digest.
 *
 * @category model
 */
export type CheckRecord = t.TypeOf<typeof CheckRecord>;

/**
 * The content-addressed store on disk: blobs by digest, built-layer records by cache key,
 * the results of type checks, and the host file digest cache.
 *
 * @category model
 */
export interface Store {
  readonly root: string;
  blobPath(digest: Digest): string;
  /**
   * Whether the store has the blob, whole and right (of `size` bytes, when given): it
   * was hashed by this process, or hashed before and its file not changed since (the
   * verified record, which any write to the file makes stale by changing its ctime).
   * A blob that does not hash to its name is removed, so the caller fetches or builds
   * it again.
   */
  hasBlob(digest: Digest, size?: number): Promise<boolean>;
  /** As {@link Store.hasBlob}, ignoring the verified record: the bytes are hashed now. */
  hasBlobHashedNow(digest: Digest): Promise<boolean>;
  /** Writes bytes as a blob, verifying nothing: the digest is computed here. */
  putBlob(bytes: Uint8Array): Promise<Digest>;
  /** A fresh temp path in the store, on the same file system as the blobs. */
  tempPath(): string;
  /** Moves a finished temp file, whose digest the caller computed as it wrote it, into place as the blob `digest`. */
  commitBlob(temp: string, digest: Digest): Promise<void>;
  /**
   * Copies a blob to `dest` (which must not exist), whole or not at all, as a file of
   * its own: a reflink where the file system has them, else a copy, never a hard link,
   * so damage to the store cannot reach an output written before. The copy is hashed
   * before it gets its name, unless this process hashed the blob itself and its file is
   * unchanged since; when it does not match, the store's blob is removed and a
   * diagnostic says so.
   */
  exportBlob(digest: Digest, dest: string): Promise<void>;
  /** Removes a blob found not to match its digest, and returns the diagnostic that says so. */
  discardCorrupt(digest: Digest): Promise<DiagnosticError>;
  getLayer(cacheKey: Digest): Promise<LayerBlob | undefined>;
  putLayer(cacheKey: Digest, layer: LayerBlob): Promise<void>;
  /** What the blob `digest` unpacks to, read as `compression`, when it was read through and its digest checked. */
  getUnpacked(digest: Digest, compression: Compression): Promise<UnpackedRecord | undefined>;
  /** Records what the blob `digest` unpacks to, read as `compression`: only once the blob's bytes were checked against its digest. */
  putUnpacked(digest: Digest, compression: Compression, record: UnpackedRecord): Promise<void>;
  /**
   * The type check of the sources `key` names, when it was recorded: the diagnostics as
   * the checker gave them, warnings included, and the files it read; undefined otherwise.
   */
  getCheck(key: Digest): Promise<CheckRecord | undefined>;
  putCheck(key: Digest, record: CheckRecord): Promise<void>;
  openHashCache(): Promise<StoredHashCache>;
}

/**
 * The default store: `$XDG_CACHE_HOME/lading`, else `~/.cache/lading`.
 *
 * @category constructors
 */
export const defaultStoreDir = (env: Readonly<Record<string, string | undefined>>): string =>
  path.join(env["XDG_CACHE_HOME"] ?? path.join(os.homedir(), ".cache"), "lading");

/**
 * Whether a path exists (for a write that is skipped when its result is already there).
 *
 * @category destructors
 */
export const pathExists = async (p: string): Promise<boolean> =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/**
 * Writes a file whole or not at all: temp file in the same directory, then rename.
 *
 * @category constructors
 */
export const writeFileAtomic = async (file: string, data: Uint8Array | string): Promise<void> => {
  const tmp = tempNameFor(file);
  try {
    const handle = await fs.open(tmp, "w");
    try {
      await handle.writeFile(data);
      // On disk before it has its name: a crash leaves the old file or the new, whole.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
};

/**
 * Writes content named by its digest unless it is there already, whole. Temp file and
 * rename: a reader never sees half a file. No fsync: it is content the build re-hashes
 * as it reads it, so a file cut short by a crash fails the build instead of entering an
 * image (and is written again here, its size being wrong), and a thousand files of an
 * archive do not wait for a thousand syncs.
 *
 * @category constructors
 */
export const writeContentOnce = async (file: string, data: Uint8Array): Promise<void> => {
  const size = await fs.stat(file).then((st) => st.size, () => undefined);
  if (size === data.byteLength) return;
  const tmp = tempNameFor(file);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
};

/** How long a lock whose owner cannot be told may be held before it is taken as left by a crash. */
const STALE_LOCK_MS = 60_000;

/**
 * Runs `f` while holding `lock` (a file created exclusively, holding its owner's pid
 * and start time), so that read-modify-write cycles on one file from several processes
 * do not lose each other's changes. A lock whose owner has gone (killed) is taken over
 * at once; one whose owner cannot be told, after a minute.
 *
 * @category combinators
 */
export const withFileLock = async <A>(lock: string, f: () => Promise<A>, timeoutMs = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await fs.open(lock, "wx");
      try {
        await handle.writeFile(PROCESS_OWNER);
      } finally {
        await handle.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = await fs.readFile(lock, "utf8").catch(() => "");
      const age = await fs.stat(lock).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (ownerIsGone(owner) || (owner === "" && age > STALE_LOCK_MS)) await takeOverLock(lock, owner);
      else if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${lock}`);
      else await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
  try {
    return await f();
  } finally {
    await fs.rm(lock, { force: true });
  }
};

/**
 * Removes a lock left by `owner`. It is moved aside first and looked at again, so that a
 * lock another process took in between is put back, not removed.
 */
const takeOverLock = async (lock: string, owner: string): Promise<void> => {
  const aside = tempNameFor(lock, "old");
  const moved = await fs.rename(lock, aside).then(
    () => true,
    () => false,
  );
  if (!moved) return;
  const now = await fs.readFile(aside, "utf8").catch(() => "");
  if (now !== owner) await fs.link(aside, lock).catch(() => undefined);
  await fs.rm(aside, { force: true });
};

/** A verified record: the blob file's size, inode and change times when it was hashed. */
const fileIdentity = (st: { readonly size: number; readonly ino: number; readonly mtimeNs: bigint; readonly ctimeNs: bigint }): string =>
  `${st.size} ${st.ino} ${st.mtimeNs} ${st.ctimeNs}`;

/** Hashes a file: its sha256 digest and size, or undefined when it cannot be read. */
const hashFile = (file: string): Promise<{ readonly digest: Digest; readonly size: number } | undefined> => digestOfFile(file).catch(() => undefined);

/**
 * Opens (creating if needed) the store at `root`.
 *
 * @category constructors
 */
export const openStore = async (root: string): Promise<Store> => {
  const dirs = ["blobs/sha256", "layers", "checks", "unpacked", "tmp", "verified"].map((d) => path.join(root, d));
  for (const d of dirs) await fs.mkdir(d, { recursive: true });
  // What killed processes left: blobs half-written in tmp, records' temp files.
  for (const d of [root, ...dirs]) await sweepStaleTemps(d);
  const blobPath = (d: Digest): string => path.join(root, "blobs", "sha256", digestHex(d));
  const verifiedPath = (d: Digest): string => path.join(root, "verified", digestHex(d));
  const readJson = async <A>(file: string, codec: t.Decoder<unknown, A>): Promise<A | undefined> => {
    let text: string;
    try {
      text = await fs.readFile(file, "utf8");
    } catch {
      return undefined;
    }
    try {
      const r = codec.decode(JSON.parse(text));
      return E.isRight(r) ? r.right : undefined;
    } catch {
      return undefined;
    }
  };
  /** Blobs hashed by this process (as written, or read through), with the identity of the file hashed. */
  const hashedHere = new Map<Digest, string>();
  /** Blobs found unchanged since an earlier process hashed them, by their verified record. */
  const recorded = new Map<Digest, string>();
  const statOf = (d: Digest) => fs.stat(blobPath(d), { bigint: true }).then(
    (st) => ({ size: Number(st.size), ino: Number(st.ino), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }),
    () => undefined,
  );
  const remember = async (d: Digest): Promise<void> => {
    const st = await statOf(d);
    if (st === undefined) return;
    hashedHere.set(d, fileIdentity(st));
    await writeFileAtomic(verifiedPath(d), fileIdentity(st)).catch(() => undefined);
  };
  const discard = async (d: Digest): Promise<void> => {
    hashedHere.delete(d);
    recorded.delete(d);
    // Moved aside first: a reader that has the blob open keeps its bytes, and the name
    // is free at once for a good copy.
    const aside = path.join(root, "tmp", tempNameFor("corrupt"));
    await fs.rename(blobPath(d), aside).then(() => fs.rm(aside, { force: true }), () => undefined);
    await fs.rm(verifiedPath(d), { force: true });
  };
  const hashNow = async (d: Digest): Promise<boolean> => {
    const hashed = await hashFile(blobPath(d));
    if (hashed === undefined) return false;
    if (hashed.digest !== d) {
      await discard(d);
      return false;
    }
    await remember(d);
    return true;
  };
  const hasBlob = async (d: Digest, size?: number): Promise<boolean> => {
    const st = await statOf(d);
    if (st === undefined) return false;
    if (size !== undefined && st.size !== size) {
      // Either the blob is damaged (removed here) or the size asked for is wrong (then
      // the caller's fetch fails its check): not this blob either way.
      await hashNow(d);
      return false;
    }
    const identity = fileIdentity(st);
    if (hashedHere.get(d) === identity || recorded.get(d) === identity) return true;
    const record = await fs.readFile(verifiedPath(d), "utf8").catch(() => undefined);
    if (record === identity) {
      recorded.set(d, identity);
      return true;
    }
    return hashNow(d);
  };
  const corruptDiagnostic = (d: Digest): DiagnosticError =>
    new DiagnosticError([
      error({ file: root }, `the store's blob ${d} is damaged (its bytes do not hash to its name): it was removed from the store`, "run the command again: the blob is built or fetched anew"),
    ]);
  const commitBlob = async (temp: string, digest: Digest): Promise<void> => {
    const handle = await fs.open(temp, "r+");
    try {
      await handle.chmod(0o644);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, blobPath(digest));
    await remember(digest);
  };
  const store: Store = {
    root,
    blobPath,
    hasBlob,
    hasBlobHashedNow: hashNow,
    putBlob: async (bytes) => {
      const digest = digestOf(bytes);
      if (await hasBlob(digest, bytes.byteLength)) return digest;
      const temp = store.tempPath();
      try {
        await fs.writeFile(temp, bytes);
        await commitBlob(temp, digest);
      } catch (e) {
        await fs.rm(temp, { force: true });
        throw e;
      }
      return digest;
    },
    tempPath: () => path.join(root, "tmp", tempNameFor("blob")),
    commitBlob,
    exportBlob: async (digest, dest) => {
      const tmp = tempNameFor(dest);
      try {
        // A reflink shares blocks copy-on-write: a later write to either file does not
        // reach the other. Where there are none, the kernel copies.
        const before = await statOf(digest);
        await fs.copyFile(blobPath(digest), tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
        // A blob this process hashed (built or fetched just now), its file unchanged
        // since, is copied without hashing it again; any other copy is hashed, as a
        // verified record cannot see damage below the file system.
        const after = await statOf(digest);
        const fresh = before !== undefined && after !== undefined && hashedHere.get(digest) === fileIdentity(before) && fileIdentity(after) === fileIdentity(before);
        const hashed = fresh ? undefined : await hashFile(tmp);
        if (!fresh && hashed?.digest !== digest) {
          await discard(digest);
          throw corruptDiagnostic(digest);
        }
        await fs.rename(tmp, dest);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw e;
      }
    },
    discardCorrupt: async (digest) => {
      await discard(digest);
      return corruptDiagnostic(digest);
    },
    getLayer: (key) => readJson(path.join(root, "layers", `${digestHex(key)}.json`), LayerRecord),
    putLayer: (key, layer) => writeFileAtomic(path.join(root, "layers", `${digestHex(key)}.json`), JSON.stringify(layer)),
    getUnpacked: (digest, compression) => readJson(path.join(root, "unpacked", `${digestHex(digest)}.${compression}.json`), UnpackedRecord),
    putUnpacked: (digest, compression, record) => writeFileAtomic(path.join(root, "unpacked", `${digestHex(digest)}.${compression}.json`), JSON.stringify(record)),
    getCheck: (key) => readJson(path.join(root, "checks", `${digestHex(key)}.json`), CheckRecord),
    putCheck: (key, record) => writeFileAtomic(path.join(root, "checks", `${digestHex(key)}.json`), JSON.stringify(CheckRecord.encode(record))),
    openHashCache: async () => openFileDigests(root),
  };
  return store;
};
