/**
 * The host: plan's only window on the machine. Everything plan reads from the file
 * system passes through here, so a test can hand it a real temp directory.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { hash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestFromHex, digestOf, digestOfFile, error, flatString } from "../core/index.ts";
import type { Layer } from "../oci/index.ts";
import { compressionOf, layerEntryPath } from "../oci/index.ts";
import type { BaseLayer, PlannedBase } from "./BuildPlan.ts";

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
 * An entry of a base image's layer, as its tar header has it: whiteouts are files named
 * `.wh.NAME`; a hard link's target is an in-image path.
 *
 * @category model
 */
export interface BaseLayerEntry {
  readonly type: "file" | "dir" | "symlink" | "hardlink" | "other";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly target?: string;
}

/**
 * One pass over a base layer: every entry by in-image path, and the bytes of the
 * regular files asked for.
 *
 * @category model
 */
export interface BaseLayerRead {
  readonly entries: ReadonlyMap<string, BaseLayerEntry>;
  readonly contents: ReadonlyMap<string, Uint8Array>;
}

/**
 * A base layer as a {@link Layer} whose bytes are fetched (verified against its digest)
 * when read: for {@link nodeHost}, which the composition root gives its registry and
 * store this way.
 *
 * @category model
 */
export type FetchBaseLayer = (base: PlannedBase, layer: BaseLayer) => Layer;

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
  /** A host file's bytes, for a derived layer that reads a file an earlier layer copied in. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Reads a layer of the base image (fetching it first if need be): its entries, and
   * the content of the regular files at `wanted`. Only a derived layer or a check of the
   * image's user calls it, and only for the layers a path it reads leads to.
   */
  readBaseLayer(base: PlannedBase, layer: BaseLayer, wanted: ReadonlySet<string>): Promise<BaseLayerRead>;
}

const kindOf = (s: import("node:fs").Stats): HostStat["kind"] =>
  s.isFile() ? "file" : s.isDirectory() ? "dir" : s.isSymbolicLink() ? "symlink" : "other";

/** Files changed this recently are not cached: their mtime may not show a next change. */
const RACY_WINDOW_MS = 2_000;

/**
 * Whether a digest cache given to {@link nodeHost} keeps the digest of a file with this
 * stat: not when it changed too recently for its mtime to show a next change.
 *
 * @category destructors
 */
export const digestCacheKeeps = (stat: HostStat): boolean => Date.now() - stat.mtimeMs > RACY_WINDOW_MS;

/**
 * A stand-in for a host file's content digest: the hash of its absolute path and its
 * fingerprint, so that two plans that take the same unchanged file give it the same
 * stand-in without reading a byte. Two stand-ins that differ say nothing of the bytes.
 * For a plan that is only compared ({@link import("./plan.ts").PlanOptions} `hostFiles`),
 * never for one that is built.
 *
 * @category constructors
 */
export const hostFileIdentity = (path: string, stat: HostStat): Digest => digestFromHex(hash("sha256", `lading host file identity\0${stat.fingerprint}\0${path}`, "hex"));

const baseEntryType = (t: tar.Header["type"]): BaseLayerEntry["type"] =>
  t === "file" || t === "contiguous-file" ? "file" : t === "directory" ? "dir" : t === "symlink" ? "symlink" : t === "link" ? "hardlink" : "other";

/** Reads the layer's tar once, keeping the `wanted` files' bytes. */
const readLayerTar = async (layer: Layer, wanted: ReadonlySet<string>, where: string): Promise<BaseLayerRead> => {
  if (compressionOf(layer.mediaType) === undefined) {
    throw new DiagnosticError([error({ file: where }, `layer ${layer.digest} is ${layer.mediaType}, a layer type lading does not know: its files cannot be read here`)]);
  }
  const entries = new Map<string, BaseLayerEntry>();
  const contents = new Map<string, Uint8Array>();
  const ex = tar.extract();
  ex.on("entry", (header, stream, next) => {
    const p = layerEntryPath(header.name);
    const type = baseEntryType(header.type);
    const chunks: Buffer[] = [];
    const keep = p !== undefined && type === "file" && wanted.has(p);
    stream.on("data", (c: unknown) => {
      if (keep) chunks.push(c as Buffer);
    });
    stream.on("end", () => {
      if (p !== undefined) {
        const linkname = header.linkname ?? "";
        const target = type === "symlink" ? linkname : type === "hardlink" ? layerEntryPath(linkname) : undefined;
        entries.set(p, { type, mode: header.mode ?? 0, uid: header.uid ?? 0, gid: header.gid ?? 0, size: type === "file" ? (header.size ?? 0) : 0, ...(target === undefined ? {} : { target }) });
        if (keep) contents.set(p, Buffer.concat(chunks));
      }
      next();
    });
    stream.resume();
  });
  // Opened first: a registry's failure to give the blob is its own diagnostic.
  const stream = await layer.openTar();
  try {
    await pipeline([stream, ex as unknown as NodeJS.WritableStream]);
  } catch (e) {
    throw new DiagnosticError([error({ file: where }, `cannot read layer ${layer.digest}: ${(e as Error).message}`)]);
  }
  return { entries, contents };
};

/**
 * The real file system, with an optional digest cache; base layers are read from where
 * `fetchBaseLayer` puts them.
 *
 * @category constructors
 */
export const nodeHost = (cache?: HashCache, fetchBaseLayer?: FetchBaseLayer): Host => {
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
      // Small files synchronously: thousands of tiny async reads cost more in round trips
      // through the thread pool than the reads themselves.
      const digest = stat.size < 1 << 20 ? digestOf(readFileSync(path)) : (await digestOfFile(path)).digest;
      if (cache !== undefined && digestCacheKeeps(stat)) cache.set(path, stat.fingerprint, digest);
      return digest;
    },
    readFile: async (path) => readFileSync(path),
    readBaseLayer: async (base, layer, wanted) => {
      const where = `docker://${base.reference}`;
      if (fetchBaseLayer === undefined) throw new DiagnosticError([error({ file: where }, "this plan cannot read the base image's layers")]);
      return readLayerTar(fetchBaseLayer(base, layer), wanted, where);
    },
  };
};

/**
 * A host that hashes each file once: for several plans in one process (the two sides of
 * a diff) over the same files. A file's digest is kept under a 16-byte key of its path
 * and fingerprint, and the digest string is the one the first plan holds: about 70 bytes
 * a file, where keeping every path, stat and promise took several hundred. Stats are
 * not kept: a second lstat of a file is cheaper than holding 200,000 of them. Only the
 * digests `remember` takes are kept: over a host whose digest cache answers the second
 * plan, those of the files it does not keep ({@link digestCacheKeeps}), a few where
 * there were 400,000.
 *
 * @category combinators
 */
export const memoizedHost = (host: Host, remember: (stat: HostStat) => boolean = () => true): Host => {
  const digests = new Map<string, Digest>();
  return {
    stat: (path) => host.stat(path),
    readdir: (path) => host.readdir(path),
    readlink: (path) => host.readlink(path),
    readFile: (path) => host.readFile(path),
    readBaseLayer: (base, layer, wanted) => host.readBaseLayer(base, layer, wanted),
    hashFile: async (path, stat) => {
      const key = flatString(hash("sha256", `${stat.fingerprint}\0${path}`, "base64").slice(0, 22));
      const known = digests.get(key);
      if (known !== undefined) return known;
      const d = await host.hashFile(path, stat);
      if (remember(stat)) digests.set(key, d);
      return d;
    },
  };
};
