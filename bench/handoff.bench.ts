/**
 * The edit-rebuild-run loop on a large base: a 1 GiB base image (four layers) in a
 * registry started on 127.0.0.1, and a spec that pulls it and adds one small layer. Each
 * round edits one file of that layer, then times, in the same round:
 *
 * - `lading build --out docker-archive:FILE` + `podman load -i FILE`;
 * - `lading build --out oci:DIR` + `skopeo copy oci:DIR:TAG containers-storage:NAME`
 *   (into podman's storage, reading only the layers it does not have);
 * - the peer: `podman build` of `FROM base` + `COPY app /app` (buildah inside podman),
 *   whose result is in podman's storage when it ends.
 *
 * The base is pulled by podman and built by lading once before the rounds, so every
 * contender starts from a store that has it.
 *
 *   npm run bench:handoff            # BENCH_RUNS rounds (3)
 *
 * Run as root (podman's storage). It is a measurement: a missed target exits 0.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { startRegistry } from "../test/support/registry.ts";
import { KiB, LADING, MiB, Rng, WORK, benchRuns, commit, exec, failed, machine, median, requireTools, table, textOf, vocabulary, writeResults } from "./support.ts";

const BASE = path.join(WORK, "handoff");
const LAYERS = 4;
const FILES_PER_LAYER = 64;
const FILE_BYTES = 4 * MiB;
const IMAGE = "localhost/lading-bench-handoff";

/** Seconds `f` takes. */
const timed = async (f: () => Promise<unknown>): Promise<number> => {
  const started = performance.now();
  await f();
  return (performance.now() - started) / 1000;
};

/** The base's tree: LAYERS directories of text-like files (1 GiB in all, about 4:1 in gzip). */
const makeTree = async (dir: string): Promise<void> => {
  const rng = new Rng(0x6a5e);
  const { vocab } = vocabulary(rng, ["ka", "lo", "mi", "ren", "to", "sha", "vel", "dor", "in", "qu", "ex", "ar"], ["{", "}", "(", ")", ";"], 4000);
  for (let l = 0; l < LAYERS; l++) {
    await fs.mkdir(path.join(dir, `part${l}`), { recursive: true });
    for (let f = 0; f < FILES_PER_LAYER; f++) await fs.writeFile(path.join(dir, `part${l}`, `f${f}.txt`), textOf(rng, vocab, FILE_BYTES, 3));
  }
};

const main = async (): Promise<void> => {
  await requireTools(["podman", "skopeo", "docker-registry"]);
  const rounds = benchRuns(3);
  // The generated tree, the registry's data and the stores are kept for the next run
  // (rm -rf bench/.work/handoff to start over); the outputs are not.
  for (const p of ["app.tar", "layout", "store"]) await fs.rm(path.join(BASE, p), { recursive: true, force: true });
  await fs.mkdir(path.join(BASE, "app"), { recursive: true });
  const registry = await startRegistry(path.join(BASE, "registry"));
  try {
    const store = path.join(BASE, "store");
    const baseRef = `${registry.host}/handoff/base:1`;
    console.log(`base: generating ${(LAYERS * FILES_PER_LAYER * FILE_BYTES) / MiB} MiB and pushing it to ${registry.host}...`);
    const marker = path.join(BASE, "tree.done");
    if (!(await fs.access(marker).then(() => true, () => false))) {
      await fs.rm(path.join(BASE, "tree"), { recursive: true, force: true });
      await makeTree(path.join(BASE, "tree"));
      await fs.writeFile(marker, "");
    }
    const layers = Array.from({ length: LAYERS }, (_, l) => `Layer.make("part${l}", [Entry.copy("tree/part${l}", "/opt/base/part${l}")])`).join(", ");
    await fs.writeFile(path.join(BASE, "base.ts"), `import { Entry, Image, Layer, pipe } from "lading";\nexport default pipe(Image.scratch, Image.withLayers(${layers}));\n`);
    await exec("node", [LADING, "build", path.join(BASE, "base.ts"), "--no-check", "--store", path.join(BASE, "base-store"), "--out", `docker://${baseRef}`]);
    await fs.writeFile(
      path.join(BASE, "app.ts"),
      `import { Entry, Image, Layer, pipe } from "lading";\nexport default pipe(Image.pull("${baseRef}"), Image.withLayer(Layer.make("app", [Entry.copy("app", "/app")])), Image.withCmd(["/app/main.txt"]));\n`,
    );
    await fs.writeFile(path.join(BASE, "Containerfile"), `FROM ${baseRef}\nCOPY app /app\nCMD ["/app/main.txt"]\n`);
    const edit = (round: number): Promise<void> => fs.writeFile(path.join(BASE, "app", "main.txt"), `round ${round}\n`);
    await edit(0);
    await exec("node", [LADING, "lock", path.join(BASE, "app.ts"), "--store", store]);

    const archive = path.join(BASE, "app.tar");
    const layout = path.join(BASE, "layout");
    const build = (out: string): Promise<unknown> => exec("node", [LADING, "build", path.join(BASE, "app.ts"), "--store", store, "--out", out]);
    const contenders = {
      dockerArchive: async () => {
        await build(`docker-archive:${archive}:${IMAGE}:archive`);
        await exec("podman", ["load", "-q", "-i", archive]);
      },
      ociLayout: async () => {
        await build(`oci:${layout}:dev`);
        await exec("skopeo", ["copy", "--quiet", `oci:${layout}:dev`, `containers-storage:${IMAGE}:oci`]);
      },
      podmanBuild: () => exec("podman", ["build", "-q", "--tls-verify=false", "-t", `${IMAGE}:podman`, "-f", path.join(BASE, "Containerfile"), BASE]),
    };
    const names = Object.keys(contenders) as (keyof typeof contenders)[];
    // Once, untimed: the base in lading's store and in podman's, and the spec checked.
    console.log("warming: the base into lading's store and podman's...");
    await exec("podman", ["pull", "-q", "--tls-verify=false", baseRef]);
    for (const n of names) await contenders[n]();

    const seconds: Record<keyof typeof contenders, number[]> = { dockerArchive: [], ociLayout: [], podmanBuild: [] };
    for (let r = 1; r <= rounds; r++) {
      await edit(r);
      // A different order each round, so none always runs on a cold or a warm page cache.
      for (const n of r % 2 === 0 ? [...names].reverse() : names) seconds[n].push(await timed(contenders[n]));
      console.log(`round ${r}/${rounds}: ${names.map((n) => `${n} ${seconds[n].at(-1)!.toFixed(2)} s`).join(", ")}`);
    }
    const archiveMiB = (await fs.stat(archive)).size / MiB;
    const m = Object.fromEntries(names.map((n) => [n, median(seconds[n])])) as Record<keyof typeof contenders, number>;
    console.log(
      `\nedit one file of an image on a ${(LAYERS * FILES_PER_LAYER * FILE_BYTES) / MiB} MiB base, rebuild, hand to podman; medians of ${rounds}\n\n${table([
        ["", "seconds", "against podman build", "target"],
        [`lading build + podman load (docker-archive, ${archiveMiB.toFixed(0)} MiB)`, m.dockerArchive.toFixed(2), `${(m.dockerArchive / m.podmanBuild).toFixed(2)}x`, "< 2 s"],
        ["lading build + skopeo copy oci: containers-storage:", m.ociLayout.toFixed(2), `${(m.ociLayout / m.podmanBuild).toFixed(2)}x`, "< 2 s"],
        ["podman build (FROM base, COPY)", m.podmanBuild.toFixed(2), "", ""],
      ])}`,
    );
    await writeResults(path.join(BASE, "results.json"), { machine: machine(), commit: await commit(), rounds, seconds, archiveKiB: (await fs.stat(archive)).size / KiB });
  } finally {
    await registry.stop();
    await exec("podman", ["rmi", "-f", `${IMAGE}:archive`, `${IMAGE}:oci`, `${IMAGE}:podman`]).catch(() => undefined);
  }
};

main().catch(failed);
