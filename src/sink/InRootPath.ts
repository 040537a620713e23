/**
 * Paths inside an unpacked root (a bundle's rootfs, an unpacked archive), resolved the
 * way the container will see them and never on the host: every symlink is read and
 * followed by hand, an absolute one from the root, and `..` stops at the root as it does
 * under chroot. Every place that touches an unpacked root goes through here, so a name
 * or a link in an image can never reach a host file.
 */
import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DiagnosticError, error } from "../core/index.ts";

/** Symlinks followed in one path before it counts as a loop, as Linux does. */
const MAX_LINKS = 40;

/**
 * How to resolve: make missing directories (0755) on the way, and whether a symlink in
 * the last component is followed (reading a file) or is itself the answer (an entry
 * that replaces it). `cache` remembers resolved directories between calls; whoever
 * removes or replaces anything under the root clears it.
 *
 * @category model
 */
export interface ResolveOptions {
  readonly create: boolean;
  readonly followLast: boolean;
  readonly cache?: Map<string, string>;
  /** Told of each directory made on the way (its host path). */
  readonly created?: Set<string>;
}

const fail = (where: string, rel: string, message: string): never => {
  throw new DiagnosticError([error({ file: where, path: `/${rel}` }, message)]);
};

/** The last name `name` in the directory `cache` resolved for `dirKey`; undefined when not known. */
const cachedLeaf = (cache: ReadonlyMap<string, string>, dirKey: string, name: string): string | undefined => {
  if (name === "..") return undefined;
  const dir = cache.get(dirKey);
  return dir === undefined ? undefined : dir.endsWith("/") ? dir + name : `${dir}/${name}`;
};

/**
 * What {@link resolveInRoot} gives for `segments` (no empty or `.` among them) with
 * `followLast` false, when `cache` already knows their directory; else undefined, and
 * the caller resolves. Synchronous: most entries of a layer land in a directory resolved
 * for the entry before.
 *
 * @category destructors
 */
export const resolveCachedInRoot = (cache: ReadonlyMap<string, string>, segments: ReadonlyArray<string>): string | undefined =>
  segments.length === 0 ? undefined : cachedLeaf(cache, segments.slice(0, -1).join("/"), segments[segments.length - 1]!);

/**
 * The host path under `root` (absolute, resolved) that the in-root path `rel` names:
 * its directories resolved through symlinks inside the root, its last component as
 * {@link ResolveOptions} says. A missing directory without `create`, a loop, or a path
 * through a file is a diagnostic naming `where` and the path; a missing last component
 * is not (the caller creates it).
 *
 * @category destructors
 */
export const resolveInRoot = async (root: string, rel: string, where: string, opts: ResolveOptions): Promise<string> => {
  const queue = rel.split("/").filter((s) => s !== "" && s !== ".");
  if (queue.length === 0) return root;
  const last = queue.length - 1;
  const dirKey = queue.slice(0, -1).join("/");
  if (opts.cache !== undefined) {
    const leaf = cachedLeaf(opts.cache, dirKey, queue[last]!);
    if (leaf !== undefined) {
      if (!opts.followLast) return leaf;
      const st = await fs.lstat(leaf).catch(() => undefined);
      if (st === undefined || !st.isSymbolicLink()) return leaf;
    }
  }
  // Real names below the root, each a directory (not a link) when walked past.
  const real: string[] = [];
  let links = 0;
  // The original components left to walk; links expand in front of them.
  let pending: Array<{ readonly name: string; readonly original: number | undefined }> = queue.map((name, i) => ({ name, original: i }));
  while (pending.length > 0) {
    // Only the last name is left: `real` is its directory, worth remembering.
    if (opts.cache !== undefined && pending.length === 1 && pending[0]!.original === last) opts.cache.set(dirKey, path.join(root, ...real));
    const { name, original } = pending.shift()!;
    const isLast = pending.length === 0;
    if (name === "..") {
      real.pop();
      continue;
    }
    const host = path.join(root, ...real, name);
    const st = await fs.lstat(host).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return undefined;
      throw e;
    });
    if (st === undefined) {
      if (isLast) return host;
      if (!opts.create) return fail(where, rel, `${path.posix.join(...real, name)} does not exist in the image`);
      await fs.mkdir(host, { mode: 0o755 });
      opts.created?.add(host);
      real.push(name);
    } else if (st.isSymbolicLink() && (!isLast || opts.followLast || original !== last)) {
      if (++links > MAX_LINKS) return fail(where, rel, "goes through too many symlinks");
      const target = await fs.readlink(host);
      if (target.startsWith("/")) real.length = 0;
      pending = [...target.split("/").filter((s) => s !== "" && s !== ".").map((n) => ({ name: n, original: undefined })), ...pending];
    } else if (isLast) {
      return host;
    } else if (st.isDirectory()) {
      real.push(name);
    } else {
      return fail(where, rel, `${path.posix.join(...real, name)} is not a directory`);
    }
  }
  // The path ended in `..` or in a link that resolved to a directory.
  return path.join(root, ...real);
};

/**
 * Reads the regular file at the in-root path `rel` (links followed inside the root),
 * at most `maxBytes` of it; undefined when there is none. A device, a directory or a
 * file larger than `maxBytes` is a diagnostic: nothing in an image can make lading read
 * without end.
 *
 * @category destructors
 */
export const readFileInRoot = async (root: string, rel: string, maxBytes: number, where: string): Promise<Buffer | undefined> => {
  const host = await resolveInRoot(root, rel, where, { create: false, followLast: true }).catch((e: unknown) => {
    if (e instanceof DiagnosticError) return undefined;
    throw e;
  });
  if (host === undefined) return undefined;
  // O_NOFOLLOW: the resolved path names no link, and nothing else writes under the root.
  const handle = await fs.open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT" || e.code === "ENOTDIR") return undefined;
    if (e.code === "ELOOP") return fail(where, rel, "is a symlink that resolves to another symlink");
    throw e;
  });
  if (handle === undefined) return undefined;
  try {
    const st = await handle.stat();
    if (!st.isFile()) return fail(where, rel, "is not a regular file");
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) return fail(where, rel, `is larger than ${maxBytes} bytes`);
    }
    return buf.subarray(0, n);
  } finally {
    await handle.close();
  }
};
