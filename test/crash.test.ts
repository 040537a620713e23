/**
 * A process killed with SIGKILL at any moment of `lading build`, `lading copy` or a
 * `bundle:` write leaves nothing that the next run does not clean up: the next run of
 * the same command gives the same digest, what it wrote passes `lading inspect`, and no
 * temp file is left in the store, beside the outputs or in the temp directory. The kill
 * moments come from a fixed seed; `CRASH_RUNS=N` runs N kills of each command instead of
 * the default 3.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, REPO, runLading } from "./support/cli.ts";

const SPEC = path.join(REPO, "test/fixtures/crash/lading.ts");
const RUNS = Number(process.env["CRASH_RUNS"] ?? "3");
/**
 * Kill moments, as fractions of how long a whole build takes on this machine now: past
 * the CLI's start-up, up to the end of the writes.
 */
const MOMENTS = fc.sample(fc.double({ min: 0.3, max: 1.1, noNaN: true }), { seed: 20261202, numRuns: RUNS * 3 });
let wholeRunMs = 0;
const DELAYS = { at: (i: number): number => Math.round(MOMENTS[i]! * wholeRunMs) };

let work: string;
let tmpdir: string;
let expected: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-crash-"));
  tmpdir = path.join(work, "tmp");
  await fs.mkdir(tmpdir);
  const started = Date.now();
  const r = await lading(["build", SPEC, "--no-check", "--store", path.join(work, "reference-store"), "--out", `oci:${path.join(work, "source")}`]);
  wholeRunMs = Date.now() - started;
  expect(r.stderr).toBe("");
  expected = r.stdout.trim();
}, 120_000);
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Runs lading with the temp directory inside the test's work directory, where the test can see it. */
const lading = (args: ReadonlyArray<string>) => runLading(args, { env: { TMPDIR: tmpdir } });

/** What each kill did: whether it came before the end, and what it left behind. */
const kills: { readonly how: string; readonly left: number }[] = [];

/** Starts `lading ARGS` and kills it with SIGKILL after `ms` (if it has not finished by then). */
const killedAfter = async (args: ReadonlyArray<string>, ms: number, dir: string): Promise<string> => {
  const how = await killAfter(args, ms);
  kills.push({ how, left: (await leftovers(dir)).length + (await leftovers(tmpdir)).length });
  return how;
};

const killAfter = (args: ReadonlyArray<string>, ms: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, TMPDIR: tmpdir }, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? `exit ${code}`);
    });
  });

/** Every temp name under `dir`: lading's `.tmp-`, `.old-` and `lading-*-` names, locks, and the store's tmp. */
const leftovers = async (dir: string): Promise<string[]> => {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    // A process killed before it made its directory left nothing there.
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (/\.(tmp|old)-|\.lock$|^lading-[a-z]+-/.test(e.name) || (path.basename(d) === "tmp" && (await fs.stat(path.join(d, "..", "blobs")).catch(() => undefined)) !== undefined)) found.push(path.relative(dir, p));
      else if (e.isDirectory() && e.name !== "rootfs") await walk(p);
    }
  };
  await walk(dir);
  return found.sort();
};

/** What a bundle holds: its config and every path of its rootfs with its size. */
const bundleListing = async (dir: string): Promise<string[]> => {
  const out = [`config.json ${(await fs.stat(path.join(dir, "config.json"))).size}`];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(`${path.relative(dir, p)} ${e.isDirectory() ? "dir" : (await fs.stat(p)).size}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(path.join(dir, "rootfs"));
  return out.sort();
};

describe("killed with SIGKILL, then run again", () => {
  it.each(Array.from({ length: RUNS }, (_, i) => i))("lading build, kill %i", async (i) => {
    const dir = path.join(work, `build-${i}`);
    const args = ["build", SPEC, "--no-check", "--store", path.join(dir, "store"), "--out", `oci:${path.join(dir, "out")}`, "--out", `docker-archive:${path.join(dir, "out.tar")}`];
    // Every other round replaces outputs that exist.
    if (i % 2 === 1) expect((await lading(args)).code).toBe(0);
    const how = await killedAfter(args, DELAYS.at(i), dir);
    const again = await lading(args);
    expect({ how, stderr: again.stderr, stdout: again.stdout.trim() }).toEqual({ how, stderr: "", stdout: expected });
    for (const t of [`oci:${path.join(dir, "out")}:latest`, `docker-archive:${path.join(dir, "out.tar")}`]) expect((await lading(["inspect", t])).code).toBe(0);
    expect(await leftovers(dir)).toEqual([]);
    expect(await leftovers(tmpdir)).toEqual([]);
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))("lading copy, kill %i", async (i) => {
    const dir = path.join(work, `copy-${i}`);
    await fs.mkdir(dir);
    const toArchive = ["copy", "--store", path.join(dir, "store"), `oci:${path.join(work, "source")}`, `oci-archive:${path.join(dir, "a.tar")}`];
    // From an archive, unpacked into the temp directory; kill this one half the time.
    const fromArchive = ["copy", "--store", path.join(dir, "store"), `oci-archive:${path.join(dir, "a.tar")}`, `oci:${path.join(dir, "out")}`];
    if (i % 2 === 1) expect((await lading(toArchive)).code).toBe(0);
    const how = await killedAfter(i % 2 === 1 ? fromArchive : toArchive, DELAYS.at(RUNS + i), dir);
    if (i % 2 === 0) expect((await lading(toArchive)).code).toBe(0);
    const again = await lading(fromArchive);
    expect({ how, stderr: again.stderr }).toEqual({ how, stderr: "" });
    const inspected = await lading(["inspect", `oci:${path.join(dir, "out")}:latest`, "--json"]);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ digest: expected });
    expect(await leftovers(dir)).toEqual([]);
    expect(await leftovers(tmpdir)).toEqual([]);
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))("a bundle: write, kill %i", async (i) => {
    const dir = path.join(work, `bundle-${i}`);
    const args = ["copy", "--store", path.join(dir, "store"), `oci:${path.join(work, "source")}`, `bundle:${path.join(dir, "b")}`];
    const reference = path.join(work, "bundle-reference");
    if (i === 0) expect((await lading(["copy", "--store", path.join(work, "reference-store"), `oci:${path.join(work, "source")}`, `bundle:${reference}`])).code).toBe(0);
    if (i % 2 === 1) expect((await lading(args)).code).toBe(0);
    const how = await killedAfter(args, DELAYS.at(2 * RUNS + i), dir);
    const again = await lading(args);
    expect({ how, stderr: again.stderr }).toEqual({ how, stderr: "" });
    expect(await bundleListing(path.join(dir, "b"))).toEqual(await bundleListing(reference));
    expect(await leftovers(dir)).toEqual([]);
    expect(await leftovers(tmpdir)).toEqual([]);
  });

  it("killed most runs before their end", () => {
    expect(kills.filter((k) => k.how === "SIGKILL").length).toBeGreaterThanOrEqual(Math.ceil(kills.length / 2));
  });

  it("a build killed while its temp files exist leaves them, and the next run removes them", async () => {
    // Not left to timing: the kill comes as soon as a temp file is seen.
    const dir = path.join(work, "build-watched");
    const args = ["build", SPEC, "--no-check", "--store", path.join(dir, "store"), "--out", `oci:${path.join(dir, "out")}`];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, TMPDIR: tmpdir }, stdio: "ignore" });
    const ended = new Promise<string>((resolve) => child.on("close", (code, signal) => resolve(signal ?? `exit ${code}`)));
    let finished = false;
    void ended.then(() => (finished = true));
    let seen: string[] = [];
    while (!finished && seen.length === 0) {
      seen = [...(await leftovers(dir)), ...(await leftovers(tmpdir))];
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 2));
    }
    child.kill("SIGKILL");
    expect(await ended).toBe("SIGKILL");
    expect([...(await leftovers(dir)), ...(await leftovers(tmpdir))].length).toBeGreaterThan(0);
    const again = await lading(args);
    expect({ stderr: again.stderr, stdout: again.stdout.trim() }).toEqual({ stderr: "", stdout: expected });
    expect(await leftovers(dir)).toEqual([]);
    expect(await leftovers(tmpdir)).toEqual([]);
  });
});
