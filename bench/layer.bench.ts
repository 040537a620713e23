/**
 * The layer benchmark: one 250 MiB, ~20,000-file host directory copied into an image as
 * one layer, built by lading (cold store and warm store), by the GNU pipeline that does
 * the same work (tar | gzip -6 | sha256sum), and by buildah (COPY-only Dockerfile, bud +
 * push to an OCI layout). Prints median wall-clock seconds, lading's peak RSS and the
 * ratios against their targets, and writes bench/.work/results.json.
 *
 * It is a measurement, not a test: a missed target still exits 0. A failing command, a
 * missing tool or an invalid image exits 1.
 *
 *   npm run bench                  # BENCH_RUNS=2 rounds by default
 *   BENCH_RUNS=3 npm run bench
 *
 * The tree is generated once (seeded, so always the same bytes) and reused while
 * bench/.work/tree.json shows the same parameters; delete bench/.work to start over.
 * Linux only: GNU time, /proc/stat, buildah.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORK = path.join(ROOT, "bench", ".work");
const TREE = path.join(WORK, "tree");
const TREE_MARKER = path.join(WORK, "tree.json");
const SPEC = path.join(WORK, "spec", "lading.ts");
const CONTEXT = path.join(WORK, "buildah-context");
const RUNS_DIR = path.join(WORK, "runs");
const RESULTS = path.join(WORK, "results.json");
const TIME = "/usr/bin/time";

const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------

/** Everything the generated tree depends on: a change regenerates it. */
const TREE_PARAMS = {
  generator: 2,
  seed: 0x1ad1_9e5e,
  totalBytes: 250 * MiB,
  smallFiles: 19_680,
  mediumFiles: 300,
  directories: 420,
  maxDepth: 5,
  /** Fixed mtime of every file and directory, so hash caches never see a racy file. */
  mtime: 1_704_067_200,
} as const;

/** sfc32: a small, fast, seedable PRNG with good statistical quality. */
class Rng {
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

type Kind = "text" | "binary" | "mixed";

interface FilePlan {
  readonly rel: string;
  readonly size: number;
  readonly kind: Kind;
  readonly executable: boolean;
}

const SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sha", "vel", "dor", "in", "qu", "ex", "ar", "po", "li", "ne", "st", "ion", "al", "er", "ma", "tr", "con", "de", "fi", "gu", "ho", "ja", "or", "ul", "ze"];
const CODE_TOKENS = ["const", "return", "function", "import", "export", "if", "else", "for", "=", "=>", "{", "}", "(", ")", ";", "0", "1", "null", "true", "false", "this.", "await", "async", "new", "type", "<div>", "</div>", "\"", ":", ","];

const EXTENSIONS: Record<Kind, ReadonlyArray<string>> = {
  text: ["js", "ts", "json", "md", "html", "css", "txt", "py", "yaml", "xml"],
  binary: ["png", "jpg", "gz", "woff2", "zip"],
  mixed: ["so", "o", "pyc", "wasm", "bin"],
};
const LARGE_EXTENSIONS: Record<Kind, ReadonlyArray<string>> = {
  text: ["log", "sql", "csv"],
  binary: ["tar.gz", "jpg", "mp4"],
  mixed: ["so", "bin", "db"],
};

/** Text-like content: lines of tokens, frequent tokens far more likely (Zipf-ish). */
class TextSource {
  private readonly rng: Rng;
  private readonly vocab: ReadonlyArray<string>;
  private readonly words: ReadonlyArray<string>;

  constructor(rng: Rng) {
    this.rng = rng;
    const words = new Set<string>();
    while (words.size < 800) {
      let w = "";
      for (let n = rng.int(1, 4); n > 0; n--) w += rng.pick(SYLLABLES);
      words.add(w);
    }
    this.words = [...words];
    const vocab = [...words];
    // Interleave code tokens among the most frequent words.
    for (const [i, t] of CODE_TOKENS.entries()) vocab.splice(i * 3, 0, t);
    this.vocab = vocab;
  }

  text(size: number): Buffer {
    const { rng, vocab } = this;
    const parts: string[] = [];
    let length = 0;
    while (length < size) {
      let line = "  ".repeat(rng.int(0, 4));
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
  }

  /** Text interleaved with incompressible runs, like an object file's tables and code. */
  mixed(size: number): Buffer {
    const chunks: Buffer[] = [];
    let length = 0;
    while (length < size) {
      const n = Math.min(size - length, this.rng.int(1 * KiB, 32 * KiB));
      chunks.push(this.rng.chance(0.35) ? this.rng.bytes(n) : this.text(n));
      length += n;
    }
    return Buffer.concat(chunks, size);
  }

  content(kind: Kind, size: number): Buffer {
    switch (kind) {
      case "text":
        return this.text(size);
      case "binary":
        return this.rng.bytes(size);
      case "mixed":
        return this.mixed(size);
    }
  }

  word(): string {
    return this.rng.pick(this.words);
  }
}

const chooseKind = (rng: Rng, text: number, binary: number): Kind => {
  const u = rng.float();
  return u < text ? "text" : u < text + binary ? "binary" : "mixed";
};

/** Directories and files of the tree, all decided before anything is written. */
const planTree = (rng: Rng, words: TextSource): { dirs: string[]; files: FilePlan[] } => {
  const p = TREE_PARAMS;
  const dirs: Array<{ rel: string; depth: number }> = [{ rel: "", depth: 0 }];
  const names = new Map<string, Set<string>>([["", new Set()]]);
  const unique = (dir: string, base: string, ext: string): string => {
    const taken = names.get(dir) ?? new Set<string>();
    names.set(dir, taken);
    let name = ext === "" ? base : `${base}.${ext}`;
    for (let i = 2; taken.has(name); i++) name = ext === "" ? `${base}${i}` : `${base}${i}.${ext}`;
    taken.add(name);
    return dir === "" ? name : `${dir}/${name}`;
  };
  while (dirs.length < p.directories) {
    const parent = rng.pick(dirs);
    if (parent.depth >= p.maxDepth) continue;
    const rel = unique(parent.rel, words.word(), "");
    names.set(rel, new Set());
    dirs.push({ rel, depth: parent.depth + 1 });
  }
  const files: FilePlan[] = [];
  const place = (size: number, kind: Kind, exts: ReadonlyArray<string>, executable: boolean): void => {
    const dir = rng.pick(dirs).rel;
    files.push({ rel: unique(dir, `${words.word()}-${words.word()}`, executable ? "sh" : rng.pick(exts)), size, kind, executable });
  };
  let total = 0;
  for (let i = 0; i < p.smallFiles; i++) {
    // Log-normal around 2.5 KB, clamped to 64 B .. 64 KB.
    const size = Math.min(64 * KiB, Math.max(64, Math.round(2500 * Math.exp(0.9 * rng.normal()))));
    const kind = chooseKind(rng, 0.85, 0.08);
    place(size, kind, EXTENSIONS[kind], kind === "text" && rng.chance(0.02));
    total += size;
  }
  for (let i = 0; i < p.mediumFiles; i++) {
    const size = rng.logUniform(64 * KiB, 512 * KiB);
    const kind = chooseKind(rng, 0.6, 0.25);
    place(size, kind, EXTENSIONS[kind], false);
    total += size;
  }
  // Large files (1-10 MB) fill the rest of the byte budget.
  while (total < p.totalBytes) {
    const left = p.totalBytes - total;
    let size = Math.min(left, rng.int(1 * MiB, 10 * MiB));
    if (left - size < 1 * MiB) size = left;
    const kind = chooseKind(rng, 0.55, 0.3);
    place(size, kind, LARGE_EXTENSIONS[kind], false);
    total += size;
  }
  return { dirs: dirs.map((d) => d.rel), files };
};

interface TreeSummary {
  readonly params: typeof TREE_PARAMS;
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
  readonly bytesByKind: Readonly<Record<Kind, number>>;
}

const exists = (p: string): Promise<boolean> =>
  fs.access(p).then(
    () => true,
    () => false,
  );

const readJson = async (file: string): Promise<unknown> => {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as unknown;
  } catch {
    return undefined;
  }
};

const generateTree = async (): Promise<TreeSummary> => {
  const rng = new Rng(TREE_PARAMS.seed);
  const source = new TextSource(rng);
  const { dirs, files } = planTree(rng, source);
  await fs.rm(TREE, { recursive: true, force: true });
  for (const d of dirs) await fs.mkdir(path.join(TREE, d), { recursive: true, mode: 0o755 });
  const bytesByKind: Record<Kind, number> = { text: 0, binary: 0, mixed: 0 };
  let written = 0;
  for (const f of files) {
    const abs = path.join(TREE, f.rel);
    await fs.writeFile(abs, source.content(f.kind, f.size));
    await fs.chmod(abs, f.executable ? 0o755 : 0o644);
    await fs.utimes(abs, TREE_PARAMS.mtime, TREE_PARAMS.mtime);
    bytesByKind[f.kind] += f.size;
    written += f.size;
    if (process.stdout.isTTY && written % (25 * MiB) < f.size) process.stdout.write(`\r  ${Math.round(written / MiB)} MiB written`);
  }
  if (process.stdout.isTTY) process.stdout.write("\n");
  // Directories last: writing their files moved their mtimes.
  for (const d of dirs) {
    await fs.chmod(path.join(TREE, d), 0o755);
    await fs.utimes(path.join(TREE, d), TREE_PARAMS.mtime, TREE_PARAMS.mtime);
  }
  return { params: TREE_PARAMS, files: files.length, directories: dirs.length, bytes: written, bytesByKind };
};

/** The tree (reused when its marker shows the same parameters) and buildah's context. */
const ensureTree = async (): Promise<TreeSummary> => {
  const marker = (await readJson(TREE_MARKER)) as TreeSummary | undefined;
  if (marker !== undefined && JSON.stringify(marker.params) === JSON.stringify(TREE_PARAMS) && (await exists(TREE)) && (await exists(CONTEXT))) {
    console.log(`tree: reusing ${path.relative(ROOT, TREE)} (${marker.files} files, ${(marker.bytes / MiB).toFixed(0)} MiB)`);
    return marker;
  }
  console.log(`tree: generating ${path.relative(ROOT, TREE)}...`);
  const started = performance.now();
  await fs.mkdir(WORK, { recursive: true });
  await fs.rm(TREE_MARKER, { force: true });
  await fs.rm(CONTEXT, { recursive: true, force: true });
  const summary = await generateTree();
  // buildah's build context: the same files, hard-linked (no second copy of the bytes).
  await fs.mkdir(CONTEXT, { recursive: true });
  await exec("cp", ["-al", TREE, path.join(CONTEXT, "tree")]);
  await fs.writeFile(path.join(CONTEXT, "Dockerfile"), "FROM scratch\nCOPY tree /data\n");
  await fs.writeFile(TREE_MARKER, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`tree: ${summary.files} files, ${summary.directories} dirs, ${(summary.bytes / MiB).toFixed(0)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return summary;
};

const SPEC_SOURCE = `/**
 * Generated by bench/layer.bench.ts: the benchmark tree as one layer.
 */
import { Entry, Image, Layer, pipe } from "lading";

const tree = Layer.make("tree", [Entry.copy("../tree", "/data")]);

export const bench = pipe(Image.scratch, Image.withLayers(tree));
`;

/** The same image with a change on top, for `lading diff`: one more layer and an env. */
const VARIANT = path.join(WORK, "spec", "variant.ts");
const VARIANT_SOURCE = `/**
 * Generated by bench/layer.bench.ts: the benchmark image with one change, for lading diff.
 */
import { Entry, Image, Layer, pipe } from "lading";
import { bench } from "./lading.ts";

export const variant = pipe(bench, Image.withLayer(Layer.make("extra", [Entry.file("/etc/extra", "x\\n")])), Image.withEnv({ MODE: "variant" }));
`;

const ensureSpec = async (): Promise<void> => {
  await fs.mkdir(path.dirname(SPEC), { recursive: true });
  for (const [file, source] of [
    [SPEC, SPEC_SOURCE],
    [VARIANT, VARIANT_SOURCE],
  ] as const) {
    const current = await fs.readFile(file, "utf8").catch(() => undefined);
    if (current !== source) await fs.writeFile(file, source);
  }
};

/** Reads every file of the tree once, so every contender starts from a warm page cache. */
const warmPageCache = async (dir: string): Promise<number> => {
  let bytes = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) bytes += await warmPageCache(abs);
    else if (entry.isFile()) bytes += (await fs.readFile(abs)).byteLength;
  }
  return bytes;
};

// ---------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------

interface Output {
  readonly stdout: string;
  readonly stderr: string;
}

class CommandFailed extends Error {}

/** Runs a command to completion; throws with its stderr unless it exits 0. */
const exec = (command: string, args: ReadonlyArray<string>): Promise<Output> =>
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

interface Run {
  /** Wall-clock seconds, measured here around the whole child. */
  readonly seconds: number;
  /** The child's peak RSS in KiB as GNU time reports it (the largest of a pipeline's processes). */
  readonly maxRssKiB: number;
  /** CPU seconds (user + system) of the child and its descendants. */
  readonly cpuSeconds: number;
  /**
   * CPU seconds the rest of the machine used meanwhile: the whole machine's busy time
   * from /proc/stat minus the child's. Large values mean the figure is disturbed.
   */
  readonly otherCpuSeconds: number;
  readonly detail?: Readonly<Record<string, number>>;
}

interface Measured extends Output, Run {}

let clockTicks = 100;

/** Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq). */
const machineBusySeconds = async (): Promise<number> => {
  const cpu = (await fs.readFile("/proc/stat", "utf8")).split("\n")[0]?.trim().split(/\s+/) ?? [];
  const [, user, nice, system, , , irq, softirq] = cpu.map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / clockTicks;
};

/** Runs a command under GNU time, after flushing earlier runs' dirty pages. */
const measure = async (command: string, args: ReadonlyArray<string>): Promise<Measured> => {
  await exec("sync", []);
  const timeFile = path.join(RUNS_DIR, "time.txt");
  const busyBefore = await machineBusySeconds();
  const started = performance.now();
  const out = await exec(TIME, ["-o", timeFile, "-f", "%e %M %U %S", command, ...args]);
  const seconds = (performance.now() - started) / 1000;
  const busy = (await machineBusySeconds()) - busyBefore;
  const line = (await fs.readFile(timeFile, "utf8")).trim().split("\n").at(-1) ?? "";
  const [, rss, user, sys] = line.split(" ").map(Number);
  if (rss === undefined || user === undefined || sys === undefined || [rss, user, sys].some((n) => !Number.isFinite(n))) {
    throw new Error(`cannot parse GNU time's output: ${line}`);
  }
  const cpuSeconds = user + sys;
  return { ...out, seconds, maxRssKiB: rss, cpuSeconds, otherCpuSeconds: Math.max(0, busy - cpuSeconds) };
};

const runOf = ({ seconds, maxRssKiB, cpuSeconds, otherCpuSeconds }: Run): Run => ({ seconds, maxRssKiB, cpuSeconds, otherCpuSeconds });

const printRun = (label: string, r: Run, extra: string): void =>
  console.log(
    `  ${label.padEnd(13)} ${r.seconds.toFixed(2).padStart(6)} s  cpu ${r.cpuSeconds.toFixed(1).padStart(5)} s  others ${r.otherCpuSeconds.toFixed(1).padStart(4)} s  ${(r.maxRssKiB / KiB).toFixed(0).padStart(4)} MiB  ${extra}`,
  );

const lading = (args: ReadonlyArray<string>): Promise<Measured> => measure(process.execPath, [path.join(ROOT, "bin", "lading.js"), ...args]);

const buildah = (root: string, args: ReadonlyArray<string>): Promise<Measured> =>
  measure("buildah", ["--storage-driver", "vfs", "--root", path.join(root, "root"), "--runroot", path.join(root, "runroot"), ...args]);

const DIGEST = /^sha256:[0-9a-f]{64}$/;

const digestOf = (out: Output, what: string): string => {
  const d = out.stdout.trim().split("\n").at(-1) ?? "";
  if (!DIGEST.test(d)) throw new Error(`${what} printed no digest: ${JSON.stringify(out.stdout)}`);
  return d;
};

// ---------------------------------------------------------------------------------------
// The contenders
// ---------------------------------------------------------------------------------------

type Contender = "ladingCold" | "ladingWarm" | "ladingDiff" | "gnuPipeline" | "buildah";

const LABELS: Record<Contender, string> = {
  ladingCold: "lading cold",
  ladingWarm: "lading warm",
  ladingDiff: "lading diff (cold store)",
  gnuPipeline: "tar | gzip -6 | sha256sum",
  buildah: "buildah bud + push",
};

interface Round {
  readonly runs: Record<Contender, Run>;
  readonly digests: { readonly cold: string; readonly warm: string; readonly gnuSha256: string };
}

const GNU_PIPELINE = "set -euo pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C bench/.work tree | gzip -n -6 | sha256sum";

const runRound = async (i: number, verify: boolean): Promise<Round> => {
  const dir = path.join(RUNS_DIR, String(i));
  await fs.mkdir(dir, { recursive: true });
  const spec = path.relative(ROOT, SPEC);
  const store = path.join(dir, "store");
  const coldOut = path.join(dir, "lading-cold");
  const warmOut = path.join(dir, "lading-warm");

  const cold = await lading(["build", spec, "--out", `oci:${coldOut}:bench`, "--store", store, "--no-check"]);
  const coldDigest = digestOf(cold, "lading cold build");
  printRun("lading cold", cold, coldDigest);

  const warm = await lading(["build", spec, "--out", `oci:${warmOut}:bench`, "--store", store, "--no-check"]);
  const warmDigest = digestOf(warm, "lading warm build");
  printRun("lading warm", warm, warmDigest);
  if (warmDigest !== coldDigest) throw new Error(`the warm build's digest ${warmDigest} differs from the cold build's ${coldDigest}`);
  if (verify) await verifyLadingImage(coldOut, coldDigest);

  // Two specs of the whole tree, compared as plans with an empty store: every file is
  // stat'ed and hashed once. diff exits 1 for "different", which is what is expected.
  const diffStore = path.join(dir, "diff-store");
  const diffScript = `"$0" bin/lading.js diff ${spec} ${path.relative(ROOT, VARIANT)} --no-check --quiet --store ${diffStore}; test $? -eq 1`;
  const diff = await measure("bash", ["-c", diffScript, process.execPath]);
  printRun("lading diff", diff, "two specs, every file hashed");

  const gnu = await measure("bash", ["-c", GNU_PIPELINE]);
  const gnuSha256 = gnu.stdout.trim().split(/\s+/)[0] ?? "";
  printRun("GNU pipeline", gnu, `sha256:${gnuSha256}`);

  const buildahDir = path.join(dir, "buildah");
  let bud: Measured;
  let push: Measured;
  try {
    bud = await buildah(buildahDir, ["bud", "--timestamp", "0", "-t", "bench:latest", CONTEXT]);
    push = await buildah(buildahDir, ["push", "bench:latest", `oci:${path.join(dir, "buildah-oci")}:bench`]);
  } finally {
    // vfs keeps full copies of every layer: gigabytes if left behind.
    await fs.rm(buildahDir, { recursive: true, force: true });
  }
  const buildahRun: Run = {
    seconds: bud.seconds + push.seconds,
    maxRssKiB: Math.max(bud.maxRssKiB, push.maxRssKiB),
    cpuSeconds: bud.cpuSeconds + push.cpuSeconds,
    otherCpuSeconds: bud.otherCpuSeconds + push.otherCpuSeconds,
    detail: { budSeconds: bud.seconds, pushSeconds: push.seconds },
  };
  printRun("buildah", buildahRun, `bud ${bud.seconds.toFixed(2)} s + push ${push.seconds.toFixed(2)} s`);
  if (verify) await skopeoInspect(`oci:${path.join(dir, "buildah-oci")}:bench`);
  // Each round leaves ~4 copies of the layer: gone before the next round writes its own.
  await fs.rm(dir, { recursive: true, force: true });

  return {
    runs: {
      ladingCold: runOf(cold),
      ladingWarm: runOf(warm),
      ladingDiff: runOf(diff),
      gnuPipeline: runOf(gnu),
      buildah: buildahRun,
    },
    digests: { cold: coldDigest, warm: warmDigest, gnuSha256 },
  };
};

interface SkopeoImage {
  readonly Digest: string;
  readonly Layers: ReadonlyArray<string>;
}

interface RawManifest {
  readonly layers?: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
}

const skopeoInspect = async (ref: string): Promise<SkopeoImage> => {
  const out = await exec("skopeo", ["inspect", ref]);
  const image = JSON.parse(out.stdout) as SkopeoImage;
  if (!Array.isArray(image.Layers) || image.Layers.length !== 1) throw new Error(`${ref}: expected one layer, skopeo shows ${JSON.stringify(image.Layers)}`);
  return image;
};

let ladingLayerBytes: number | undefined;

/** The cold build's output is a valid OCI image (skopeo reads it) with the printed digest. */
const verifyLadingImage = async (dir: string, digest: string): Promise<void> => {
  const image = await skopeoInspect(`oci:${dir}:bench`);
  if (image.Digest !== digest) throw new Error(`skopeo sees manifest ${image.Digest}, lading printed ${digest}`);
  const manifest = JSON.parse((await exec("skopeo", ["inspect", "--raw", `oci:${dir}:bench`])).stdout) as RawManifest;
  ladingLayerBytes = manifest.layers?.[0]?.size;
  console.log(`  verified: skopeo inspect oci:${path.relative(ROOT, dir)}:bench -> ${image.Digest}, layer ${image.Layers[0]}`);
};

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

interface Target {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target: string;
  readonly pass: boolean;
}

const firstLine = async (command: string, args: ReadonlyArray<string>): Promise<string> =>
  (await exec(command, args).then((o) => o.stdout || o.stderr, () => "unknown")).trim().split("\n")[0] ?? "unknown";

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
      return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
};

const requireTools = async (): Promise<void> => {
  if (!(await fs.access(TIME, fs.constants.X_OK).then(() => true, () => false))) {
    throw new Error(`${TIME} is missing: the benchmark measures peak RSS with GNU time (apt-get install time)`);
  }
  for (const tool of ["buildah", "skopeo", "tar", "gzip", "sha256sum", "bash", "cp", "sync", "getconf", "git"]) {
    await exec("sh", ["-c", `command -v ${tool}`]).catch(() => {
      throw new Error(`the benchmark needs ${tool} on PATH`);
    });
  }
};

const main = async (): Promise<void> => {
  const rounds = Number(process.env["BENCH_RUNS"] ?? "2");
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_RUNS must be a positive whole number, got ${process.env["BENCH_RUNS"]}`);
  await requireTools();
  clockTicks = Number((await exec("getconf", ["CLK_TCK"])).stdout.trim()) || 100;
  const load = os.loadavg()[0] ?? 0;
  const tree = await ensureTree();
  await ensureSpec();
  await fs.rm(RUNS_DIR, { recursive: true, force: true });
  await fs.mkdir(RUNS_DIR, { recursive: true });

  const warmed = await warmPageCache(TREE);
  console.log(`page cache: read ${(warmed / MiB).toFixed(0)} MiB of the tree`);
  // Loads node, tsx and lading's modules once, so the first timed run pays no one-off cost.
  await exec(process.execPath, [path.join(ROOT, "bin", "lading.js"), "--version"]);

  const results: Round[] = [];
  for (let i = 1; i <= rounds; i++) {
    console.log(`round ${i}/${rounds}`);
    results.push(await runRound(i, i === 1));
  }
  const digests = new Set(results.flatMap((r) => [r.digests.cold, r.digests.warm]));
  if (digests.size !== 1) throw new Error(`lading built different digests across runs: ${[...digests].join(", ")}`);

  const contenders = Object.keys(LABELS) as Contender[];
  const seconds = Object.fromEntries(contenders.map((c) => [c, results.map((r) => r.runs[c].seconds)])) as Record<Contender, number[]>;
  const med = Object.fromEntries(contenders.map((c) => [c, median(seconds[c])])) as Record<Contender, number>;
  const peakRss = (c: Contender): number => Math.max(...results.map((r) => r.runs[c].maxRssKiB)) / KiB;
  const ladingPeakRssMiB = Math.max(peakRss("ladingCold"), peakRss("ladingWarm"));

  const targets: Target[] = [
    { name: "lading cold / GNU pipeline", value: med.ladingCold / med.gnuPipeline, unit: "x", target: "<= 1.0", pass: med.ladingCold / med.gnuPipeline <= 1.0 },
    { name: "buildah / lading cold", value: med.buildah / med.ladingCold, unit: "x", target: ">= 1.5", pass: med.buildah / med.ladingCold >= 1.5 },
    { name: "lading warm / lading cold", value: med.ladingWarm / med.ladingCold, unit: "x", target: "< 0.10", pass: med.ladingWarm / med.ladingCold < 0.1 },
    { name: "lading peak RSS", value: ladingPeakRssMiB, unit: "MiB", target: "< 300", pass: ladingPeakRssMiB < 300 },
    { name: "lading diff of two specs", value: med.ladingDiff, unit: "s", target: "< 2", pass: med.ladingDiff < 2 },
    { name: "lading diff / lading cold", value: med.ladingDiff / med.ladingCold, unit: "x", target: "< 0.25", pass: med.ladingDiff / med.ladingCold < 0.25 },
  ];

  console.log(`\n${tree.files} files, ${(tree.bytes / MiB).toFixed(0)} MiB, one layer; ${rounds} run${rounds === 1 ? "" : "s"} each, median\n`);
  console.log(
    table([
      ["contender", "median s", "runs s", "median CPU s", "peak RSS MiB", "others' CPU s"],
      ...contenders.map((c) => [
        LABELS[c],
        med[c].toFixed(2),
        seconds[c].map((s) => s.toFixed(2)).join(" "),
        median(results.map((r) => r.runs[c].cpuSeconds)).toFixed(1),
        peakRss(c).toFixed(0),
        results.map((r) => r.runs[c].otherCpuSeconds.toFixed(1)).join(" "),
      ]),
    ]),
  );
  const disturbed = contenders.filter((c) => results.some((r) => r.runs[c].otherCpuSeconds > 0.1 * r.runs[c].seconds));
  if (disturbed.length > 0) {
    console.log(`warning: other processes used more than 10% of a core during ${disturbed.map((c) => LABELS[c]).join(", ")}: those figures are noisy`);
  }
  console.log("");
  console.log(
    table([
      ["target", "value", "target", ""],
      ...targets.map((t) => [t.name, `${t.value.toFixed(t.unit === "MiB" ? 0 : 3)}${t.unit === "x" ? "" : ` ${t.unit}`}`, t.target, t.pass ? "PASS" : "MISS"]),
    ]),
  );
  console.log(`\nlading image ${[...digests][0]}${ladingLayerBytes === undefined ? "" : `, layer ${(ladingLayerBytes / MiB).toFixed(1)} MiB gzipped`}`);

  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      node: process.version,
      zlib: process.versions.zlib,
      tar: await firstLine("tar", ["--version"]),
      gzip: await firstLine("gzip", ["--version"]),
      buildah: await firstLine("buildah", ["--version"]),
    },
    commit: await exec("git", ["describe", "--always", "--dirty"]).then((o) => o.stdout.trim(), () => "unknown"),
    loadAverageAtStart: load,
    tree,
    runs: rounds,
    medianSeconds: med,
    ladingPeakRssMiB,
    ladingLayerBytes: ladingLayerBytes ?? null,
    ladingDigest: [...digests][0],
    targets,
    rounds: results,
  };
  await fs.writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results: ${path.relative(ROOT, RESULTS)}`);
};

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
