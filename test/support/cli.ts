/**
 * Runs the real `lading` binary in a child process, as a user would.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = path.join(REPO, "bin", "lading.js");

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Runs under `sh -c 'umask U; ...'`. */
  readonly umask?: string;
}

/** Runs `lading ARGS`; never throws on a non-zero exit. */
export const runLading = (args: ReadonlyArray<string>, opts: RunOptions = {}): Promise<RunResult> =>
  run(process.execPath, [BIN, ...args], opts);

/** Runs any command; never throws on a non-zero exit. */
export const run = (cmd: string, args: ReadonlyArray<string>, opts: RunOptions = {}): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const [file, argv] =
      opts.umask === undefined
        ? [cmd, [...args]]
        : ["/bin/sh", ["-c", `umask ${opts.umask} && exec "$0" "$@"`, cmd, ...args]];
    const child = spawn(file, argv, { cwd: opts.cwd ?? REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });

/** Runs a command that must succeed; its output is in the error otherwise. */
export const mustRun = async (cmd: string, args: ReadonlyArray<string>, opts: RunOptions = {}): Promise<RunResult> => {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
};
