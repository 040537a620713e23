/**
 * A layer as a lower directory of an overlay: unpacked once into the store, named by its
 * diff_id, and reused by every step that runs on it. Whiteouts become what overlayfs
 * reads (a 0:0 character device for a deleted name, the `trusted.overlay.opaque` xattr
 * for a directory whose lower contents are hidden), so the overlay shows the image's
 * file system exactly as a runtime that applies the layers in order would.
 */
import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import * as tar from "tar-stream";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestHex, error } from "../core/index.ts";
import type { Layer } from "../oci/index.ts";
import { classifyLayerEntry, compressionOf, decompression, eachMember, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "../oci/index.ts";
import type { Store } from "../store/index.ts";
import { pathExists, storeLayer } from "../store/index.ts";

const exec = promisify(execFile);

/**
 * Whether lading runs as root. Otherwise steps run rootless: in a user namespace where
 * the user is root, over an overlay mounted with `userxattr`, whose opaque directories
 * are marked in the `user.` xattr namespace instead of `trusted.`.
 *
 * @category model
 */
export const isRoot = process.getuid?.() === 0;

/** Runs a command as root of a user namespace when lading is not root (whiteouts need it). */
const asNamespaceRoot = (cmd: string, args: ReadonlyArray<string>): Promise<unknown> =>
  isRoot ? exec(cmd, [...args]) : exec("unshare", ["--user", "--map-root-user", cmd, ...args]);

/**
 * Where the store keeps unpacked layers: short names, since an overlay's mount options
 * (every lower directory's path) must fit in one page.
 *
 * @category destructors
 */
export const lowerRoot = (store: Store): string => path.join(store.root, "run", "l");

/**
 * Makes the store's `run` directory, where images are unpacked (their setuid files and
 * device nodes included), cache mounts live and sandboxes are assembled, reachable by its
 * owner alone, whatever the store's own mode: no other user of the machine may run or
 * open what an image holds.
 */
const ensurePrivateRunRoot = async (store: Store): Promise<void> => {
  const dir = path.join(store.root, "run");
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
};

/**
 * The directory name of a layer unpacked for an overlay, relative to {@link lowerRoot}.
 *
 * @category destructors
 */
export const lowerName = (diffId: Digest): string => digestHex(diffId);

/**
 * The lower directories of `layers` (bottom first), each unpacked once: a layer whose
 * blob is not in the store yet (a pulled base's) is brought in first.
 *
 * @category destructors
 */
export const lowersOf = async (store: Store, layers: ReadonlyArray<Layer>): Promise<ReadonlyArray<string>> => {
  await ensurePrivateRunRoot(store);
  const lowers: string[] = [];
  for (const l of layers) {
    await storeLayer(store, l, "the image's layers");
    lowers.push(await unpackLower(store, l));
  }
  await fs.mkdir(lowerRoot(store), { recursive: true });
  return lowers;
};

const fail = (layer: string, message: string): never => {
  throw new DiagnosticError([error({ file: `layer ${layer}` }, message)]);
};

/**
 * Unpacks `layer` (its blob in the store) as an overlay lower directory unless it is
 * there already, and returns its path. Whole or not at all: unpacked beside, renamed in.
 *
 * @category destructors
 */
export const unpackLower = async (store: Store, layer: Layer): Promise<string> => {
  const root = lowerRoot(store);
  const dest = path.join(root, lowerName(layer.diffId));
  if (await pathExists(dest)) return dest;
  await fs.mkdir(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    await fs.mkdir(tmp, { mode: 0o755 });
    await extractForOverlay(store.blobPath(layer.digest), layer.mediaType, tmp, layer.diffId);
    await fs.rename(tmp, dest).catch(async (e: NodeJS.ErrnoException) => {
      // Another build unpacked the same layer meanwhile: theirs is as good as ours.
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
      await fs.rm(tmp, { recursive: true, force: true });
    });
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return dest;
};

const extractForOverlay = async (blob: string, mediaType: string, root: string, diffId: Digest): Promise<void> => {
  const where = digestHex(diffId).slice(0, 12);
  // Paths this layer made that are not directories: nothing may be written through them.
  const nonDirs = new Set<string>();
  const dirs: Array<[string, tar.Header]> = [];
  const whiteouts: string[] = [];
  // What this layer itself holds: its whiteouts hide only what lower layers hold, and in
  // an overlay its own entry at a name already does.
  const written = new Set<string>();
  const opaque: string[] = [];
  const devices: Array<[string, tar.Header]> = [];
  const ex = tar.extract();
  // Names are read by the one set of layer rules every reader shares: no `..`, no
  // whiteout of the root or its parent, no whiteout name used as a directory.
  const safe = (name: string): string => {
    const entry = classifyLayerEntry(name);
    if (E.isLeft(entry)) return fail(where, `entry ${name} ${entry.left}`);
    const segs = entry.right._tag === "Root" ? [] : entry.right._tag === "Path" ? entry.right.segments : [...entry.right.dir, entry.right._tag === "Opaque" ? OPAQUE_WHITEOUT : `${WHITEOUT_PREFIX}${entry.right.name}`];
    for (let i = 1; i < segs.length; i++) if (nonDirs.has(segs.slice(0, i).join("/"))) fail(where, `entry ${name} goes through ${segs.slice(0, i).join("/")}, which is not a directory`);
    return segs.join("/");
  };
  eachMember(ex, async (header, stream) => {
    const rel = safe(header.name);
    if (rel === "") return;
    const target = path.join(root, rel);
    await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    const base = path.posix.basename(rel);
    if (base === ".wh..wh..opq") {
      opaque.push(path.dirname(target));
      return;
    }
    if (base.startsWith(".wh.")) {
      whiteouts.push(path.join(path.dirname(target), base.slice(4)));
      return;
    }
    written.add(target);
    if (header.type !== "directory") {
      nonDirs.add(rel);
      await fs.rm(target, { recursive: true, force: true });
    }
    switch (header.type) {
      case "directory":
        await fs.mkdir(target, { recursive: true });
        dirs.push([target, header]);
        return;
      case "file":
      case "contiguous-file":
        await pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream(target, { mode: 0o600 }));
        break;
      case "symlink":
        await fs.symlink(header.linkname ?? "", target);
        break;
      case "link":
        await fs.link(path.join(root, safe(header.linkname ?? "")), target);
        return;
      case "character-device":
      case "block-device":
      case "fifo":
        devices.push([target, header]);
        return;
      default:
        fail(where, `entry ${rel} is a ${header.type}, which lading does not unpack`);
    }
    // Rootless, every file is the user's own: the namespace shows them as root's.
    if (isRoot) await fs.lchown(target, header.uid, header.gid);
    if (header.type !== "symlink") await fs.chmod(target, header.mode & 0o7777);
    await fs.lutimes(target, header.mtime, header.mtime);
  });
  const source = createReadStream(blob);
  const compression = compressionOf(mediaType);
  if (compression === undefined) fail(where, `layers of type ${mediaType} cannot be run on yet`);
  else await pipeline([source, ...decompression(compression), ex as unknown as NodeJS.WritableStream]);
  for (const [target, h] of devices) {
    // No device can be made outside the initial user namespace: rootless, a step sees none.
    if (!isRoot && h.type !== "fifo") continue;
    const kind = h.type === "fifo" ? ["p"] : [h.type === "block-device" ? "b" : "c", String(h.devmajor ?? 0), String(h.devminor ?? 0)];
    await exec("mknod", ["-m", (h.mode & 0o7777).toString(8), target, ...kind]);
    if (isRoot) await fs.lchown(target, h.uid, h.gid);
  }
  for (const w of whiteouts) {
    if (written.has(w)) continue;
    await fs.rm(w, { recursive: true, force: true });
    await asNamespaceRoot("mknod", [w, "c", "0", "0"]);
  }
  for (const d of opaque) await exec("setfattr", ["-n", `${isRoot ? "trusted" : "user"}.overlay.opaque`, "-v", "y", d]);
  // Children changed their directories' times: set them last, on what is still a
  // directory (a later entry may have replaced one with a link): never through a link.
  for (const [target, h] of dirs) {
    if ((await fs.lstat(target).catch(() => undefined))?.isDirectory() !== true) continue;
    if (isRoot) await fs.lchown(target, h.uid, h.gid);
    await fs.chmod(target, h.mode & 0o7777);
    await fs.utimes(target, h.mtime, h.mtime);
  }
};
