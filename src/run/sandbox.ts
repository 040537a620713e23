/**
 * The sandbox of a run step: the image's layers as the read-only lower directories of an
 * overlay, a fresh upper directory that receives every change, and the command run there
 * by runc in new pid, mount, ipc, uts and network namespaces (only loopback unless the
 * step asks for the host's network), with cgroup limits, a wall-clock timeout, no new
 * privileges, the default capabilities and podman's default seccomp profile.
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { canonicalJson, DiagnosticError, error } from "../core/index.ts";
import type { ImageConfig } from "../oci/index.ts";
import type { PlannedRun } from "../plan/index.ts";
import { makeRuntimeConfig, resolveUser } from "../sink/index.ts";
import type { Store } from "../store/index.ts";
import { loadSeccomp } from "./seccomp.ts";
import { isRoot, lowerRoot } from "./unpack.ts";

const exec = promisify(execFile);

/**
 * The sandbox's version: part of every run step's cache key, so a change in how steps
 * run or how their changes become a layer never reuses an old result.
 *
 * @category model
 */
export const SANDBOX_VERSION = "lading-sandbox/1 runc overlay";

/**
 * What a step sees besides the image: host paths at in-image targets.
 *
 * @category model
 */
export interface SandboxMount {
  /** A bind is read-only, a volume read-write (`lading run --volume`). */
  readonly kind: "bind" | "cache" | "secret" | "volume";
  readonly target: string;
  /** Absolute host path: a bind's source, a cache's directory, a secret's temp file. */
  readonly source: string;
}

/**
 * Where a container's output goes: line by line to a callback (a step's output, prefixed
 * by the caller), or straight to lading's own stdio (`lading run`), stdin included when
 * `stdin`, through a terminal when `terminal`.
 *
 * @category model
 */
export type SandboxIo =
  | { readonly _tag: "Lines"; readonly onLine: (line: string) => void }
  | { readonly _tag: "Inherit"; readonly stdin: boolean; readonly terminal: boolean };

/**
 * How a step ended.
 *
 * @category model
 */
export interface SandboxExit {
  readonly code: number;
  readonly timedOut: boolean;
  /** The last lines of its output, for the error report. */
  readonly tail: ReadonlyArray<string>;
}

const TAIL_LINES = 20;
const CPU_PERIOD = 100_000;

/** Mount points every step has, made by runc: kept out of the upper directory. */
const SYSTEM_MOUNTS = ["/proc", "/dev", "/sys"];

type Found = "missing" | "dir" | "other";

/** What the lower directories (top first) make of `rel`: a whiteout hides what is below. */
const lookUp = async (lowersTopFirst: ReadonlyArray<string>, rel: string): Promise<Found> => {
  for (const lower of lowersTopFirst) {
    const st = await fs.lstat(path.join(lower, rel)).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isCharacterDevice() && st.rdev === 0) return "missing";
    return st.isDirectory() ? "dir" : "other";
  }
  return "missing";
};

/**
 * Makes, in `dir` (the overlay's top lower directory), the mount points the image lacks,
 * so that runc finds them there instead of making them in the upper directory, where they
 * would become part of the layer. A path through something that is not a directory is
 * left to runc, which resolves it inside the root.
 */
const makeMountPoints = async (dir: string, lowersTopFirst: ReadonlyArray<string>, points: ReadonlyArray<{ readonly target: string; readonly file: boolean }>): Promise<void> => {
  for (const { target, file } of points) {
    const segs = target.split("/").filter((s) => s !== "");
    let missing = false;
    for (let i = 1; i <= segs.length; i++) {
      const rel = segs.slice(0, i).join("/");
      if (!missing) {
        const found = await lookUp(lowersTopFirst, rel);
        if (found === "other") break;
        if (found === "dir") continue;
        missing = true;
      }
      const abs = path.join(dir, rel);
      if (i === segs.length && file) await fs.writeFile(abs, "", { mode: 0o644 });
      else await fs.mkdir(abs, { recursive: true, mode: 0o755 });
    }
  }
};

/** Lower directories relative to `root` (mount runs there), so many layers fit in one page. */
const overlayOptions = (root: string, top: string, lowers: ReadonlyArray<string>, upper: string, work: string): string => {
  const names = [...lowers].reverse().map((l) => path.relative(root, l));
  return `lowerdir=${[top, ...names].join(":")},upperdir=${upper},workdir=${work}`;
};

/**
 * Runs `run` on the layers `lowers` (unpacked, bottom first), streams its output to
 * `onLine`, and hands the upper directory (every change it made) to `use` before the
 * sandbox is taken apart. Nothing is left behind, whatever happens.
 *
 * @category destructors
 */
export const withSandbox = async <A>(
  store: Store,
  run: PlannedRun,
  lowers: ReadonlyArray<string>,
  mounts: ReadonlyArray<SandboxMount>,
  io: SandboxIo,
  use: (exit: SandboxExit, upper: string) => Promise<A>,
  /** Image config labels to lower with the process: an image's runtime settings, for `lading run`. */
  labels: Readonly<Record<string, string>> = {},
): Promise<A> => {
  const root = lowerRoot(store);
  const dir = path.join(store.root, "run", "s", `${process.pid}-${randomBytes(6).toString("hex")}`);
  const [top, upper, work, merged] = ["m", "u", "w", "r"].map((d) => path.join(dir, d)) as [string, string, string, string];
  const state = path.join(store.root, "run", "runc");
  let mounted = false;
  try {
    for (const d of [top, upper, work, merged, state]) await fs.mkdir(d, { recursive: true, mode: 0o755 });
    const lowersTopFirst = [...lowers].reverse();
    await makeMountPoints(top, lowersTopFirst, [
      ...SYSTEM_MOUNTS.map((target) => ({ target, file: false })),
      ...mounts.map((m) => ({ target: m.target, file: m.kind === "secret" })),
    ]);
    const options = overlayOptions(root, top, lowers, upper, work);
    let exit: SandboxExit;
    if (isRoot) {
      await exec("mount", ["-t", "overlay", "overlay", "-o", options, merged], { cwd: root });
      mounted = true;
      const user = await resolveUser(merged, run.user === "" ? undefined : run.user, `step user ${run.user}`);
      await fs.writeFile(path.join(dir, "config.json"), canonicalJson(stepRuntimeConfig(run, user, merged, mounts, false, io, labels)));
      exit = await runContainer(["runc", "--root", state, "run", "--bundle", dir], state, dir, run, io);
      await exec("umount", [merged]);
      mounted = false;
    } else {
      // Rootless: the overlay and the container live in a user namespace where the user
      // is root, and go away with it. One uid is mapped, so a step runs as root.
      if (!/^(|root|0)(:(root|0))?$/.test(run.user)) {
        throw new DiagnosticError([error({}, `a rootless build runs steps as root only, not as ${JSON.stringify(run.user)}`, "build as root, or run the step as root and chown what it makes")]);
      }
      if (Object.keys(run.limits).some((k) => k !== "timeout")) {
        throw new DiagnosticError([error({}, "a rootless build cannot limit memory, CPUs or processes: cgroups need root here", "build as root, or leave out the limits")]);
      }
      await fs.writeFile(path.join(dir, "config.json"), canonicalJson(stepRuntimeConfig(run, { uid: 0, gid: 0 }, merged, mounts, true, io, labels)));
      const script = 'mount -t overlay overlay -o "$1" "$2" && shift 2 && exec "$@"';
      exit = await runContainer(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", `${options},userxattr`, merged, "runc", "--root", state, "run", "--bundle", dir],
        state,
        dir,
        run,
        io,
        root,
      );
    }
    return await use(exit, upper);
  } finally {
    if (mounted) await exec("umount", ["-l", merged]).catch(() => undefined);
    // overlayfs leaves its work directory mode 0: only root could walk it to remove it.
    await fs.chmod(path.join(work, "work"), 0o700).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
};

/** The OCI runtime config of a step: the bundle's, with the step's command, mounts and limits. */
const stepRuntimeConfig = (
  run: PlannedRun,
  user: { uid: number; gid: number },
  root: string,
  mounts: ReadonlyArray<SandboxMount>,
  rootless: boolean,
  io: SandboxIo,
  labels: Readonly<Record<string, string>>,
): Record<string, unknown> => {
  const image: ImageConfig = { architecture: "", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: { Env: [...run.env], WorkingDir: run.workingDir, Entrypoint: [...run.argv], Labels: { ...labels } } } as ImageConfig;
  const base = makeRuntimeConfig(image, user, "lading") as {
    process: Record<string, unknown> & { capabilities: { bounding: string[] } };
    mounts: unknown[];
    linux: Record<string, unknown> & { namespaces: Array<{ type: string }>; resources: Record<string, unknown> };
  };
  const resources: Record<string, unknown> = { ...base.linux.resources };
  if (run.limits.memory !== undefined) resources["memory"] = { limit: run.limits.memory };
  if (run.limits.cpus !== undefined) resources["cpu"] = { quota: Math.round(run.limits.cpus * CPU_PERIOD), period: CPU_PERIOD };
  if (run.limits.pids !== undefined) resources["pids"] = { limit: run.limits.pids };
  return {
    ...base,
    process: { ...base.process, terminal: io._tag === "Inherit" && io.terminal },
    root: { ...(base as { root?: object }).root, path: root },
    mounts: [
      // Rootless, sysfs cannot be mounted afresh: the host's is bound read-only, as runc's
      // own rootless spec does.
      ...(rootless ? base.mounts.map((m) => ((m as { destination?: string }).destination === "/sys" ? { destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] } : m)) : base.mounts),
      ...mounts.map((m) => ({
        destination: m.target,
        type: "bind",
        source: m.source,
        options: m.kind === "cache" || m.kind === "volume" ? ["rbind", "rw", "nosuid", "nodev"] : ["rbind", "ro", "nosuid", "nodev"],
      })),
    ],
    linux: {
      ...base.linux,
      namespaces: base.linux.namespaces.filter((n) => run.network === "none" || n.type !== "network"),
      ...(rootless ? {} : { resources }),
      seccomp: loadSeccomp(base.process.capabilities.bounding),
    },
  };
};

/** Runs `command` (runc, perhaps inside unshare) on the bundle in `dir`, streaming its output, within the step's timeout. */
const runContainer = (command: ReadonlyArray<string>, state: string, dir: string, run: PlannedRun, io: SandboxIo, cwd?: string): Promise<SandboxExit> =>
  new Promise((resolve, reject) => {
    const id = `lading-${path.basename(dir)}`;
    const stdio = io._tag === "Lines" ? (["ignore", "pipe", "pipe"] as const) : ([io.stdin ? "inherit" : "ignore", "inherit", "inherit"] as const);
    const child = spawn(command[0]!, [...command.slice(1), id], { stdio: [...stdio], ...(cwd === undefined ? {} : { cwd }) });
    const tail: string[] = [];
    let timedOut = false;
    const lines = (stream: NodeJS.ReadableStream): void => {
      let rest = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        for (const l of parts) emit(l);
      });
      stream.on("end", () => {
        if (rest !== "") emit(rest);
      });
    };
    const emit = (line: string): void => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      if (io._tag === "Lines") io.onLine(line);
    };
    if (child.stdout !== null) lines(child.stdout);
    if (child.stderr !== null) lines(child.stderr);
    const timer =
      run.limits.timeout === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            execFile("runc", ["--root", state, "kill", id, "KILL"], () => undefined);
          }, run.limits.timeout * 1000);
    child.on("error", (e) => {
      if (timer !== undefined) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const exit = { code: code ?? 128 + (signal === null ? 0 : 9), timedOut, tail };
      // runc run removes its container when the process exits; one whose runc was killed,
      // or that was killed on its timeout, may be left, and is removed here.
      if (code !== null && !timedOut) resolve(exit);
      else execFile("runc", ["--root", state, "delete", "-f", id], () => resolve(exit));
    });
  });
