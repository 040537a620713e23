/**
 * The runtime bundle sink: an OCI runtime bundle (`rootfs/` plus `config.json`) that
 * runc runs as it is. The layers are applied in order, whiteouts included, and the
 * runtime config is derived from the image config alone: the same image always gives the
 * same config.json.
 */
import * as fsSync from "node:fs";
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { canonicalJson, createDigestingStream, DiagnosticError, failAt as fail, forEachLimit } from "../core/index.ts";
import type { Image, ImageConfig, Layer } from "../oci/index.ts";
import { classifyLayerEntry, decodeJson, decompression, eachMember } from "../oci/index.ts";
import type { Store } from "../store/index.ts";
import { readFileInRoot, resolveCachedInRoot, resolveInRoot } from "./InRootPath.ts";
import { sweepBeside, tempNameFor } from "../store/index.ts";
import { TRANSFERS } from "../registry/index.ts";
import { ensureAll, layerCompression } from "./blobs.ts";
import type { Endpoint } from "./Endpoint.ts";
import { parseAccountTable } from "../plan/index.ts";
import { applyRuntimeSettings, runtimeSettingsOf } from "./runtime.ts";
import { FileWriteError, FileWriters } from "./FileWriters.ts";

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Docker's default capability set, which containers expect. */
const CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

const isRoot = process.getuid?.() === 0;

const removeAll = (p: string): Promise<void> => fs.rm(p, { recursive: true, force: true });

/** Files up to this size are read whole from the tar, then written with one call. */
const BUFFERED_FILE = 1 << 20;

/** The rest of a tar entry's content. */
const readEntry = (stream: NodeJS.ReadableStream): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    stream.on("error", reject);
  });

/**
 * Makes a new name with `make`, which fails with EEXIST when something is there. What is
 * there is kept when `keep` says so, else removed (once no worker writes, see {@link
 * Writing}) and `make` tried again. Never a stat first: most names are new.
 */
const replacing = async (make: () => void, target: string, keep: (st: fsSync.Stats) => boolean, remove: (p: string) => Promise<void>): Promise<void> => {
  try {
    make();
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  if (keep(fsSync.lstatSync(target))) return;
  await remove(target);
  make();
};

/**
 * Small files a bundle writes itself before it starts worker threads to write the rest (a
 * few files are not worth a thread): 2,000, or LADING_BUNDLE_WORKERS_AFTER (0 for workers
 * from the first file, as the tests do to check both ways give the same tree).
 */
const workersAfter = (): number => {
  const v = Number(process.env["LADING_BUNDLE_WORKERS_AFTER"] ?? "2000");
  return Number.isInteger(v) && v >= 0 ? v : 2000;
};

/** The worker threads that write a bundle's small files, once it has had enough of them. */
class Writing {
  private writers: FileWriters | undefined;
  private seen = 0;
  private readonly after = workersAfter();

  /** The writers, when this small file should go to them. */
  take(): FileWriters | undefined {
    if (this.writers === undefined && this.seen++ >= this.after) this.writers = new FileWriters();
    return this.writers;
  }

  /** Everything given to the workers made: before anything is removed, replaced or linked. */
  async barrier(): Promise<void> {
    if (this.writers?.pending === true) await this.writers.barrier();
  }

  /** See {@link FileWriters.forget}. */
  forget(dir?: string): void {
    this.writers?.forget(dir);
  }

  /** The workers stopped: nothing more is written once this returns. */
  async close(): Promise<void> {
    await this.writers?.close();
    this.writers = undefined;
  }
}

/**
 * Applies one layer to `root`, whiteouts included, checking that its tar is the one its
 * diff_id names. Every name goes through {@link classifyLayerEntry} and every path
 * through {@link resolveInRoot}: an entry lands inside the root whatever the names and
 * links of this layer and those below, the root stays a directory, and nothing deferred
 * (a directory's mtime) follows a link made after it.
 */
const applyLayer = async (root: string, layer: Layer, blob: string, where: string, writing: Writing, emptyRoot: boolean): Promise<void> => {
  const dirTimes: Array<[string, Date]> = [];
  // Directories resolved so far; any removal or replacement may change them.
  const cache = new Map<string, string>();
  // What a new file gets in a directory without asking for it, by the directory: the
  // owner (lading's uid, and lading's gid or the directory's when it is setgid or the
  // mount says grpid) and, for each mode asked of open(2), whether that mode is what it
  // gets (the umask or the directory's default ACL may take bits away). Learnt from the
  // first file made there (one fstat), it spares each file after it the fchown and
  // fchmod that would set what is already set. A chown or chmod of the directory, or any
  // removal, forgets it.
  const born = new Map<string, { readonly uid: number; readonly gid: number; readonly modes: Map<number, boolean> }>();
  // Directories this layer made, empty but for this layer's entries: a new name there is
  // new (unless this layer names it twice, see `written`), so worker threads may make
  // small files in them while this thread goes on. Everything that removes, replaces or
  // links first waits for the workers (`writing.barrier()`): a worker never writes
  // through a directory that an entry after its file has changed.
  const fresh = new Set<string>(emptyRoot ? [root] : []);
  const resolve = (segments: ReadonlyArray<string>, followLast: boolean): Promise<string> =>
    resolveInRoot(root, segments.join("/"), where, { create: true, followLast, cache, created: fresh });
  const removeNow = (p: string): void => {
    cache.clear();
    born.clear();
    writing.forget();
    fresh.clear();
    fsSync.rmSync(p, { recursive: true, force: true });
  };
  writing.forget();
  const remove = async (p: string): Promise<void> => {
    await writing.barrier();
    removeNow(p);
  };
  // What this layer itself made: its whiteouts take away only what lower layers hold,
  // whatever the order of its entries (`.wh..wh..opq` sorts after `.bashrc`).
  const written = new Set<string>();
  const removeLower = (p: string): void => {
    if (!written.has(p)) return removeNow(p);
    if (!fsSync.lstatSync(p).isDirectory()) return;
    for (const child of fsSync.readdirSync(p)) removeLower(path.join(p, child));
  };
  const ex = tar.extract();
  eachMember(ex, async (header, stream) => {
    const classified = classifyLayerEntry(header.name);
    if (E.isLeft(classified)) return fail(where, `layer ${layer.digest}: entry ${JSON.stringify(header.name)} ${classified.left}`);
    const name = classified.right;
    switch (name._tag) {
      case "Root":
        // Its mode and time are the bundle's to set; anything but a directory would
        // make the root a link or a file, and the next entries land on the host.
        if (header.type !== "directory") fail(where, `layer ${layer.digest}: the entry for the root is a ${header.type}: the root of an image is always a directory`);
        return;
      case "Opaque": {
        await writing.barrier();
        const dir = await resolve(name.dir, true);
        for (const child of await fs.readdir(dir)) removeLower(path.join(dir, child));
        return;
      }
      case "Whiteout": {
        await writing.barrier();
        const gone = path.join(await resolve(name.dir, true), name.name);
        if (!written.has(gone)) removeNow(gone);
        return;
      }
      case "Path":
        break;
      default: {
        const never: never = name;
        throw new Error(`unknown layer entry ${JSON.stringify(never)}`);
      }
    }
    const target = resolveCachedInRoot(cache, name.segments) ?? (await resolve(name.segments, false));
    // A name this layer gave before may still be in a worker's hands; what replaces it is
    // made here, after the workers.
    const again = written.has(target);
    if (again) await writing.barrier();
    else written.add(target);
    const mode = header.mode & 0o7777;
    const owner = (f: (uid: number, gid: number) => void): void => {
      if (isRoot) f(header.uid, header.gid);
    };
    // Synchronous calls: for many small entries, a trip through the thread pool per
    // call costs more than the calls. Each makes a new name and fails if one is
    // there (never following it); only then is the old one removed.
    switch (header.type) {
      case "directory": {
        // An existing directory is kept, with what lower layers put in it.
        let made = false;
        await replacing(() => {
          fsSync.mkdirSync(target, { mode: 0o700 });
          made = true;
          fresh.add(target);
        }, target, (st) => st.isDirectory(), remove);
        // Files a worker has yet to make in a directory found here take their owner and
        // mode from it as it was, and what the workers learnt of it is forgotten.
        if (!made) await writing.barrier();
        owner((u, g) => fsSync.lchownSync(target, u, g));
        // A directory found or just made at this resolved name, not a link: chmod
        // follows nothing here.
        fsSync.chmodSync(target, mode);
        born.delete(target);
        if (!made) writing.forget(target);
        dirTimes.push([target, header.mtime]);
        return;
      }
      case "file":
      case "contiguous-file": {
        const small = header.size !== undefined && header.size <= BUFFERED_FILE;
        // A new name in a directory this layer made; not a directory made on the way to
        // an entry before (that one is replaced here).
        // (A name with a NUL fails here, as the system call refuses it.)
        const writers = small && !again && fresh.has(path.dirname(target)) && !fresh.has(target) && !target.includes("\0") ? writing.take() : undefined;
        if (writers !== undefined) {
          const content = await readEntry(stream as unknown as NodeJS.ReadableStream);
          const mtime = header.mtime.getTime() / 1000;
          await writers.write({ target, content, mode, uid: header.uid, gid: header.gid, mtime });
          return;
        }
        let fd = -1;
        // Permission bits alone are asked of open(2) itself; setuid, setgid and sticky
        // bits only by fchmod, after the owner is set (a chown clears the first two) and
        // the content written.
        const plain = (mode & ~0o777) === 0;
        await replacing(() => (fd = fsSync.openSync(target, "wx", plain ? mode : 0o600)), target, () => false, remove);
        try {
          if (header.size !== undefined && header.size > BUFFERED_FILE) {
            await pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream("", { fd, autoClose: false }));
          } else {
            const content = await readEntry(stream as unknown as NodeJS.ReadableStream);
            for (let off = 0; off < content.length; ) off += fsSync.writeSync(fd, content, off);
          }
          const dir = path.dirname(target);
          let got = born.get(dir);
          if (plain && got?.modes.has(mode) !== true) {
            const st = fsSync.fstatSync(fd);
            if (got === undefined) born.set(dir, (got = { uid: st.uid, gid: st.gid, modes: new Map() }));
            got.modes.set(mode, (st.mode & 0o7777) === mode);
          }
          if (got === undefined || got.uid !== header.uid || got.gid !== header.gid) owner((u, g) => fsSync.fchownSync(fd, u, g));
          if (!plain || got?.modes.get(mode) !== true) fsSync.fchmodSync(fd, mode);
          fsSync.futimesSync(fd, header.mtime, header.mtime);
        } finally {
          fsSync.closeSync(fd);
        }
        return;
      }
      case "symlink":
        await replacing(() => fsSync.symlinkSync(header.linkname ?? "", target), target, () => false, remove);
        owner((u, g) => fsSync.lchownSync(target, u, g));
        fsSync.lutimesSync(target, header.mtime, header.mtime);
        return;
      case "link": {
        // link(2) does not follow a link it is given: the new name shares the inode
        // found inside the root, never one outside.
        // What it links to may be a worker's file not made yet.
        await writing.barrier();
        const existing = await resolve((header.linkname ?? "").split("/"), false);
        await replacing(() => fsSync.linkSync(existing, target), target, () => false, remove);
        return;
      }
      default:
        fail(where, `layer entry ${header.name} is a ${header.type}, which lading does not unpack`);
    }
  });
  const tarred = createDigestingStream(1 << 20);
  await pipeline([
    createReadStream(blob, { highWaterMark: 1 << 20 }),
    // Large chunks: each one is a trip through the thread pool, and the tar parser
    // waits for it.
    ...decompression(layerCompression(layer.mediaType, `layer ${layer.digest}`), 1 << 18),
    tarred.stream,
    ex as unknown as NodeJS.WritableStream,
  ])
    .then(() => writing.barrier())
    .catch((e: unknown) => {
      if (e instanceof DiagnosticError) throw e;
      if (e instanceof FileWriteError) return fail(where, `layer ${layer.digest}: cannot write ${path.relative(root, e.target)}: ${e.message}`);
      return fail(where, `layer ${layer.digest} cannot be unpacked: ${(e as Error).message}`);
    });
  if (tarred.digest() !== layer.diffId) fail(where, `layer ${layer.digest} does not unpack to its diff_id ${layer.diffId}: refused`);
  // Writing children touched the directories' mtimes: set them last, on what is still a
  // directory (a later entry may have replaced one with a link) and never through a link.
  for (const [dir, mtime] of dirTimes) {
    const st = await fs.lstat(dir).catch(() => undefined);
    if (st?.isDirectory() === true) await fs.lutimes(dir, mtime, mtime);
  }
};

/** The most of /etc/passwd or /etc/group lading reads: far more than any real one. */
const MAX_USER_TABLE = 4 << 20;

/**
 * Resolves `user[:group]` against /etc/passwd and /etc/group under `root`, as a runtime
 * does: a name must be listed, a uid need not be.
 *
 * @category destructors
 */
export const resolveUser = async (root: string, spec: string | undefined, where: string): Promise<{ uid: number; gid: number }> => {
  if (spec === undefined || spec === "") return { uid: 0, gid: 0 };
  const [user = "", group] = spec.split(":");
  const table = async (file: string): Promise<ReadonlyArray<ReadonlyArray<string>>> =>
    parseAccountTable((await readFileInRoot(root, `etc/${file}`, MAX_USER_TABLE, where))?.toString("utf8") ?? "");
  const id = (v: string | undefined, what: string): number => {
    if (v === undefined || !/^[0-9]+$/.test(v)) return fail(where, `the image's ${what} is not a number: ${JSON.stringify(v ?? "")}`);
    return Number(v);
  };
  let uid: number;
  let gid: number | undefined;
  const passwd = await table("passwd");
  if (/^[0-9]+$/.test(user)) {
    uid = Number(user);
    // A numeric user still takes its primary group from /etc/passwd when listed there.
    const row = passwd.find((r) => r[2] === user);
    if (row !== undefined) gid = id(row[3], `/etc/passwd gid of uid ${user}`);
  } else {
    const row = passwd.find((r) => r[0] === user);
    if (row === undefined) return fail(where, `user "${user}" is not in the image's /etc/passwd`);
    uid = id(row[2], `/etc/passwd uid of ${user}`);
    gid = id(row[3], `/etc/passwd gid of ${user}`);
  }
  if (group !== undefined) {
    if (/^[0-9]+$/.test(group)) gid = Number(group);
    else {
      const row = (await table("group")).find((r) => r[0] === group);
      if (row === undefined) return fail(where, `group "${group}" is not in the image's /etc/group`);
      gid = id(row[2], `/etc/group gid of ${group}`);
    }
  }
  return { uid, gid: gid ?? 0 };
};

/**
 * The OCI runtime config for an image config: the process is Entrypoint then Cmd, with
 * a default PATH when Env sets none, Docker's default capabilities and the usual
 * /proc, /dev and /sys mounts, changed by the image's runtime settings when it has any.
 *
 * @category constructors
 */
export const makeRuntimeConfig = (config: ImageConfig, user: { uid: number; gid: number }, hostname: string): object => {
  const c = config.config ?? {};
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const env = c.Env ?? [];
  // The image's own runtime settings (Image.withRuntime), carried in its config's labels.
  return applyRuntimeSettings({
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user,
      args,
      env: env.some((e) => e.startsWith("PATH=")) ? env : [DEFAULT_PATH, ...env],
      cwd: c.WorkingDir ?? "/",
      capabilities: { bounding: CAPABILITIES, effective: CAPABILITIES, permitted: CAPABILITIES },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: false },
    hostname,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      resources: { devices: [{ allow: false, access: "rwm" }] },
      maskedPaths: ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
      readonlyPaths: ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  }, runtimeSettingsOf(c.Labels));
};

/** What marks a directory as a bundle lading wrote: the runtime config it writes. */
const BundleConfig = t.type({ ociVersion: t.string, root: t.type({ path: t.literal("rootfs") }), process: t.UnknownRecord });

/**
 * Refuses to replace anything at `dest` but nothing, an empty directory, or a bundle
 * lading wrote (`config.json` and `rootfs/`, nothing else): `bundle:.` must not delete
 * a project, nor `bundle:important` a directory of files.
 */
const ensureReplaceable = async (dest: string, where: string): Promise<void> => {
  const st = await fs.lstat(dest).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (st === undefined) return;
  const hint = "choose a new directory, or remove this one yourself";
  if (!st.isDirectory()) fail(where, `${st.isSymbolicLink() ? "is a symlink" : "exists and is not a directory"}: lading replaces only a runtime bundle it wrote`, hint);
  const names = (await fs.readdir(dest)).sort();
  if (names.length === 0) return;
  const other = names.filter((n) => n !== "config.json" && n !== "rootfs");
  const rootfs = await fs.lstat(path.join(dest, "rootfs")).catch(() => undefined);
  const config = await fs.readFile(path.join(dest, "config.json"), "utf8").catch(() => undefined);
  const isBundle = other.length === 0 && rootfs?.isDirectory() === true && config !== undefined && E.isRight(decodeJson(BundleConfig, config, where));
  if (!isBundle) {
    const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? ", ..." : "");
    fail(where, `exists and is not a runtime bundle (it holds ${shown}): lading replaces only a bundle it wrote`, hint);
  }
};

/**
 * Writes the image as a runtime bundle at `dir`, whole or not at all: it is assembled
 * beside `dir` and swapped in only when complete. What is at `dir` is replaced only when
 * it is a bundle lading wrote (or an empty directory).
 *
 * @category destructors
 */
export const writeBundle = async (store: Store, image: Image, dir: string, hostname: string): Promise<void> => {
  const where = `bundle:${dir}`;
  const config = image.config.value;
  const args = [...(config.config?.Entrypoint ?? []), ...(config.config?.Cmd ?? [])];
  if (args.length === 0) fail(where, "the image has no entrypoint or cmd: a bundle needs a process to run");
  const dest = path.resolve(dir);
  await ensureReplaceable(dest, where);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const tmp = tempNameFor(dest);
  const writing = new Writing();
  try {
    await fs.mkdir(path.join(tmp, "rootfs"), { recursive: true, mode: 0o755 });
    for (const [i, layer] of image.layers.entries()) await applyLayer(path.join(tmp, "rootfs"), layer, store.blobPath(layer.digest), where, writing, i === 0);
    await writing.close();
    const user = await resolveUser(path.join(tmp, "rootfs"), config.config?.User, where);
    // The root directory too is the image's, not the host's: mode 0755, time `created`.
    const created = new Date(config.created ?? 0);
    await fs.chmod(path.join(tmp, "rootfs"), 0o755);
    await fs.utimes(path.join(tmp, "rootfs"), created, created);
    await fs.writeFile(path.join(tmp, "config.json"), canonicalJson(makeRuntimeConfig(config, user, hostname)));
    const old = tempNameFor(dest, "old");
    const hadOld = await fs.rename(dest, old).then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return false;
        throw e;
      },
    );
    await fs.rename(tmp, dest);
    if (hadOld) await removeAll(old);
  } catch (e) {
    // No worker may write into what is removed.
    await writing.close();
    await removeAll(tmp);
    throw e;
  }
};

/**
 * `bundle:DIR`, an OCI runtime bundle: an output only. Each layer is hashed before it is
 * unpacked: unpacked, its bytes could not be checked against its digest after the fact.
 *
 * @category constructors
 */
export const bundle = (dir: string, source: string): Endpoint => ({
  source,
  open: () => fail(source, "a runtime bundle is an output only: read the image from an oci, oci-archive or docker-archive location"),
  write: async ({ store, blobs, image, opts }) => {
    for (const l of image.layers) layerCompression(l.mediaType, `layer ${l.digest}`);
    await ensureAll(blobs, image.layers.map((l) => l.digest));
    await forEachLimit([...new Set(image.layers.map((l) => l.digest))], TRANSFERS, async (d) => {
      if (!(await store.hasBlobHashedNow(d))) throw await store.discardCorrupt(d);
    });
    await sweepBeside(dir);
    await writeBundle(store, image, dir, opts.defaultName);
  },
});
