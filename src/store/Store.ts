/**
 * The content-addressed store: blobs named by digest, a cache of built layers by cache
 * key, a record of checked spec sources, and a cache of host file digests. Every write
 * goes to a temp file in the store and is renamed into place, so concurrent builds and
 * crashes never leave a half-written blob or record behind.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { digestFromHex, digestHex, digestOf } from "../core/index.ts";
import { DigestC } from "../oci/index.ts";
import type { LayerBlob } from "../oci/index.ts";

const LayerRecord = t.type({ digest: DigestC, size: t.number, diffId: DigestC, uncompressedSize: t.number });

const HEX64 = /^[0-9a-f]{64}$/;

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

/**
 * The content-addressed store on disk: blobs by digest, built-layer records by cache key,
 * markers of passed checks, and the host file digest cache.
 *
 * @category model
 */
export interface Store {
  readonly root: string;
  blobPath(digest: Digest): string;
  /** The size of a stored blob, or undefined when it is not there. */
  blobSize(digest: Digest): Promise<number | undefined>;
  /** Writes bytes as a blob, verifying nothing: the digest is computed here. */
  putBlob(bytes: Uint8Array): Promise<Digest>;
  /** A fresh temp path in the store, on the same file system as the blobs. */
  tempPath(): string;
  /** Moves a finished temp file into place as the blob `digest`. */
  commitBlob(temp: string, digest: Digest): Promise<void>;
  getLayer(cacheKey: Digest): Promise<LayerBlob | undefined>;
  putLayer(cacheKey: Digest, layer: LayerBlob): Promise<void>;
  hasCheck(key: Digest): Promise<boolean>;
  putCheck(key: Digest): Promise<void>;
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
  const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
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

/** How long a lock may be held before another process takes it as left by a crash. */
const STALE_LOCK_MS = 60_000;

/**
 * Runs `f` while holding `lock` (a file created exclusively), so that read-modify-write
 * cycles on one file from several processes do not lose each other's changes. A lock
 * older than a minute was left by a crash and is taken over.
 *
 * @category combinators
 */
export const withFileLock = async <A>(lock: string, f: () => Promise<A>, timeoutMs = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await (await fs.open(lock, "wx")).close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = await fs.stat(lock).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await fs.rm(lock, { force: true });
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
 * Opens (creating if needed) the store at `root`.
 *
 * @category constructors
 */
export const openStore = async (root: string): Promise<Store> => {
  const dirs = ["blobs/sha256", "layers", "checks", "tmp"].map((d) => path.join(root, d));
  for (const d of dirs) await fs.mkdir(d, { recursive: true });
  const blobPath = (d: Digest): string => path.join(root, "blobs", "sha256", digestHex(d));
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
  const store: Store = {
    root,
    blobPath,
    blobSize: (d) => fs.stat(blobPath(d)).then(
      (st) => st.size,
      () => undefined,
    ),
    putBlob: async (bytes) => {
      const digest = digestOf(bytes);
      if (!(await pathExists(blobPath(digest)))) await writeFileAtomic(blobPath(digest), bytes);
      return digest;
    },
    tempPath: () => path.join(root, "tmp", `${process.pid}-${randomBytes(8).toString("hex")}`),
    commitBlob: async (temp, digest) => {
      const handle = await fs.open(temp, "r+");
      try {
        await handle.chmod(0o644);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, blobPath(digest));
    },
    getLayer: (key) => readJson(path.join(root, "layers", `${digestHex(key)}.json`), LayerRecord),
    putLayer: (key, layer) => writeFileAtomic(path.join(root, "layers", `${digestHex(key)}.json`), JSON.stringify(layer)),
    hasCheck: (key) => pathExists(path.join(root, "checks", digestHex(key))),
    putCheck: (key) => writeFileAtomic(path.join(root, "checks", digestHex(key)), ""),
    openHashCache: async () => {
      // One line a file, `<sha256 hex> <fingerprint> <absolute path>`: read and written
      // whole, and parsed without a JSON decoder, since a warm build reads every line.
      const file = path.join(root, "hashes");
      const entries = new Map<string, readonly [string, Digest]>();
      const text = await fs.readFile(file, "utf8").catch(() => "");
      for (const line of text.split("\n")) {
        const a = line.indexOf(" ");
        const b = line.indexOf(" ", a + 1);
        if (a !== 64 || b < 0 || !HEX64.test(line.slice(0, 64))) continue;
        entries.set(line.slice(b + 1), [line.slice(a + 1, b), digestFromHex(line.slice(0, 64))]);
      }
      let dirty = false;
      return {
        get: (p, fingerprint) => {
          const hit = entries.get(p);
          return hit !== undefined && hit[0] === fingerprint ? hit[1] : undefined;
        },
        set: (p, fingerprint, digest) => {
          if (p.includes("\n") || fingerprint.includes(" ")) return;
          entries.set(p, [fingerprint, digest]);
          dirty = true;
        },
        save: async () => {
          if (!dirty) return;
          const lines: string[] = [];
          for (const [p, [fingerprint, digest]] of entries) lines.push(`${digestHex(digest)} ${fingerprint} ${p}\n`);
          await writeFileAtomic(file, lines.join(""));
          dirty = false;
        },
      };
    },
  };
  return store;
};
