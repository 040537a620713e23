/**
 * The host: plan's only window on the machine. Everything plan reads from the file
 * system passes through here, so a test can hand it a real temp directory.
 */
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createHash, hash } from "node:crypto";
import type { Digest } from "../core/index.ts";
import { digestFromHex, flatString } from "../core/index.ts";

/**
 * What plan needs to know of a host path.
 *
 * @category model
 */
export interface HostStat {
  readonly kind: "file" | "dir" | "symlink" | "other";
  readonly size: number;
  readonly executable: boolean;
  /** Identity used by hash caches: changes whenever content may have changed. */
  readonly fingerprint: string;
  /** Last modification, in milliseconds since the epoch (sub-millisecond precision). */
  readonly mtimeMs: number;
}

/**
 * A cache of file digests by absolute path and fingerprint. It makes a rebuild read
 * no unchanged content; it never changes what is built.
 *
 * @category model
 */
export interface HashCache {
  get(path: string, fingerprint: string): Digest | undefined;
  set(path: string, fingerprint: string, digest: Digest): void;
}

/**
 * The file system as plan sees it. `stat` does not follow symlinks and gives undefined
 * for a missing path; `readdir` gives a name that is not valid UTF-8 as its bytes (no
 * tar name or spec path can hold it as it is); `hashFile` may answer from a cache.
 *
 * @category model
 */
export interface Host {
  stat(path: string): Promise<HostStat | undefined>;
  readdir(path: string): Promise<ReadonlyArray<string | Uint8Array>>;
  readlink(path: string): Promise<string>;
  hashFile(path: string, stat: HostStat): Promise<Digest>;
}

const kindOf = (s: import("node:fs").Stats): HostStat["kind"] =>
  s.isFile() ? "file" : s.isDirectory() ? "dir" : s.isSymbolicLink() ? "symlink" : "other";

/** Files changed this recently are not cached: their mtime may not show a next change. */
const RACY_WINDOW_MS = 2_000;

/**
 * The real file system, with an optional digest cache.
 *
 * @category constructors
 */
export const nodeHost = (cache?: HashCache): Host => {
  return {
    // Synchronous: a stat of a cached page is cheaper than a trip through the thread pool.
    stat: async (path) => {
      try {
        const s = lstatSync(path);
        return {
          kind: kindOf(s),
          // A small integer as one: a field first given a float keeps every value boxed.
          size: s.size <= 0x3fffffff ? s.size | 0 : s.size,
          executable: (s.mode & 0o100) !== 0,
          fingerprint: `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.mode}`,
          mtimeMs: s.mtimeMs,
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
        throw e;
      }
    },
    readdir: async (path) =>
      readdirSync(path, { encoding: "buffer" }).map((raw) => {
        const name = raw.toString("utf8");
        // A name that does not survive the round trip would be read, stat'ed and
        // written under another name.
        return Buffer.byteLength(name) === raw.byteLength && Buffer.from(name, "utf8").equals(raw) ? name : new Uint8Array(raw);
      }),
    readlink: async (path) => readlinkSync(path),
    hashFile: async (path, stat) => {
      const cached = cache?.get(path, stat.fingerprint);
      if (cached !== undefined) return cached;
      const hash = createHash("sha256");
      // Small files synchronously: thousands of tiny async reads cost more in round trips
      // through the thread pool than the reads themselves.
      if (stat.size < 1 << 20) hash.update(readFileSync(path));
      else for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
      const digest = digestFromHex(hash.digest("hex"));
      if (cache !== undefined && Date.now() - stat.mtimeMs > RACY_WINDOW_MS) cache.set(path, stat.fingerprint, digest);
      return digest;
    },
  };
};

/**
 * A host that hashes each file once: for several plans in one process (the two sides of
 * a diff) over the same files. A file's digest is kept under a 16-byte key of its path
 * and fingerprint, and the digest string is the one the first plan holds: about 70 bytes
 * a file, where keeping every path, stat and promise took several hundred. Stats are
 * not kept: a second lstat of a file is cheaper than holding 200,000 of them.
 *
 * @category combinators
 */
export const memoizedHost = (host: Host): Host => {
  const digests = new Map<string, Digest>();
  return {
    stat: (path) => host.stat(path),
    readdir: (path) => host.readdir(path),
    readlink: (path) => host.readlink(path),
    hashFile: async (path, stat) => {
      const key = flatString(hash("sha256", `${stat.fingerprint}\0${path}`, "base64").slice(0, 22));
      const known = digests.get(key);
      if (known !== undefined) return known;
      const d = await host.hashFile(path, stat);
      digests.set(key, d);
      return d;
    },
  };
};
