/**
 * The registry benchmark: lading's push and pull of a ~200 MB, five-layer image against
 * `skopeo copy` of the same image, in the same run, against the reference registry
 * (Debian's docker-registry, distribution 2.8) on 127.0.0.1.
 *
 *   push  lading copy oci:DIR:bench docker://HOST/lading/bench:1 --store STORE
 *         skopeo copy oci:DIR:bench docker://HOST/skopeo/bench:1
 *         each on a fresh registry (new storage, new process): nothing can be skipped.
 *   pull  lading copy docker://HOST/pull/bench:1 oci:OUT:bench --store EMPTY_STORE
 *         skopeo copy docker://HOST/pull/bench:1 oci:OUT2:bench
 *         from one registry holding the image; outputs and lading's store are new each run.
 *
 * Rounds alternate which tool goes first. Prints median wall-clock seconds, CPU, peak
 * RSS, throughput and the ratios lading/skopeo against the target (<= 1.0), and writes
 * bench/.work/registry-results.json. The first round also checks correctness: the
 * digest lading prints is the one the registry serves (`skopeo inspect`), and the
 * pulled layout has that digest and passes `lading inspect` (every blob re-hashed).
 *
 * It is a measurement, not a test: a missed target still exits 0. A failing command, a
 * missing tool or a wrong digest exits 1.
 *
 *   npm run bench:registry                            # BENCH_RUNS=3 rounds by default
 *   BENCH_REGISTRY_MB=20 BENCH_RUNS=1 npm run bench:registry   # a quick try
 *
 * BENCH_REGISTRY_MB (default 200) sets the bytes of the host tree in MiB; about 93% of
 * them are seeded pseudo-random bytes gzip cannot shrink, so the image's compressed size
 * is close to the same figure in MB. The tree, its spec and the built image live in
 * bench/.work/registry/ and are reused while tree.json there shows the same parameters;
 * delete that directory to start over. Linux only: GNU time, /proc.
 */
import { createCipheriv, createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { KiB, LADING, MiB, ROOT, Rng, WORK, benchRuns, commit, digestOf, exec, failed, finishTree, firstLine, machine, measure as measureIn, median, printRunLine, processCpuSeconds, readClockTicks, requireTools, reusableTree, runColumns, secondsSince, showWritten, skopeoInspect, skopeoManifest, table, textOf, vocabulary, warmPageCache, warnDisturbed, writeIfChanged, writeResults, workPaths, writeTreeFile } from "./support.ts";
import type { Measured, Run, Target } from "./support.ts";
import { startRegistry as startTestRegistry, stopAllRegistries } from "../test/support/registry.ts";

const BASE = path.join(WORK, "registry");
const { tree: TREE, treeMarker: TREE_MARKER, spec: SPEC, runs: RUNS_DIR } = workPaths(BASE);
const STORE = path.join(BASE, "store");
const LAYOUT = path.join(BASE, "oci");
const RESULTS = path.join(WORK, "registry-results.json");
const TAG = "bench";

// ---------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------

/** One layer of the image: a directory of the tree, copied to `target`. */
interface LayerParams {
  readonly name: string;
  readonly target: `/${string}`;
  /** Its part of the tree's bytes. */
  readonly share: number;
  /** The part of its bytes that is text (compressible); the rest is incompressible. */
  readonly text: number;
}

const LAYERS: ReadonlyArray<LayerParams> = [
  { name: "runtime", target: "/opt/runtime", share: 0.36, text: 0.04 },
  { name: "libraries", target: "/usr/lib/bench", share: 0.26, text: 0.06 },
  { name: "assets", target: "/srv/assets", share: 0.18, text: 0.02 },
  { name: "app", target: "/opt/app", share: 0.12, text: 0.15 },
  { name: "docs", target: "/usr/share/doc/bench", share: 0.08, text: 0.5 },
];

const parseMiB = (): number => {
  const raw = process.env["BENCH_REGISTRY_MB"] ?? "200";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 5 || n > 10_000) throw new Error(`BENCH_REGISTRY_MB must be a whole number of MiB from 5 to 10000, got ${raw}`);
  return n;
};

/** Everything the generated tree depends on: a change regenerates it (and the image). */
const treeParams = (totalMiB: number) =>
  ({
    generator: 1,
    seed: 0x1ad1_0c10,
    totalMiB,
    layers: LAYERS,
    /** Fixed mtime of every file and directory, so hash caches never see a racy file. */
    mtime: 1_704_067_200,
  }) as const;

type TreeParams = ReturnType<typeof treeParams>;

/**
 * `n` incompressible bytes named by `label`: the AES-256-CTR keystream under a key
 * derived from the seed and the label, so the same label always gives the same bytes.
 */
const randomBytesFor = (seed: number, label: string, n: number): Buffer => {
  const key = createHash("sha256").update(`lading-registry-bench:${seed}:${label}`).digest();
  return createCipheriv("aes-256-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(n));
};

const SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sha", "vel", "dor", "in", "qu", "ex", "ar", "po", "li", "ne", "st", "ion", "al", "er", "ma", "tr", "con", "de", "fi"];
const TOKENS = ["const", "return", "function", "import", "export", "if", "else", "=", "=>", "{", "}", "(", ")", ";", "null", "true", "await", "<p>", "</p>", "#", "-", ":"];

interface FilePlan {
  readonly rel: string;
  readonly size: number;
  readonly text: boolean;
}

/** A layer's files, all decided before anything is written: large binaries and small texts. */
const planLayer = (rng: Rng, layer: LayerParams, bytes: number): FilePlan[] => {
  const files: FilePlan[] = [];
  const dirs = ["bin", "lib", "share", "share/data", "etc"];
  const textBytes = Math.round(bytes * layer.text);
  let left = bytes - textBytes;
  for (let i = 0; left > 0; i++) {
    let size = Math.min(left, rng.logUniform(256 * KiB, 16 * MiB));
    if (left - size < 64 * KiB) size = left;
    files.push({ rel: `${rng.pick(dirs)}/${layer.name}-${i}.${rng.pick(["bin", "so", "pak", "gz", "db"])}`, size, text: false });
    left -= size;
  }
  left = textBytes;
  for (let i = 0; left > 0; i++) {
    let size = Math.min(left, rng.logUniform(1 * KiB, 256 * KiB));
    if (left - size < 1 * KiB) size = left;
    files.push({ rel: `${rng.pick(dirs)}/${layer.name}-${i}.${rng.pick(["txt", "json", "js", "md", "conf"])}`, size, text: true });
    left -= size;
  }
  return files;
};

interface TreeSummary {
  readonly params: TreeParams;
  readonly files: number;
  readonly bytes: number;
  readonly textBytes: number;
  readonly layers: ReadonlyArray<{ readonly name: string; readonly files: number; readonly bytes: number }>;
}

const generateTree = async (params: TreeParams): Promise<TreeSummary> => {
  const rng = new Rng(params.seed);
  const { vocab } = vocabulary(rng, SYLLABLES, TOKENS, 600);

  await fs.rm(TREE, { recursive: true, force: true });
  const total = params.totalMiB * MiB;
  const layers: Array<TreeSummary["layers"][number]> = [];
  let textBytes = 0;
  let written = 0;
  const dirs = new Set<string>();
  for (const layer of params.layers) {
    const files = planLayer(rng, layer, Math.round(total * layer.share));
    let bytes = 0;
    for (const f of files) {
      const abs = path.join(TREE, layer.name, f.rel);
      for (let d = path.dirname(abs); d.startsWith(TREE) && !dirs.has(d); d = path.dirname(d)) dirs.add(d);
      await fs.mkdir(path.dirname(abs), { recursive: true, mode: 0o755 });
      const content = f.text ? textOf(rng, vocab, f.size, 3) : randomBytesFor(params.seed, `${layer.name}/${f.rel}`, f.size);
      await writeTreeFile(abs, content, f.rel.startsWith("bin/") && !f.text ? 0o755 : 0o644, params.mtime);
      bytes += f.size;
      if (f.text) textBytes += f.size;
      written += f.size;
      showWritten(written, f.size);
    }
    layers.push({ name: layer.name, files: files.length, bytes });
  }
  await finishTree(dirs, params.mtime);
  return { params, files: layers.reduce((n, l) => n + l.files, 0), bytes: written, textBytes, layers };
};

const specSource = (params: TreeParams): string => `/**
 * Generated by bench/registry.bench.ts: the registry benchmark's tree as ${params.layers.length} layers.
 */
import { Entry, Image, Layer, pipe } from "lading";

${params.layers.map((l) => `const ${l.name} = Layer.make("${l.name}", [Entry.copy("../tree/${l.name}", "${l.target}")]);`).join("\n")}

export const bench = pipe(
  Image.scratch,
  Image.withLayers(${params.layers.map((l) => l.name).join(", ")}),
  Image.withEnv({ PATH: "/opt/app/bin:/opt/runtime/bin" }),
  Image.withCmd(["/opt/app/bin/start"]),
);
`;

/**
 * The tree, its spec and a fresh store, regenerated when the marker shows other
 * parameters (a store and layout of another tree would only waste disk).
 */
const ensureTree = async (params: TreeParams): Promise<TreeSummary> => {
  let summary = await reusableTree<TreeSummary>(TREE_MARKER, TREE, params);
  if (summary === undefined) {
    console.log(`tree: generating ${path.relative(ROOT, TREE)} (${params.totalMiB} MiB)...`);
    const started = performance.now();
    await fs.mkdir(BASE, { recursive: true });
    await fs.rm(TREE_MARKER, { force: true });
    for (const dir of [STORE, LAYOUT, RUNS_DIR]) await fs.rm(dir, { recursive: true, force: true });
    summary = await generateTree(params);
    await fs.writeFile(TREE_MARKER, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`tree: ${summary.files} files, ${(summary.bytes / MiB).toFixed(0)} MiB in ${secondsSince(started)} s`);
  }
  await fs.mkdir(path.dirname(SPEC), { recursive: true });
  await writeIfChanged(SPEC, specSource(params));
  return summary;
};

// ---------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------

/** A run against a registry: the registry's CPU is its own figure, not among the others'. */
interface RegistryRun extends Run {
  /** CPU seconds the registry used meanwhile (it serves only this command). */
  readonly registryCpuSeconds: number;
}

/** Runs a command under GNU time, the registry's CPU accounted apart. */
const measure = (registry: Registry | undefined, command: string, args: ReadonlyArray<string>): Promise<Measured> =>
  measureIn(path.join(RUNS_DIR, "time.txt"), command, args, registry === undefined ? undefined : () => registry.cpuSeconds());

const runOfRegistry = ({ seconds, maxRssKiB, cpuSeconds, serverCpuSeconds, otherCpuSeconds }: Measured): RegistryRun => ({
  seconds,
  maxRssKiB,
  cpuSeconds,
  registryCpuSeconds: serverCpuSeconds,
  otherCpuSeconds,
});

// ---------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------

interface Registry {
  /** host:port, for docker://HOST/REPO references. */
  readonly host: string;
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** A registry as the tests start it, whose CPU seconds are counted apart from the client's. */
const startRegistry = async (dir: string): Promise<Registry> => {
  const r = await startTestRegistry(dir);
  return { host: r.host, cpuSeconds: () => processCpuSeconds(r.pid), stop: r.stop };
};

// ---------------------------------------------------------------------------------------
// The contenders
// ---------------------------------------------------------------------------------------

type Tool = "lading" | "skopeo";
type Contender = `${Tool}${"Push" | "Pull"}` | "ladingStartup";

/** The contenders in the order of the printed table. */
const LABELS: Record<Contender, string> = { ladingPush: "lading push", skopeoPush: "skopeo push", ladingPull: "lading pull", skopeoPull: "skopeo pull", ladingStartup: "lading --version" };

const lading = (registry: Registry | undefined, args: ReadonlyArray<string>): Promise<Measured> => measure(registry, process.execPath, [LADING, ...args]);

const skopeo = (registry: Registry, args: ReadonlyArray<string>): Promise<Measured> => measure(registry, "skopeo", ["copy", "--quiet", ...args]);

/** The order of the two tools in round `i` (from 1): lading first in odd rounds. */
const orderOf = (i: number): ReadonlyArray<Tool> => (i % 2 === 1 ? ["lading", "skopeo"] : ["skopeo", "lading"]);

let compressedBytes = 0;

/** Compressed MiB a second, for a run that moves the image. */
const throughput = (seconds: number): string => (compressedBytes / MiB / seconds).toFixed(0);

const printRun = (label: string, r: RegistryRun, extra = ""): void => {
  const c = runColumns(r);
  const rate = `${(label === LABELS.ladingStartup ? "-" : throughput(r.seconds)).padStart(4)} MiB/s`;
  const registry = `registry ${r.registryCpuSeconds.toFixed(1).padStart(4)} s`;
  printRunLine(label, 16, [c.seconds, rate, c.cpu, registry, c.others, c.rss, ...(extra === "" ? [] : [extra])]);
};

/** What the registry at `ref` serves is the image, by digest and layers. */
const verifyRemote = async (ref: string, digest: string, layers: number): Promise<void> => {
  const image = await skopeoInspect(ref);
  if (image.Digest !== digest) throw new Error(`${ref}: skopeo inspect sees ${image.Digest}, expected ${digest}`);
  if (image.Layers.length !== layers) throw new Error(`${ref}: skopeo inspect sees ${image.Layers.length} layers, expected ${layers}`);
};

/**
 * A pulled layout holds the image: skopeo reads it with the digest, and (for lading's)
 * `lading inspect` re-hashes every blob and checks every diff_id.
 */
const verifyLayout = async (dir: string, digest: string, full: boolean): Promise<void> => {
  const image = await skopeoInspect(`oci:${dir}:${TAG}`);
  if (image.Digest !== digest) throw new Error(`oci:${dir}:${TAG}: skopeo inspect sees ${image.Digest}, expected ${digest}`);
  if (full) await exec(process.execPath, [LADING, "inspect", `oci:${dir}:${TAG}`]);
};

/** The digest lading printed, which must be the image's: the note of its line (none for skopeo). */
const checkedDigest = (tool: Tool, m: Measured, what: string, digest: string): string => {
  if (tool !== "lading") return "";
  const printed = digestOf(m, what);
  if (printed !== digest) throw new Error(`lading copy printed ${printed}, the image is ${digest}`);
  return printed;
};

interface Round {
  readonly order: ReadonlyArray<Tool>;
  readonly runs: Partial<Record<Contender, RegistryRun>>;
}

/**
 * One push: a new registry, the timed copy, the registry stopped and its storage gone.
 * lading uses the store the image was built with, as a push after `lading build` does:
 * the layers are there already, so nothing is copied into it first.
 */
const pushOnce = async (tool: Tool, i: number, digest: string, layers: number, verify: boolean): Promise<RegistryRun> => {
  const dir = path.join(RUNS_DIR, `push-${i}-${tool}`);
  await fs.rm(dir, { recursive: true, force: true });
  const registry = await startRegistry(dir);
  try {
    const ref = `docker://${registry.host}/${tool}/bench:1`;
    const m =
      tool === "lading"
        ? await lading(registry, ["copy", `oci:${LAYOUT}:${TAG}`, ref, "--store", STORE])
        : await skopeo(registry, ["--dest-tls-verify=false", `oci:${LAYOUT}:${TAG}`, ref]);
    let note = checkedDigest(tool, m, "lading copy (push)", digest);
    if (verify) {
      await verifyRemote(ref, digest, layers);
      note = `verified: skopeo inspect ${ref} -> ${digest}`;
    }
    const run = runOfRegistry(m);
    printRun(LABELS[`${tool}Push`], run, note);
    return run;
  } finally {
    await registry.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
};

/** One pull into a new layout (and, for lading, a new empty store), removed afterwards. */
const pullOnce = async (registry: Registry, tool: Tool, i: number, digest: string, verify: boolean): Promise<RegistryRun> => {
  const dir = path.join(RUNS_DIR, `pull-${i}-${tool}`);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const out = path.join(dir, "oci");
  const ref = `docker://${registry.host}/pull/bench:1`;
  try {
    const m =
      tool === "lading"
        ? await lading(registry, ["copy", ref, `oci:${out}:${TAG}`, "--store", path.join(dir, "store")])
        : await skopeo(registry, ["--src-tls-verify=false", ref, `oci:${out}:${TAG}`]);
    let note = checkedDigest(tool, m, "lading copy (pull)", digest);
    if (verify) {
      await verifyLayout(out, digest, tool === "lading");
      note = `verified: oci:${path.relative(ROOT, out)}:${TAG} -> ${digest}${tool === "lading" ? ", every blob re-hashed" : ""}`;
    }
    const run = runOfRegistry(m);
    printRun(LABELS[`${tool}Pull`], run, note);
    return run;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
};

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/** The image, built once (a warm store makes it quick) and checked with skopeo. */
const buildImage = async (): Promise<{ digest: string; layerSizes: number[]; bytes: number }> => {
  await fs.rm(LAYOUT, { recursive: true, force: true });
  const started = performance.now();
  const out = await exec(process.execPath, [LADING, "build", path.relative(ROOT, SPEC), "--out", `oci:${LAYOUT}:${TAG}`, "--store", STORE, "--no-check"]);
  const digest = digestOf(out, "lading build");
  const image = await skopeoInspect(`oci:${LAYOUT}:${TAG}`);
  if (image.Digest !== digest) throw new Error(`skopeo sees manifest ${image.Digest} in oci:${LAYOUT}:${TAG}, lading build printed ${digest}`);
  const manifest = await skopeoManifest(`oci:${LAYOUT}:${TAG}`);
  const layerSizes = (manifest.layers ?? []).map((l) => l.size);
  if (layerSizes.length !== LAYERS.length) throw new Error(`the image has ${layerSizes.length} layers, expected ${LAYERS.length}`);
  const bytes = layerSizes.reduce((a, b) => a + b, 0) + (manifest.config?.size ?? 0);
  console.log(
    `image: ${digest}, ${layerSizes.length} layers, ${(bytes / MiB).toFixed(1)} MiB compressed (${layerSizes.map((s) => (s / MiB).toFixed(1)).join(" + ")}), built in ${secondsSince(started)} s`,
  );
  return { digest, layerSizes, bytes };
};

const main = async (): Promise<void> => {
  const rounds = benchRuns(3);
  const params = treeParams(parseMiB());
  await requireTools(["skopeo", "docker-registry", "sync", "getconf", "git"]);
  await readClockTicks();
  const load = os.loadavg()[0] ?? 0;
  const tree = await ensureTree(params);
  await fs.rm(RUNS_DIR, { recursive: true, force: true });
  await fs.mkdir(RUNS_DIR, { recursive: true });

  const image = await buildImage();
  compressedBytes = image.bytes;
  const warmed = await warmPageCache(LAYOUT);
  console.log(`page cache: read ${(warmed / MiB).toFixed(0)} MiB of the layout`);
  // Loads node, tsx and lading's modules (and skopeo's binary) once, so the first timed
  // run pays no one-off cost.
  await exec(process.execPath, [LADING, "--version"]);
  await exec("skopeo", ["--version"]);

  const results: Round[] = [];
  for (let i = 1; i <= rounds; i++) {
    const order = orderOf(i);
    console.log(`push round ${i}/${rounds} (${order.join(" first, then ")}; a fresh registry for each)`);
    const runs: Partial<Record<Contender, RegistryRun>> = {};
    for (const tool of order) runs[`${tool}Push`] = await pushOnce(tool, i, image.digest, image.layerSizes.length, i === 1);
    // lading's fixed cost per command (node, the TypeScript loader, lading's modules), in
    // both figures above: what is left is the transfer.
    const startup = runOfRegistry(await lading(undefined, ["--version"]));
    printRun(LABELS.ladingStartup, startup, "node, the TypeScript loader and lading's modules: a fixed cost of every lading command");
    runs.ladingStartup = startup;
    results.push({ order, runs });
  }

  // One registry holds the image for every pull: pushed by lading, checked by skopeo.
  const pullDir = path.join(RUNS_DIR, "pull-registry");
  const registry = await startRegistry(pullDir);
  try {
    const seeded = await exec(process.execPath, [LADING, "copy", `oci:${LAYOUT}:${TAG}`, `docker://${registry.host}/pull/bench:1`, "--store", STORE]);
    if (digestOf(seeded, "lading copy (seeding the pull registry)") !== image.digest) throw new Error("lading pushed a different digest to the pull registry");
    await verifyRemote(`docker://${registry.host}/pull/bench:1`, image.digest, image.layerSizes.length);
    for (let i = 1; i <= rounds; i++) {
      const order = orderOf(i);
      console.log(`pull round ${i}/${rounds} (${order.join(" first, then ")})`);
      const round = results[i - 1]!;
      for (const tool of order) round.runs[`${tool}Pull`] = await pullOnce(registry, tool, i, image.digest, i === 1);
    }
  } finally {
    await registry.stop();
    await fs.rm(pullDir, { recursive: true, force: true });
  }

  const contenders = Object.keys(LABELS) as Contender[];
  const runsOf = (c: Contender): RegistryRun[] => results.map((r) => r.runs[c]).filter((r): r is RegistryRun => r !== undefined);
  const seconds = Object.fromEntries(contenders.map((c) => [c, runsOf(c).map((r) => r.seconds)])) as Record<Contender, number[]>;
  const med = Object.fromEntries(contenders.map((c) => [c, median(seconds[c])])) as Record<Contender, number>;
  const peakRssMiB = (c: Contender): number => Math.max(...runsOf(c).map((r) => r.maxRssKiB)) / KiB;
  const pushRatio = med.ladingPush / med.skopeoPush;
  const pullRatio = med.ladingPull / med.skopeoPull;
  const targets: Target[] = [
    { name: "lading push / skopeo push", value: pushRatio, target: "<= 0.6", pass: pushRatio <= 0.6 },
    { name: "lading pull / skopeo pull", value: pullRatio, target: "<= 1.0", pass: pullRatio <= 1.0 },
  ];

  console.log(
    `\n${image.layerSizes.length} layers, ${(image.bytes / MiB).toFixed(1)} MiB compressed (${(tree.bytes / MiB).toFixed(0)} MiB of files); ${rounds} run${rounds === 1 ? "" : "s"} each, median\n`,
  );
  console.log(
    table([
      ["contender", "median s", "runs s", "MiB/s", "median CPU s", "registry CPU s", "peak RSS MiB", "others' CPU s"],
      ...contenders.map((c) => [
        LABELS[c],
        med[c].toFixed(2),
        seconds[c].map((s) => s.toFixed(2)).join(" "),
        c === "ladingStartup" ? "-" : throughput(med[c]),
        median(runsOf(c).map((r) => r.cpuSeconds)).toFixed(1),
        median(runsOf(c).map((r) => r.registryCpuSeconds)).toFixed(1),
        peakRssMiB(c).toFixed(0),
        runsOf(c).map((r) => r.otherCpuSeconds.toFixed(1)).join(" "),
      ]),
    ]),
  );
  warnDisturbed(contenders.map((c) => [LABELS[c], runsOf(c)]));
  console.log("");
  console.log(table([["target", "value", "target", ""], ...targets.map((t) => [t.name, t.value.toFixed(3), t.target, t.pass ? "PASS" : "MISS"])]));
  // For reading the figures, not a target: how much of lading's time is its fixed start.
  const transfer = { push: (med.ladingPush - med.ladingStartup) / med.skopeoPush, pull: (med.ladingPull - med.ladingStartup) / med.skopeoPull };
  console.log(`\nwithout lading's start (${med.ladingStartup.toFixed(2)} s): push ${transfer.push.toFixed(3)}, pull ${transfer.pull.toFixed(3)} of skopeo's time`);

  const report = {
    date: new Date().toISOString(),
    machine: {
      ...machine(),
      skopeo: await firstLine("skopeo", ["--version"]),
      registry: await firstLine("docker-registry", ["--version"]),
    },
    commit: await commit(),
    loadAverageAtStart: load,
    tree,
    image: { digest: image.digest, compressedBytes: image.bytes, layerBytes: image.layerSizes },
    runs: rounds,
    medianSeconds: med,
    ratios: { push: pushRatio, pull: pullRatio },
    ratiosWithoutLadingStartup: transfer,
    targets,
    rounds: results,
  };
  await writeResults(RESULTS, report);
};

const stopAll = stopAllRegistries;

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(code));
  });
}

main()
  .catch(failed)
  .finally(stopAll);
