/**
 * The Debian benchmark: the Python stack of examples/api (the minimal Debian base, then
 * python3, python3-flask, python3-redis and python3-psycopg2) resolved against the
 * archive and built by lading from an empty store, again from the warm store (resolving
 * again, then from the lock), side by side with `mmdebstrap --variant=extract` doing the
 * same set (resolve with apt, download, unpack, no maintainer scripts: what lading does).
 * Prints wall-clock seconds, lading's peak RSS and the ratios. A measurement, not a test.
 *
 *   npm run bench:debian
 *
 * The archive is the one the host's apt sources name for bookworm, for both.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { readAptSources, sourceForSuite } from "../src/deb/index.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORK = path.join(ROOT, "bench", ".work", "debian");
const PROJECT = path.join(WORK, "api");
const STORE = path.join(WORK, "store");
const PACKAGES = ["base-files", "netbase", "tzdata", "ca-certificates", "libc6", "python3", "python3-flask", "python3-redis", "python3-psycopg2"];

/** Runs a command under GNU time: wall-clock seconds, peak RSS in MiB, and its stdout. */
const timed = (cmd: string, args: ReadonlyArray<string>): { readonly seconds: number; readonly rssMiB: number; readonly stdout: string } => {
  const rssFile = path.join(WORK, "rss");
  const t0 = performance.now();
  const stdout = execFileSync("/usr/bin/time", ["-o", rssFile, "-f", "%M", cmd, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20, encoding: "utf8" });
  const seconds = (performance.now() - t0) / 1000;
  const rssMiB = Number(execFileSync("tail", ["-n1", rssFile], { encoding: "utf8" }).trim()) / 1024;
  return { seconds, rssMiB, stdout };
};

const main = async (): Promise<void> => {
  await fs.rm(WORK, { recursive: true, force: true });
  await fs.mkdir(path.join(PROJECT, "node_modules"), { recursive: true });
  await fs.symlink(ROOT, path.join(PROJECT, "node_modules", "lading"));
  // The example without its lock, so the cold build resolves.
  for (const f of ["lading.ts", "app.py"]) await fs.copyFile(path.join(ROOT, "examples", "api", f), path.join(PROJECT, f));
  const spec = path.join(PROJECT, "lading.ts");
  const lading = (args: ReadonlyArray<string>) => timed(process.execPath, [path.join(ROOT, "bin", "lading.js"), ...args]);
  const build = (extra: ReadonlyArray<string> = []) => lading(["build", spec, "--no-check", "--store", STORE, "--out", `oci:${path.join(WORK, "oci")}:latest`, ...extra]);

  const cold = build();
  const warm = build();
  const lock = lading(["lock", spec, "--no-check", "--store", STORE]);
  const frozen = build(["--frozen"]);
  const mirror = sourceForSuite(await readAptSources(), "bookworm").uri;
  const peer = timed("mmdebstrap", ["--quiet", "--variant=extract", `--include=${PACKAGES.join(",")}`, "bookworm", path.join(WORK, "mmdebstrap.tar"), `deb ${mirror} bookworm main`]);

  const rows: ReadonlyArray<readonly [string, number, string]> = [
    ["lading build, empty store (resolve, fetch, verify, unpack, build)", cold.seconds, `mmdebstrap --variant=extract ${peer.seconds.toFixed(1)} s: ${(cold.seconds / peer.seconds).toFixed(2)}x; peak RSS ${cold.rssMiB.toFixed(0)} MiB`],
    ["lading build again, same store (reads the index again)", warm.seconds, `${((warm.seconds / cold.seconds) * 100).toFixed(0)}% of cold; peak RSS ${warm.rssMiB.toFixed(0)} MiB`],
    ["lading lock (resolve only)", lock.seconds, `peak RSS ${lock.rssMiB.toFixed(0)} MiB`],
    ["lading build --frozen, same store (no index)", frozen.seconds, `${((frozen.seconds / cold.seconds) * 100).toFixed(0)}% of cold`],
    ["mmdebstrap --variant=extract, empty cache", peer.seconds, ""],
  ];
  console.log(`digest ${cold.stdout.trim()} (warm ${warm.stdout.trim() === cold.stdout.trim() ? "same" : "DIFFERENT"}, frozen ${frozen.stdout.trim() === cold.stdout.trim() ? "same" : "DIFFERENT"})`);
  for (const [what, s, note] of rows) console.log(`${s.toFixed(2).padStart(7)} s  ${what}${note === "" ? "" : `  (${note})`}`);
};

await main();
