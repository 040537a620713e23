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
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { KiB, LADING, MiB, ROOT, Rng, WORK, benchRuns, commit, digestOf, exec, failed, finishTree, firstLine, machine, measure as measureIn, median, printRunLine, readClockTicks, requireTools, reusableTree, runColumns, runOf, secondsSince, showWritten, skopeoInspect, skopeoManifest, table, textOf, vocabulary, warmPageCache, warnDisturbed, writeIfChanged, writeResults, workPaths, writeTreeFile } from "./support.ts";
import type { Measured, Run, SkopeoImage, Target } from "./support.ts";

const { tree: TREE, treeMarker: TREE_MARKER, spec: SPEC, runs: RUNS_DIR } = workPaths(WORK);
const CONTEXT = path.join(WORK, "buildah-context");
const RESULTS = path.join(WORK, "results.json");

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
    ({ words: this.words, vocab: this.vocab } = vocabulary(rng, SYLLABLES, CODE_TOKENS, 800));
  }

  text(size: number): Buffer {
    return textOf(this.rng, this.vocab, size, 4);
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

const generateTree = async (): Promise<TreeSummary> => {
  const rng = new Rng(TREE_PARAMS.seed);
  const source = new TextSource(rng);
  const { dirs, files } = planTree(rng, source);
  await fs.rm(TREE, { recursive: true, force: true });
  for (const d of dirs) await fs.mkdir(path.join(TREE, d), { recursive: true, mode: 0o755 });
  const bytesByKind: Record<Kind, number> = { text: 0, binary: 0, mixed: 0 };
  let written = 0;
  for (const f of files) {
    await writeTreeFile(path.join(TREE, f.rel), source.content(f.kind, f.size), f.executable ? 0o755 : 0o644, TREE_PARAMS.mtime);
    bytesByKind[f.kind] += f.size;
    written += f.size;
    showWritten(written, f.size);
  }
  await finishTree(dirs.map((d) => path.join(TREE, d)), TREE_PARAMS.mtime);
  return { params: TREE_PARAMS, files: files.length, directories: dirs.length, bytes: written, bytesByKind };
};

/** The tree (reused when its marker shows the same parameters) and buildah's context. */
const ensureTree = async (): Promise<TreeSummary> => {
  const marker = await reusableTree<TreeSummary>(TREE_MARKER, TREE, TREE_PARAMS, [CONTEXT]);
  if (marker !== undefined) return marker;
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
  console.log(`tree: ${summary.files} files, ${summary.directories} dirs, ${(summary.bytes / MiB).toFixed(0)} MiB in ${secondsSince(started)} s`);
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
  await writeIfChanged(SPEC, SPEC_SOURCE);
  await writeIfChanged(VARIANT, VARIANT_SOURCE);
};

/** A run of several commands, such as buildah's bud and push, keeps each one's seconds. */
interface LayerRun extends Run {
  readonly detail?: Readonly<Record<string, number>>;
}

const measure = (command: string, args: ReadonlyArray<string>): Promise<Measured> => measureIn(path.join(RUNS_DIR, "time.txt"), command, args);

const printRun = (label: string, r: Run, extra: string): void => {
  const c = runColumns(r);
  printRunLine(label, 13, [c.seconds, c.cpu, c.others, c.rss, extra]);
};

const lading = (args: ReadonlyArray<string>): Promise<Measured> => measure(process.execPath, [LADING, ...args]);

const buildah = (root: string, args: ReadonlyArray<string>): Promise<Measured> =>
  measure("buildah", ["--storage-driver", "vfs", "--root", path.join(root, "root"), "--runroot", path.join(root, "runroot"), ...args]);

// ---------------------------------------------------------------------------------------
// The contenders
// ---------------------------------------------------------------------------------------

type Contender = "ladingCold" | "ladingWarm" | "ladingDiff" | "ladingZstd" | "gnuPipeline" | "pigzPipeline" | "zstdPipeline" | "buildah";

const LABELS: Record<Contender, string> = {
  ladingCold: "lading cold",
  ladingWarm: "lading warm",
  ladingDiff: "lading diff (cold store)",
  ladingZstd: "lading cold, --compression zstd",
  gnuPipeline: "tar | gzip -6 | sha256sum",
  pigzPipeline: "tar | pigz -6 | sha256sum",
  zstdPipeline: "tar | zstd -3 -T0 | sha256sum",
  buildah: "buildah bud + push",
};

interface Round {
  readonly runs: Record<Contender, LayerRun>;
  readonly digests: { readonly cold: string; readonly warm: string; readonly gnuSha256: string };
}

const TAR = "set -euo pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C bench/.work tree";
const GNU_PIPELINE = `${TAR} | gzip -n -6 | sha256sum`;
/** The same on every core: pigz compresses blocks in parallel, as lading does. */
const PIGZ_PIPELINE = `${TAR} | pigz -n -6 | sha256sum`;
/** zstd layers' peer: zstd at its default level, on every core. */
const ZSTD_PIPELINE = `${TAR} | zstd -3 -T0 -q -c | sha256sum`;

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

  // The same tree as zstd layers, into a store of their own: a cold build too.
  const zstd = await lading(["build", spec, "--compression", "zstd", "--out", `oci:${path.join(dir, "lading-zstd")}:bench`, "--store", path.join(dir, "zstd-store"), "--no-check"]);
  printRun("lading zstd", zstd, digestOf(zstd, "lading zstd build"));
  const zstdPipeline = await measure("bash", ["-c", ZSTD_PIPELINE]);
  printRun("zstd pipeline", zstdPipeline, `sha256:${zstdPipeline.stdout.trim().split(/\s+/)[0] ?? ""}`);

  const gnu = await measure("bash", ["-c", GNU_PIPELINE]);
  const gnuSha256 = gnu.stdout.trim().split(/\s+/)[0] ?? "";
  printRun("GNU pipeline", gnu, `sha256:${gnuSha256}`);
  const pigz = await measure("bash", ["-c", PIGZ_PIPELINE]);
  printRun("pigz pipeline", pigz, `sha256:${pigz.stdout.trim().split(/\s+/)[0] ?? ""}`);

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
  const buildahRun: LayerRun = {
    seconds: bud.seconds + push.seconds,
    maxRssKiB: Math.max(bud.maxRssKiB, push.maxRssKiB),
    cpuSeconds: bud.cpuSeconds + push.cpuSeconds,
    otherCpuSeconds: bud.otherCpuSeconds + push.otherCpuSeconds,
    detail: { budSeconds: bud.seconds, pushSeconds: push.seconds },
  };
  printRun("buildah", buildahRun, `bud ${bud.seconds.toFixed(2)} s + push ${push.seconds.toFixed(2)} s`);
  if (verify) await inspectOneLayer(`oci:${path.join(dir, "buildah-oci")}:bench`);
  // Each round leaves ~4 copies of the layer: gone before the next round writes its own.
  await fs.rm(dir, { recursive: true, force: true });

  return {
    runs: {
      ladingCold: runOf(cold),
      ladingWarm: runOf(warm),
      ladingDiff: runOf(diff),
      ladingZstd: runOf(zstd),
      gnuPipeline: runOf(gnu),
      pigzPipeline: runOf(pigz),
      zstdPipeline: runOf(zstdPipeline),
      buildah: buildahRun,
    },
    digests: { cold: coldDigest, warm: warmDigest, gnuSha256 },
  };
};

/** `skopeo inspect` of a one-layer image; throws unless skopeo sees one layer. */
const inspectOneLayer = async (ref: string): Promise<SkopeoImage> => {
  const image = await skopeoInspect(ref);
  if (!Array.isArray(image.Layers) || image.Layers.length !== 1) throw new Error(`${ref}: expected one layer, skopeo shows ${JSON.stringify(image.Layers)}`);
  return image;
};

let ladingLayerBytes: number | undefined;

/** The cold build's output is a valid OCI image (skopeo reads it) with the printed digest. */
const verifyLadingImage = async (dir: string, digest: string): Promise<void> => {
  const image = await inspectOneLayer(`oci:${dir}:bench`);
  if (image.Digest !== digest) throw new Error(`skopeo sees manifest ${image.Digest}, lading printed ${digest}`);
  const manifest = await skopeoManifest(`oci:${dir}:bench`);
  ladingLayerBytes = manifest.layers?.[0]?.size;
  console.log(`  verified: skopeo inspect oci:${path.relative(ROOT, dir)}:bench -> ${image.Digest}, layer ${image.Layers[0]}`);
};

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

interface LayerTarget extends Target {
  readonly unit: string;
}

const main = async (): Promise<void> => {
  const rounds = benchRuns(2);
  await requireTools(["pigz", "zstd", "buildah", "skopeo", "tar", "gzip", "sha256sum", "bash", "cp", "sync", "getconf", "git"]);
  await readClockTicks();
  const load = os.loadavg()[0] ?? 0;
  const tree = await ensureTree();
  await ensureSpec();
  await fs.rm(RUNS_DIR, { recursive: true, force: true });
  await fs.mkdir(RUNS_DIR, { recursive: true });

  const warmed = await warmPageCache(TREE);
  console.log(`page cache: read ${(warmed / MiB).toFixed(0)} MiB of the tree`);
  // Loads node, tsx and lading's modules once, so the first timed run pays no one-off cost.
  await exec(process.execPath, [LADING, "--version"]);

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

  const targets: LayerTarget[] = [
    { name: "lading cold / gzip pipeline (one core)", value: med.ladingCold / med.gnuPipeline, unit: "x", target: "<= 0.63 (keep)", pass: med.ladingCold / med.gnuPipeline <= 0.63 },
    { name: "lading cold / pigz pipeline (every core)", value: med.ladingCold / med.pigzPipeline, unit: "x", target: "<= 1.0", pass: med.ladingCold / med.pigzPipeline <= 1.0 },
    { name: "buildah bud + push / lading cold", value: med.buildah / med.ladingCold, unit: "x", target: ">= 3", pass: med.buildah / med.ladingCold >= 3 },
    { name: "lading warm / lading cold", value: med.ladingWarm / med.ladingCold, unit: "x", target: "< 0.05", pass: med.ladingWarm / med.ladingCold < 0.05 },
    { name: "lading peak RSS", value: ladingPeakRssMiB, unit: "MiB", target: "< 200", pass: ladingPeakRssMiB < 200 },
    { name: "lading diff of two specs, cold store", value: med.ladingDiff, unit: "s", target: "< 1", pass: med.ladingDiff < 1 },
    { name: "lading zstd cold / lading gzip cold", value: med.ladingZstd / med.ladingCold, unit: "x", target: "< 1 (faster)", pass: med.ladingZstd / med.ladingCold < 1 },
    { name: "lading zstd cold / zstd pipeline (every core)", value: med.ladingZstd / med.zstdPipeline, unit: "x", target: "(reported)", pass: true },
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
  warnDisturbed(contenders.map((c) => [LABELS[c], results.map((r) => r.runs[c])]));
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
      ...machine(),
      zlib: process.versions.zlib,
      tar: await firstLine("tar", ["--version"]),
      gzip: await firstLine("gzip", ["--version"]),
      buildah: await firstLine("buildah", ["--version"]),
    },
    commit: await commit(),
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
  await writeResults(RESULTS, report);
};

main().catch(failed);
