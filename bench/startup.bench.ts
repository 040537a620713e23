/**
 * Start-up: how long lading takes to answer before it does any work, against Node's
 * own start-up (`node -e 0`), the floor every command stands on; and `lading check` of
 * examples/hello, answered from the store's record (nothing changed) and checked afresh
 * (an empty store each run: the compiler loads and checks).
 *
 *   npm run bench:startup
 *
 * Timed by hyperfine (no shell, warm-up runs first), which runs each command
 * BENCH_RUNS times (10). The compiled CLI is built by the warm-up if it is not there.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { benchRuns, commit, exec, failed, LADING, machine, requireTools, ROOT, table, WORK, writeResults } from "./support.ts";

const BASE = path.join(WORK, "startup");
const SPEC = path.join(ROOT, "examples", "hello", "lading.ts");

/** The part of hyperfine's `--export-json` report read here, in seconds. */
const HyperfineReport = t.type({
  results: t.array(t.type({ command: t.string, mean: t.number, median: t.number, user: t.number, system: t.number })),
});

interface Timing {
  readonly median: number;
  /** Mean CPU seconds, user and system. */
  readonly cpu: number;
}

/** Times `argv` with hyperfine; `prepare` runs before each timed run. */
const hyperfine = async (name: string, argv: ReadonlyArray<string>, runs: number, prepare?: ReadonlyArray<string>): Promise<Timing> => {
  const report = path.join(BASE, `${name}.json`);
  const shown = argv.join(" ");
  await exec("hyperfine", ["-N", "--warmup", "3", "--runs", String(runs), "--export-json", report, ...(prepare === undefined ? [] : ["--prepare", prepare.join(" ")]), shown]);
  const decoded = HyperfineReport.decode(JSON.parse(await fs.readFile(report, "utf8")));
  if (E.isLeft(decoded)) throw new Error(`${report}: not the hyperfine report expected`);
  const r = decoded.right.results[0];
  if (r === undefined) throw new Error(`${report}: hyperfine reported no result`);
  console.log(`  ${name}: median ${r.median.toFixed(3)} s`);
  return { median: r.median, cpu: r.user + r.system };
};

const main = async (): Promise<void> => {
  await requireTools(["hyperfine"]);
  await fs.rm(BASE, { recursive: true, force: true });
  await fs.mkdir(BASE, { recursive: true });
  const runs = benchRuns(10);
  const node = process.execPath;
  const recorded = path.join(BASE, "store-recorded");
  const fresh = path.join(BASE, "store-fresh");
  // The record the "nothing changed" runs are answered from.
  await exec(node, [LADING, "check", SPEC, "--store", recorded]);

  const peer = await hyperfine("node", [node, "-e", "0"], runs);
  const version = await hyperfine("version", [node, LADING, "--version"], runs);
  const help = await hyperfine("help", [node, LADING, "help"], runs);
  const helpBuild = await hyperfine("help-build", [node, LADING, "help", "build"], runs);
  const checkRecorded = await hyperfine("check-recorded", [node, LADING, "check", SPEC, "--store", recorded], runs);
  const checkFresh = await hyperfine("check-fresh", [node, LADING, "check", SPEC, "--store", fresh], runs, ["rm", "-rf", fresh]);

  const ratio = (x: Timing): string => `${(x.median / peer.median).toFixed(2)}x node -e 0`;
  console.log(
    `\n${table([
      [`median of ${runs}`, "seconds", "cpu s", "against"],
      ["node -e 0", peer.median.toFixed(3), peer.cpu.toFixed(3), ""],
      ["lading --version", version.median.toFixed(3), version.cpu.toFixed(3), `${ratio(version)}; target < 0.100 s`],
      ["lading help", help.median.toFixed(3), help.cpu.toFixed(3), ratio(help)],
      ["lading help build", helpBuild.median.toFixed(3), helpBuild.cpu.toFixed(3), ratio(helpBuild)],
      ["lading check, nothing changed", checkRecorded.median.toFixed(3), checkRecorded.cpu.toFixed(3), `${ratio(checkRecorded)}; target < 0.300 s`],
      ["lading check, empty store", checkFresh.median.toFixed(3), checkFresh.cpu.toFixed(3), `${ratio(checkFresh)}; target < 1 s`],
    ])}`,
  );
  await writeResults(path.join(BASE, "results.json"), {
    machine: machine(),
    commit: await commit(),
    runs,
    seconds: { node: peer, version, help, helpBuild, checkRecorded, checkFresh },
    versionOverNode: version.median / peer.median,
    targets: [
      { name: "lading --version", value: version.median, target: "< 0.100 s", pass: version.median < 0.1 },
      { name: "lading check, nothing changed", value: checkRecorded.median, target: "< 0.300 s", pass: checkRecorded.median < 0.3 },
      { name: "lading check, empty store", value: checkFresh.median, target: "< 1 s", pass: checkFresh.median < 1 },
    ],
  });
};

main().catch(failed);
