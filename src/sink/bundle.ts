/**
 * The runtime bundle sink: an OCI runtime bundle (`rootfs/` plus `config.json`) that
 * runc runs as it is. The layers are applied in order, whiteouts included, and the
 * runtime config is derived from the image config alone: the same image always gives the
 * same config.json.
 */
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import * as tar from "tar-stream";
import { canonicalJson, DiagnosticError, error } from "../core/index.ts";
import type { BuiltImage } from "../build/index.ts";
import type { ImageConfig } from "../oci/index.ts";
import type { Store } from "../store/index.ts";
import { applyRuntimeSettings, runtimeSettingsOf } from "./runtime.ts";

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Docker's default capability set, which containers expect. */
const CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

const isRoot = process.getuid?.() === 0;

const fail = (where: string, message: string): never => {
  throw new DiagnosticError([error({ file: where }, message)]);
};

/** Symlinks followed in one path before it counts as a loop, as Linux does. */
const MAX_LINKS = 40;

/**
 * The real directory under `root` that the directory path `segs` names, as the
 * container will see it: made where missing, and through symlinks resolved inside the
 * root (a base image's `/bin -> usr/bin`). A path that would leave the root, or goes
 * through a file, is refused.
 */
const resolveDir = async (root: string, segs: ReadonlyArray<string>, rel: string, where: string, links: { n: number }): Promise<string> => {
  let cur = root;
  for (const seg of segs) {
    const next = path.join(cur, seg);
    const st = await fs.lstat(next).catch(() => undefined);
    if (st === undefined) {
      await fs.mkdir(next, { mode: 0o755 });
      cur = next;
    } else if (st.isDirectory()) cur = next;
    else if (st.isSymbolicLink()) {
      if (++links.n > MAX_LINKS) return fail(where, `layer entry ${rel} goes through too many symlinks`);
      const link = await fs.readlink(next);
      const resolved = path.resolve(link.startsWith("/") ? root : cur, link.startsWith("/") ? `.${link}` : link);
      if (resolved !== root && !resolved.startsWith(root + path.sep)) return fail(where, `layer entry ${rel} goes through ${path.relative(root, next)}, a symlink that leads out of the root`);
      cur = await resolveDir(root, path.relative(root, resolved).split(path.sep).filter((x) => x !== ""), rel, where, links);
    } else return fail(where, `layer entry ${rel} goes through ${path.relative(root, next)}, which is not a directory`);
  }
  return cur;
};

/**
 * Resolves `rel` under `root`: its parent through {@link resolveDir}, so a layer can
 * never write outside the bundle; its last name as it is (an entry replaces a symlink
 * there rather than writing through it).
 */
const safeTarget = async (root: string, rel: string, where: string): Promise<string> => {
  const segs = rel.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.includes("..")) fail(where, `layer entry ${rel} escapes the root`);
  if (segs.length === 0) return root;
  return path.join(await resolveDir(root, segs.slice(0, -1), rel, where, { n: 0 }), segs[segs.length - 1]!);
};

const removeAll = (p: string): Promise<void> => fs.rm(p, { recursive: true, force: true });

const applyLayer = async (root: string, blob: string, gzipped: boolean, where: string): Promise<void> => {
  const dirTimes: Array<[string, Date]> = [];
  const ex = tar.extract();
  ex.on("entry", (header, stream, next) => {
    const done = (e?: unknown): void => {
      stream.resume();
      next(e as Error | undefined);
    };
    (async () => {
      const rel = header.name;
      const base = path.posix.basename(rel);
      const target = await safeTarget(root, rel, where);
      if (base === ".wh..wh..opq") {
        const dir = path.dirname(target);
        for (const name of await fs.readdir(dir)) await removeAll(path.join(dir, name));
        return;
      }
      if (base.startsWith(".wh.")) {
        await removeAll(path.join(path.dirname(target), base.slice(4)));
        return;
      }
      const existing = await fs.lstat(target).catch(() => undefined);
      if (existing !== undefined && !(existing.isDirectory() && header.type === "directory")) await removeAll(target);
      const mode = header.mode & 0o7777;
      switch (header.type) {
        case "directory":
          if (existing === undefined || !existing.isDirectory()) await fs.mkdir(target);
          dirTimes.push([target, header.mtime]);
          break;
        case "file":
        case "contiguous-file":
          await pipeline(stream as unknown as NodeJS.ReadableStream, createWriteStream(target, { mode: 0o600 }));
          break;
        case "symlink":
          await fs.symlink(header.linkname ?? "", target);
          break;
        case "link":
          await fs.link(await safeTarget(root, header.linkname ?? "", where), target);
          return;
        default:
          fail(where, `layer entry ${rel} is a ${header.type}, which lading does not unpack`);
      }
      if (isRoot) await fs.lchown(target, header.uid, header.gid);
      if (header.type !== "symlink") await fs.chmod(target, mode);
      await fs.lutimes(target, header.mtime, header.mtime);
    })().then(() => done(), done);
  });
  if (gzipped) await pipeline(createReadStream(blob), zlib.createGunzip(), ex as unknown as NodeJS.WritableStream);
  else await pipeline(createReadStream(blob), ex as unknown as NodeJS.WritableStream);
  // Writing children touched the directories' mtimes: set them last.
  for (const [dir, mtime] of dirTimes) await fs.utimes(dir, mtime, mtime);
};

/**
 * Resolves `user[:group]` against /etc/passwd and /etc/group under `root`, as a runtime
 * does: a name must be listed, a uid need not be.
 *
 * @category destructors
 */
export const resolveUser = async (root: string, spec: string | undefined, where: string): Promise<{ uid: number; gid: number }> => {
  if (spec === undefined || spec === "") return { uid: 0, gid: 0 };
  const [user = "", group] = spec.split(":");
  const table = async (file: string): Promise<string[][]> =>
    (await fs.readFile(path.join(root, "etc", file), "utf8").catch(() => ""))
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split(":"));
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

/**
 * Writes the image as a runtime bundle at `dir`, whole or not at all: it is assembled
 * beside `dir` and swapped in only when complete.
 *
 * @category destructors
 */
export const writeBundle = async (store: Store, image: BuiltImage, dir: string, hostname: string): Promise<void> => {
  const where = `bundle:${dir}`;
  const config = image.config.value;
  const args = [...(config.config?.Entrypoint ?? []), ...(config.config?.Cmd ?? [])];
  if (args.length === 0) fail(where, "the image has no entrypoint or cmd: a bundle needs a process to run");
  const dest = path.resolve(dir);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await fs.mkdir(path.join(tmp, "rootfs"), { recursive: true, mode: 0o755 });
    for (const layer of image.layers) await applyLayer(path.join(tmp, "rootfs"), store.blobPath(layer.digest), layer.mediaType.endsWith("gzip"), where);
    const user = await resolveUser(path.join(tmp, "rootfs"), config.config?.User, where);
    // The root directory too is the image's, not the host's: mode 0755, time `created`.
    const created = new Date(config.created ?? 0);
    await fs.chmod(path.join(tmp, "rootfs"), 0o755);
    await fs.utimes(path.join(tmp, "rootfs"), created, created);
    await fs.writeFile(path.join(tmp, "config.json"), canonicalJson(makeRuntimeConfig(config, user, hostname)));
    const old = `${dest}.old-${randomBytes(6).toString("hex")}`;
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
    await removeAll(tmp);
    throw e;
  }
};
