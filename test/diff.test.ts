/**
 * lading diff: golden files for a pair of specs that covers every kind of change, in
 * every format; a spec-level diff that agrees with the diff of the built images; and
 * identical images that report no difference.
 *
 * Regenerate the golden files with UPDATE_GOLDEN=1 npx vitest run test/diff.test.ts.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageDiff } from "../src/diff/index.ts";
import { REPO, runLading } from "./support/cli.ts";
import { expectGolden } from "./support/golden.ts";

const BEFORE = "test/fixtures/diff/before/lading.ts";
const AFTER = "test/fixtures/diff/after/lading.ts";

let work: string;
let store: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-diff-"));
  store = path.join(work, "store");
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const golden = (name: string, actual: string): Promise<void> => expectGolden("diff", name, actual);

const diff = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => runLading(["diff", ...args, "--store", store], { env });

/** The file-level changes of a JSON diff, without the sides' own naming. */
const fileChanges = (d: ImageDiff) => d.files.map((f) => ({ path: f.path, change: f.change, aspects: f.aspects, before: f.before, after: f.after }));

describe("lading diff", () => {
  it.each([
    ["text.txt", []],
    ["stat.txt", ["--stat"]],
    ["diff.json", ["--format", "json"]],
    ["diff.md", ["--format", "markdown"]],
  ] as const)("reports every kind of change (%s)", async (name, flags) => {
    const r = await diff([BEFORE, AFTER, ...flags]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    await golden(name, r.stdout);
  });

  it("covers each kind of change the schema knows", async () => {
    const d = JSON.parse((await diff([BEFORE, AFTER, "--format", "json", "--no-check"])).stdout) as ImageDiff;
    expect(new Set(d.files.map((f) => f.change))).toEqual(new Set(["added", "removed", "changed"]));
    expect(new Set(d.files.flatMap((f) => f.aspects))).toEqual(new Set(["type", "content", "mode", "owner", "target"]));
    expect(new Set(d.layers.map((l) => l.change))).toEqual(new Set(["added", "removed", "changed", "unchanged"]));
    expect(d.reordered).toBe(true);
    expect(d.layers.filter((l) => l.rebuild).map((l) => l.name)).toEqual(["base", "app", "cache"]);
    expect(d.platform).toEqual([{ field: "platform", before: "linux/amd64", after: "linux/arm64/v8" }]);
    expect(d.summary.sizeDelta).toBe(d.summary.sizeAfter - d.summary.sizeBefore);
  });

  it("is quiet with --quiet, honours --ignore, and colours only when asked", async () => {
    const quiet = await diff([BEFORE, AFTER, "--quiet", "--no-check"]);
    expect(quiet).toEqual({ code: 1, stdout: "", stderr: "" });
    const ignored = JSON.parse((await diff([BEFORE, AFTER, "--format", "json", "--no-check", "--ignore", "/app/**", "--ignore", "app"])).stdout) as ImageDiff;
    expect(ignored.files.some((f) => f.path.startsWith("/app"))).toBe(false);
    expect(ignored.files.length).toBeGreaterThan(0);
    // /app's own changes no longer count in the size: a.txt +8 B, b.txt -5 B, c.txt +6 B,
    // and the 7 B tool that became a directory.
    const all = JSON.parse((await diff([BEFORE, AFTER, "--format", "json", "--no-check"])).stdout) as ImageDiff;
    expect(all.summary.sizeDelta - ignored.summary.sizeDelta).toBe(8 - 5 + 6 - 7);
    const plain = await diff([BEFORE, AFTER, "--no-check"]);
    expect(plain.stdout).not.toContain("\u001b[");
    const colored = await diff([BEFORE, AFTER, "--no-check", "--color", "always"]);
    expect(colored.stdout).toContain("\u001b[32m+");
  });

  it("agrees with the diff of the two built images on every file", async () => {
    for (const [spec, out] of [
      [BEFORE, "before"],
      [AFTER, "after"],
    ] as const) {
      const b = await runLading(["build", spec, "--no-check", "--store", store, "--out", `oci:${work}/${out}:img`]);
      expect(b.code).toBe(0);
    }
    const specs = JSON.parse((await diff([BEFORE, AFTER, "--format", "json", "--no-check"])).stdout) as ImageDiff;
    const built = JSON.parse((await diff([`oci:${work}/before:img`, `oci:${work}/after:img`, "--format", "json"])).stdout) as ImageDiff;
    expect(fileChanges(built)).toEqual(fileChanges(specs));
    expect(built.config).toEqual(specs.config);
    expect(built.layers.map((l) => [l.name, l.change])).toEqual(specs.layers.map((l) => [l.name, l.change]));
    // A spec and the image built from it are the same image.
    const mixed = await diff([AFTER, `oci:${work}/after:img`, "--no-check"]);
    expect(mixed.stdout).toContain("no differences");
    expect(mixed.code).toBe(0);
  });

  it("reports identical images built in different runs and directories as the same", async () => {
    const one = path.join(work, "one");
    const two = path.join(work, "two");
    expect((await runLading(["build", "examples/site/lading.ts", "--store", path.join(work, "s1"), "--out", `oci:${one}:site`])).code).toBe(0);
    const other = await runLading(["build", path.join(REPO, "examples/site/lading.ts"), "--store", path.join(work, "s2"), "--out", `docker-archive:${two}.tar`], {
      cwd: "/",
      env: { TZ: "Asia/Tokyo" },
    });
    expect(other.stderr).toBe("");
    expect(other.code).toBe(0);
    const r = await diff([`oci:${one}:site`, `docker-archive:${two}.tar`]);
    expect(r.stdout).toContain("no differences");
    expect(r.code).toBe(0);
  });

  it("compares a spec with itself at a git revision", async () => {
    const r = await diff(["examples/hello/lading.ts", "--base", "HEAD", "--no-check"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("--- git:HEAD:examples/hello/lading.ts");
    expect(r.code).toBe(0);
  });

  it("says trouble with exit code 2", async () => {
    const missing = await diff(["test/fixtures/diff/none.ts", AFTER, "--no-check"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("none.ts: no such spec file");
    const rev = await diff([AFTER, "--base", "no-such-rev", "--no-check"]);
    expect(rev.code).toBe(2);
    expect(rev.stderr).toContain('no such revision "no-such-rev"');
    const usage = await diff([AFTER]);
    expect(usage.code).toBe(2);
  });
});
