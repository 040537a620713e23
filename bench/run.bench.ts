/**
 * The cost of a run step, in one run against its peers on the same machine:
 *
 * - the overhead of a trivial step (`true`), uncached: `lading build` of a spec with the
 *   step (a fresh env value each round, so it always runs) minus the same build without
 *   it; against `buildah bud` (vfs storage) of `FROM image` + `RUN true` minus `FROM`
 *   alone, and against `podman run --rm image true`;
 * - the overhead of a cached step: the same build again, minus the build without a step;
 * - peak RSS of `lading build` with a step that writes 1 GiB;
 * - how a step's root file system is made: an overlay over the unpacked layers (what the
 *   sandbox does) against copying the layers into a fresh directory, the unpack-then-diff
 *   fallback's least cost, for a generated layer of 4,000 files and 64 MiB.
 *
 * Run as root (runc, buildah and podman need it here). BENCH_RUNS sets the rounds (5).
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import * as E from "fp-ts/lib/Either.js";
import { buildImage, layerFormat } from "../src/build/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { Image, pipe } from "../src/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { createStepRunner, SANDBOX_VERSION } from "../src/run/index.ts";
import { openStore } from "../src/store/index.ts";
import { busybox } from "../stdlib/index.ts";
import type { Run } from "./support.ts";
import { benchRuns, commit, exec, failed, LADING, machine, measure, median, readClockTicks, requireTools, Rng, ROOT, table, WORK, writeResults } from "./support.ts";

const BASE = path.join(WORK, "run");
const STORE = path.join(BASE, "store");
const TIME_FILE = path.join(BASE, "time.txt");
const BUILDAH = ["--storage-driver", "vfs", "--root", path.join(BASE, "buildah", "root"), "--runroot", path.join(BASE, "buildah", "run")];

const spec = (step: string): string => `import { Entry, Image, Layer, pipe } from "lading";
import { busybox } from "lading/stdlib";
export const base = pipe(Image.scratch, Image.withLayer(busybox({ applets: ["sh", "true", "dd"] })), Image.withEnv({ PATH: "/bin" }), Image.withCmd(["/bin/sh"]));
export const img = pipe(base${step});
`;

const lading = (file: string, exportName: string, out: string): Promise<Run> =>
  measure(TIME_FILE, process.execPath, [LADING, "build", `${file}#${exportName}`, "--no-check", "--store", STORE, "--out", out]);

const main = async (): Promise<void> => {
  await requireTools(["runc", "buildah", "podman", "busybox", "cp"]);
  await readClockTicks();
  const rounds = benchRuns(5);
  await fs.rm(BASE, { recursive: true, force: true });
  await fs.mkdir(path.join(BASE, "node_modules"), { recursive: true });
  await fs.symlink(ROOT, path.join(BASE, "node_modules", "lading"));
  const file = path.join(BASE, "lading.ts");
  const ociArchive = path.join(BASE, "base.tar");
  await fs.writeFile(file, spec(""));
  await exec(process.execPath, [LADING, "build", `${file}#base`, "--no-check", "--store", STORE, "--out", `oci-archive:${ociArchive}:base`, "--out", `docker-archive:${path.join(BASE, "base-docker.tar")}:localhost/lading-bench-run:latest`]);
  await exec("podman", ["load", "-q", "-i", path.join(BASE, "base-docker.tar")]);
  for (const d of ["plain", "step"]) await fs.mkdir(path.join(BASE, "ctx", d), { recursive: true });
  await fs.writeFile(path.join(BASE, "ctx", "plain", "Dockerfile"), `FROM oci-archive:${ociArchive}:base\n`);
  await fs.writeFile(path.join(BASE, "ctx", "step", "Dockerfile"), `FROM oci-archive:${ociArchive}:base\nRUN ["/bin/true"]\n`);

  const names = ["noStep", "uncached", "cached", "buildahFrom", "buildahRun", "podmanRun"] as const;
  const runs = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<(typeof names)[number], number[]>;
  for (let round = 0; round < rounds; round++) {
    // Without a step: what every lading figure below is measured against.
    await fs.writeFile(file, spec(""));
    runs.noStep.push((await lading(file, "img", `oci:${path.join(BASE, "out")}:img`)).seconds);
    await fs.writeFile(file, spec(`, Image.run(["/bin/true"], { name: "trivial", env: { ROUND: "${round}-${Date.now()}" } })`));
    runs.uncached.push((await lading(file, "img", `oci:${path.join(BASE, "out")}:img`)).seconds);
    runs.cached.push((await lading(file, "img", `oci:${path.join(BASE, "out")}:img`)).seconds);
    for (const [key, ctx] of [["buildahFrom", "plain"], ["buildahRun", "step"]] as const) {
      runs[key].push((await measure(TIME_FILE, "buildah", [...BUILDAH, "bud", "--timestamp", "0", "--isolation", "oci", "--layers=false", "-q", "-t", `bench-${ctx}:latest`, path.join(BASE, "ctx", ctx)])).seconds);
    }
    runs.podmanRun.push((await measure(TIME_FILE, "podman", ["run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none", "localhost/lading-bench-run:latest", "/bin/true"])).seconds);
    console.log(`round ${round + 1}/${rounds}: ${Object.entries(runs).map(([k, v]) => `${k} ${v.at(-1)!.toFixed(2)} s`).join(", ")}`);
  }
  const m = Object.fromEntries(names.map((n) => [n, median(runs[n])])) as Record<(typeof names)[number], number>;
  const stepOverhead = m.uncached - m.noStep;
  const cachedOverhead = m.cached - m.noStep;
  const buildahOverhead = m.buildahRun - m.buildahFrom;

  // A step that writes 1 GiB: lading streams the upper directory into the layer.
  await fs.writeFile(file, spec(`, Image.run(["/bin/dd", "if=/dev/zero", "of=/big", "bs=1M", "count=1024"], { name: "big" })`));
  const big = await lading(file, "img", `oci:${path.join(BASE, "out")}:img`);

  const inProcess = await stepInProcess();
  const rootfs = await compareRootfs();
  await exec("podman", ["rmi", "-f", "localhost/lading-bench-run:latest"]).catch(() => undefined);

  console.log(
    `\n${table([
      ["median of " + String(rounds), "seconds", "against"],
      ["lading build, no step", m.noStep.toFixed(3), ""],
      ["trivial step, uncached (overhead)", stepOverhead.toFixed(3), `buildah RUN ${buildahOverhead.toFixed(3)} (${(stepOverhead / buildahOverhead).toFixed(2)}x); podman run ${m.podmanRun.toFixed(3)}`],
      ["cached step (overhead)", cachedOverhead.toFixed(3), "CLI runs: start-up and spec loading vary more than this"],
      ["in process: trivial step, uncached", inProcess.uncached.toFixed(3), "plan + run + layer, no CLI start-up"],
      ["in process: cached step", inProcess.cached.toFixed(4), "target < 0.050"],
      ["step writing 1 GiB", big.seconds.toFixed(2), `peak RSS ${(big.maxRssKiB / 1024).toFixed(0)} MiB (target < 300)`],
      ["rootfs: overlay mount + umount", rootfs.overlay.toFixed(3), `copy of the layers ${rootfs.copy.toFixed(3)} (${(rootfs.copy / rootfs.overlay).toFixed(0)}x)`],
    ])}`,
  );
  await writeResults(path.join(BASE, "results.json"), {
    machine: machine(),
    commit: await commit(),
    rounds,
    medians: m,
    stepOverhead,
    cachedOverhead,
    buildahOverhead,
    bigStep: { seconds: big.seconds, maxRssKiB: big.maxRssKiB },
    rootfs,
    inProcess,
    targets: [
      { name: "cached step, in process", value: inProcess.cached, target: "< 0.050 s", pass: inProcess.cached < 0.05 },
      { name: "uncached trivial step", value: stepOverhead, target: `< buildah's ${buildahOverhead.toFixed(3)} s`, pass: stepOverhead < buildahOverhead },
      { name: "peak RSS, 1 GiB step", value: big.maxRssKiB / 1024, target: "< 300 MiB", pass: big.maxRssKiB < 300 * 1024 },
    ],
  });
};

/**
 * A step's own cost, without the CLI's start-up and the spec's loading: plan and build of
 * an image whose step runs (a fresh env value each time), and of the same image again,
 * its step cached, each minus the same image without the step.
 */
const stepInProcess = async (): Promise<{ readonly uncached: number; readonly cached: number }> => {
  const store = await openStore(path.join(BASE, "inproc"));
  const runStep = createStepRunner({ store, env: {}, onLine: () => undefined });
  const base = pipe(Image.scratch, Image.withLayer(busybox({ applets: ["sh", "true"] })), Image.withEnv({ PATH: "/bin" }));
  const build = async (image: Image.Image): Promise<number> => {
    const t = performance.now();
    const ir = evaluate("bench", "img", image);
    if (E.isLeft(ir)) throw new Error("the bench image does not evaluate");
    const planned = await planImage(nodeHost(), ir.right, { file: "bench", specDir: BASE, created: 0, format: layerFormat, sandbox: SANDBOX_VERSION });
    if (E.isLeft(planned)) throw new Error("the bench image does not plan");
    await buildImage(store, planned.right.plan, planned.right.inputs, undefined, { runStep });
    return (performance.now() - t) / 1000;
  };
  await build(base);
  const uncached: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < 5; i++) {
    const plain = await build(base);
    const step = pipe(base, Image.run(["/bin/true"], { name: "trivial", env: { ROUND: `${i}-${Date.now()}` } }));
    uncached.push((await build(step)) - plain);
    cached.push((await build(step)) - plain);
  }
  return { uncached: median(uncached), cached: median(cached) };
};

/**
 * Overlay against copy, for a step's root file system over one generated layer: the
 * overlay costs a mount whatever the layer's size; a copy costs every byte.
 */
const compareRootfs = async (): Promise<{ readonly overlay: number; readonly copy: number }> => {
  const dir = path.join(BASE, "rootfs");
  const lower = path.join(dir, "lower");
  const rng = new Rng(7);
  for (let i = 0; i < 4000; i++) {
    const f = path.join(lower, `d${i % 40}`, `f${i}`);
    await fs.mkdir(path.dirname(f), { recursive: true });
    await fs.writeFile(f, Buffer.alloc(16 * 1024, rng.u32() & 0xff));
  }
  const overlay: number[] = [];
  const copy: number[] = [];
  for (let i = 0; i < 5; i++) {
    const [upper, work, merged, copied] = ["u", "w", "m", "c"].map((d) => path.join(dir, `${d}${i}`)) as [string, string, string, string];
    for (const d of [upper, work, merged]) await fs.mkdir(d, { recursive: true });
    let t = performance.now();
    await exec("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
    await exec("umount", [merged]);
    overlay.push((performance.now() - t) / 1000);
    await exec("sync", []);
    t = performance.now();
    await exec("cp", ["-a", lower, copied]);
    copy.push((performance.now() - t) / 1000);
  }
  return { overlay: median(overlay), copy: median(copy) };
};

main().catch(failed);
