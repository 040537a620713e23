/**
 * What lading's benchmarks share: running and timing commands (GNU time, /proc), the
 * seeded generators of their host trees, skopeo checks and the printed tables. Each
 * benchmark script keeps only what is its own: its tree, its contenders and its targets.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

/** The repository's root: every command runs there. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const WORK = path.join(ROOT, "bench", ".work");
/** lading's CLI, run with this node. */
export const LADING = path.join(ROOT, "bin", "lading.js");
const TIME = "/usr/bin/time";

export const KiB = 1024;
export const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

/**
 * What a benchmark keeps in its directory `base`: the generated tree, the tree's marker
 * (the summary that says which parameters made it), the spec and the runs' scratch space.
 */
export const workPaths = (base: string): { readonly tree: string; readonly treeMarker: string; readonly spec: string; readonly runs: string } => ({
  tree: path.join(base, "tree"),
  treeMarker: path.join(base, "tree.json"),
  spec: path.join(base, "spec", "lading.ts"),
  runs: path.join(base, "runs"),
});

export const exists = (p: string): Promise<boolean> =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** The parsed JSON of `file`, or undefined when it is missing or not JSON. */
export const readJson = async (file: string): Promise<unknown> => {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as unknown;
  } catch {
    return undefined;
  }
};

/** Writes `source` to `file` unless it holds that already (its mtime stays put then). */
export const writeIfChanged = async (file: string, source: string): Promise<void> => {
  const current = await fs.readFile(file, "utf8").catch(() => undefined);
  if (current !== source) await fs.writeFile(file, source);
};

/** Reads every file under `dir` once, so every contender starts from a warm page cache. */
export const warmPageCache = async (dir: string): Promise<number> => {
  let bytes = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) bytes += await warmPageCache(abs);
    else if (entry.isFile()) bytes += (await fs.readFile(abs)).byteLength;
  }
  return bytes;
};

// ---------------------------------------------------------------------------------------
// The generated trees
// ---------------------------------------------------------------------------------------

/** sfc32: a small, fast, seedable PRNG with good statistical quality. */
export class Rng {
  private a = 0x9e37_79b9;
  private b = 0x243f_6a88;
  private c = 0xb7e1_5162;
  private d: number;

  constructor(seed: number) {
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<A>(xs: ReadonlyArray<A>): A {
    const x = xs[Math.floor(this.float() * xs.length)];
    if (x === undefined) throw new Error("pick from an empty array");
    return x;
  }

  /** Standard normal, by Box-Muller. */
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.float())) * Math.cos(2 * Math.PI * this.float());
  }

  /** Log-uniform integer in [lo, hi]. */
  logUniform(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.float() * (Math.log(hi) - Math.log(lo))));
  }

  /** `n` incompressible bytes. */
  bytes(n: number): Buffer {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.u32();
    return Buffer.from(words.buffer, 0, n);
  }
}

/**
 * `count` distinct made-up words of one to four syllables, and the vocabulary of
 * generated text: those words with a code token before every third of the first ones,
 * so tokens are among the most frequent.
 */
export const vocabulary = (
  rng: Rng,
  syllables: ReadonlyArray<string>,
  tokens: ReadonlyArray<string>,
  count: number,
): { readonly words: ReadonlyArray<string>; readonly vocab: ReadonlyArray<string> } => {
  const words = new Set<string>();
  while (words.size < count) {
    let w = "";
    for (let n = rng.int(1, 4); n > 0; n--) w += rng.pick(syllables);
    words.add(w);
  }
  const vocab = [...words];
  for (const [i, t] of tokens.entries()) vocab.splice(i * 3, 0, t);
  return { words: [...words], vocab };
};

/**
 * `size` bytes of text-like content: indented lines (up to `maxIndent` levels) of
 * vocabulary entries, the first ones far more likely (Zipf-ish), some ending in a number.
 */
export const textOf = (rng: Rng, vocab: ReadonlyArray<string>, size: number, maxIndent: number): Buffer => {
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    let line = "  ".repeat(rng.int(0, maxIndent));
    for (let n = rng.int(2, 12); n > 0; n--) {
      const u = rng.float();
      line += `${vocab[Math.floor(u * u * u * vocab.length)] ?? ""} `;
    }
    if (rng.chance(0.1)) line += String(rng.u32());
    line += "\n";
    parts.push(line);
    length += line.length;
  }
  return Buffer.from(parts.join(""), "latin1").subarray(0, size);
};

/** Writes one generated file with its mode and the tree's fixed mtime. */
export const writeTreeFile = async (abs: string, content: Buffer, mode: number, mtime: number): Promise<void> => {
  await fs.writeFile(abs, content);
  await fs.chmod(abs, mode);
  await fs.utimes(abs, mtime, mtime);
};

/** On a terminal, how far the generation is, every 25 MiB (after `size` more bytes). */
export const showWritten = (written: number, size: number): void => {
  if (process.stdout.isTTY && written % (25 * MiB) < size) process.stdout.write(`\r  ${Math.round(written / MiB)} MiB written`);
};

/** Ends the generation: the progress line is done, the directories get their mode and mtime. */
export const finishTree = async (dirs: Iterable<string>, mtime: number): Promise<void> => {
  if (process.stdout.isTTY) process.stdout.write("\n");
  // Directories last: writing their files moved their mtimes.
  for (const d of dirs) {
    await fs.chmod(d, 0o755);
    await fs.utimes(d, mtime, mtime);
  }
};

/** The summary a tree's marker holds: its parameters, its files and bytes. */
export interface TreeMarker {
  readonly params: unknown;
  readonly files: number;
  readonly bytes: number;
}

/**
 * The marker of the tree at `tree`, when it shows the same parameters and the tree (and
 * every path of `alsoNeeded`) is there: the tree is reused then, and that is printed.
 */
export const reusableTree = async <T extends TreeMarker>(marker: string, tree: string, params: T["params"], alsoNeeded: ReadonlyArray<string> = []): Promise<T | undefined> => {
  const found = (await readJson(marker)) as T | undefined;
  if (found === undefined || JSON.stringify(found.params) !== JSON.stringify(params)) return undefined;
  for (const p of [tree, ...alsoNeeded]) if (!(await exists(p))) return undefined;
  console.log(`tree: reusing ${path.relative(ROOT, tree)} (${found.files} files, ${(found.bytes / MiB).toFixed(0)} MiB)`);
  return found;
};

/** Seconds since `started` (a performance.now()), for printing. */
export const secondsSince = (started: number): string => ((performance.now() - started) / 1000).toFixed(1);

// ---------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------

export interface Output {
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandFailed extends Error {}

/** Runs a command to completion; throws with its stderr unless it exits 0. */
export const exec = (command: string, args: ReadonlyArray<string>): Promise<Output> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new CommandFailed(`${command}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) resolve({ stdout, stderr });
      else {
        const shown = [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(" ");
        reject(new CommandFailed(`command failed (${signal ?? `exit ${code}`}): ${shown}\n${stderr.trim().split("\n").slice(-30).join("\n")}`));
      }
    });
  });

/** The first line a command prints (its version, say), or "unknown". */
export const firstLine = async (command: string, args: ReadonlyArray<string>): Promise<string> =>
  (await exec(command, args).then((o) => o.stdout || o.stderr, () => "unknown")).trim().split("\n")[0] ?? "unknown";

/** GNU time and every tool of `tools` are there, or an error names the missing one. */
export const requireTools = async (tools: ReadonlyArray<string>): Promise<void> => {
  if (!(await fs.access(TIME, fs.constants.X_OK).then(() => true, () => false))) {
    throw new Error(`${TIME} is missing: the benchmark measures peak RSS with GNU time (apt-get install time)`);
  }
  for (const tool of tools) {
    await exec("sh", ["-c", `command -v ${tool}`]).catch(() => {
      throw new Error(`the benchmark needs ${tool} on PATH`);
    });
  }
};

// ---------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------

/** The figures of one timed command. */
export interface Run {
  /** Wall-clock seconds, measured here around the whole child. */
  readonly seconds: number;
  /** The child's peak RSS in KiB as GNU time reports it (the largest of a pipeline's processes). */
  readonly maxRssKiB: number;
  /** CPU seconds (user + system) of the child and its descendants. */
  readonly cpuSeconds: number;
  /**
   * CPU seconds the rest of the machine used meanwhile: the whole machine's busy time
   * from /proc/stat minus the child's (and its server's, if it has one). Large values
   * mean the figure is disturbed.
   */
  readonly otherCpuSeconds: number;
}

export interface Measured extends Output, Run {
  /** CPU seconds the server the command spoke to used meanwhile; 0 without one. */
  readonly serverCpuSeconds: number;
}

let clockTicks = 100;

/** Reads the kernel's clock ticks a second, the unit of /proc's CPU times. */
export const readClockTicks = async (): Promise<void> => {
  clockTicks = Number((await exec("getconf", ["CLK_TCK"])).stdout.trim()) || 100;
};

/** Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq). */
const machineBusySeconds = async (): Promise<number> => {
  const cpu = (await fs.readFile("/proc/stat", "utf8")).split("\n")[0]?.trim().split(/\s+/) ?? [];
  const [, user, nice, system, , , irq, softirq] = cpu.map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / clockTicks;
};

/** CPU seconds (user + system) a live process has used, from /proc/PID/stat. */
export const processCpuSeconds = async (pid: number): Promise<number> => {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Fields after the command name, which is in parentheses and may hold spaces: state is
  // field 3, utime 14 and stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / clockTicks;
};

/**
 * Runs a command under GNU time (its report goes to `timeFile`), after flushing earlier
 * runs' dirty pages. `serverCpu`, when given, reads the CPU seconds of a server the
 * command speaks to: what it used meanwhile is the command's, not the others'.
 */
export const measure = async (timeFile: string, command: string, args: ReadonlyArray<string>, serverCpu?: () => Promise<number>): Promise<Measured> => {
  await exec("sync", []);
  const busyBefore = await machineBusySeconds();
  const serverBefore = (await serverCpu?.()) ?? 0;
  const started = performance.now();
  const out = await exec(TIME, ["-o", timeFile, "-f", "%e %M %U %S", command, ...args]);
  const seconds = (performance.now() - started) / 1000;
  const serverCpuSeconds = ((await serverCpu?.()) ?? 0) - serverBefore;
  const busy = (await machineBusySeconds()) - busyBefore;
  const line = (await fs.readFile(timeFile, "utf8")).trim().split("\n").at(-1) ?? "";
  const [, rss, user, sys] = line.split(" ").map(Number);
  if (rss === undefined || user === undefined || sys === undefined || [rss, user, sys].some((n) => !Number.isFinite(n))) {
    throw new Error(`cannot parse GNU time's output: ${line}`);
  }
  const cpuSeconds = user + sys;
  return { ...out, seconds, maxRssKiB: rss, cpuSeconds, serverCpuSeconds, otherCpuSeconds: Math.max(0, busy - cpuSeconds - serverCpuSeconds) };
};

/** The figures of a run without its output. */
export const runOf = ({ seconds, maxRssKiB, cpuSeconds, otherCpuSeconds }: Run): Run => ({ seconds, maxRssKiB, cpuSeconds, otherCpuSeconds });

/** The columns of a run's progress line, each padded to its width. */
export const runColumns = (r: Run): { readonly seconds: string; readonly cpu: string; readonly others: string; readonly rss: string } => ({
  seconds: `${r.seconds.toFixed(2).padStart(6)} s`,
  cpu: `cpu ${r.cpuSeconds.toFixed(1).padStart(5)} s`,
  others: `others ${r.otherCpuSeconds.toFixed(1).padStart(4)} s`,
  rss: `${(r.maxRssKiB / KiB).toFixed(0).padStart(4)} MiB`,
});

/** Prints a run's progress line: its label padded to `width`, then `columns`. */
export const printRunLine = (label: string, width: number, columns: ReadonlyArray<string>): void => console.log(`  ${label.padEnd(width)} ${columns.join("  ")}`);

/** Warns about the contenders whose runs other processes disturbed (over 10% of a core). */
export const warnDisturbed = (runsByLabel: ReadonlyArray<readonly [string, ReadonlyArray<Run>]>): void => {
  const disturbed = runsByLabel.filter(([, runs]) => runs.some((r) => r.otherCpuSeconds > 0.1 * r.seconds)).map(([label]) => label);
  if (disturbed.length > 0) {
    console.log(`warning: other processes used more than 10% of a core during ${disturbed.join(", ")}: those figures are noisy`);
  }
};

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The digest lading printed as the last line of `out`; throws if there is none. */
export const digestOf = (out: Output, what: string): string => {
  const d = out.stdout.trim().split("\n").at(-1) ?? "";
  if (!DIGEST.test(d)) throw new Error(`${what} printed no digest: ${JSON.stringify(out.stdout)}`);
  return d;
};

export interface SkopeoImage {
  readonly Digest: string;
  readonly Layers: ReadonlyArray<string>;
}

export interface RawManifest {
  readonly layers?: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  readonly config?: { readonly size: number };
}

/** `skopeo inspect` of `ref`; a docker:// one is read over plain http. */
export const skopeoInspect = async (ref: string): Promise<SkopeoImage> => {
  const args = ref.startsWith("docker://") ? ["inspect", "--tls-verify=false", ref] : ["inspect", ref];
  return JSON.parse((await exec("skopeo", args)).stdout) as SkopeoImage;
};

/** The manifest of `ref` as stored (`skopeo inspect --raw`). */
export const skopeoManifest = async (ref: string): Promise<RawManifest> => JSON.parse((await exec("skopeo", ["inspect", "--raw", ref])).stdout) as RawManifest;

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/** BENCH_RUNS, the rounds to run: `fallback` when unset. */
export const benchRuns = (fallback: number): number => {
  const rounds = Number(process.env["BENCH_RUNS"] ?? String(fallback));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_RUNS must be a positive whole number, got ${process.env["BENCH_RUNS"]}`);
  return rounds;
};

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Target {
  readonly name: string;
  readonly value: number;
  readonly target: string;
  readonly pass: boolean;
}

/** A plain-text table: the first row is the header, the first column is left-aligned. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
      return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
};

/** The machine the figures are from. */
export const machine = (): { readonly cpus: number; readonly cpu: string; readonly memoryGiB: number; readonly node: string } => ({
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
});

/** The commit the figures are from (`git describe --always --dirty`), or "unknown". */
export const commit = (): Promise<string> => exec("git", ["describe", "--always", "--dirty"]).then((o) => o.stdout.trim(), () => "unknown");

/** Writes the results file and says where it is. */
export const writeResults = async (file: string, report: unknown): Promise<void> => {
  await fs.writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results: ${path.relative(ROOT, file)}`);
};

/** A failed benchmark: the reason on stderr, exit code 1. */
export const failed = (e: unknown): void => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
};
