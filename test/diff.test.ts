/**
 * lading diff: golden files for a pair of specs that covers every kind of change, in
 * every format; a spec-level diff that agrees with the diff of the built images; and
 * identical images that report no difference.
 *
 * Regenerate the golden files with UPDATE_GOLDEN=1 npx vitest run test/diff.test.ts.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Digest } from "../src/core/index.ts";
import type { ImageDiff, ImageView, LayerEntry } from "../src/diff/index.ts";
import { diffImages } from "../src/diff/index.ts";
import type { EntryList } from "../src/plan/index.ts";
import { PackedEntries } from "../src/plan/index.ts";
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

describe("lading diff of two specs over the same host files", () => {
  /** Seconds since the epoch, long enough ago for the store's digest cache to keep a file. */
  const PAST = 1_700_000_000;
  /** A spec in `dir`: one layer copying `files` to /data. */
  const specOf = (dir: string): Promise<void> =>
    fs.writeFile(
      path.join(dir, "lading.ts"),
      `import { Entry, Image, Layer, pipe } from "lading";\nexport const img = pipe(Image.scratch, Image.withLayers(Layer.make("tree", [Entry.copy("files", "/data")])));\n`,
    );
  const writeFile = async (file: string, content: string, mtime = PAST): Promise<void> => {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
    await fs.utimes(file, mtime, mtime);
  };
  /** Whether reading `file` shows in its atime here (not on a noatime mount): its atime is set before its mtime, which relatime updates on any read. */
  const readsShow = async (file: string): Promise<boolean> => {
    await fs.utimes(file, PAST - 10, PAST);
    await fs.readFile(file);
    const shows = (await fs.stat(file)).atimeMs > PAST * 1000;
    await fs.utimes(file, PAST - 10, PAST);
    return shows;
  };

  it("reads no byte of a host file both sides take unchanged", async (ctx) => {
    const dir = await fs.mkdtemp(path.join(work, "same-"));
    const big = path.join(dir, "files", "big.bin");
    await writeFile(big, "x".repeat(100_000));
    await writeFile(path.join(dir, "files", "small.txt"), "small\n");
    await specOf(dir);
    const variant = path.join(dir, "variant.ts");
    await fs.writeFile(
      variant,
      `import { Entry, Image, Layer, pipe } from "lading";\nimport { img } from "./lading.ts";\nexport const variant = pipe(img, Image.withLayer(Layer.make("extra", [Entry.file("/etc/extra", "x\\n")])), Image.withEnv({ MODE: "variant" }));\n`,
    );
    // On a mount that keeps no atime, no read shows: nothing to tell here.
    if (!(await readsShow(big))) ctx.skip();
    const before = await fs.stat(big);
    const r = await runLading(["diff", path.join(dir, "lading.ts"), variant, "--no-check", "--store", path.join(dir, "store")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("+ /etc/extra  file 0644 0:0 2 B");
    expect(r.stdout).toContain("summary: 2 added, 0 removed, 0 changed");
    // Read, its atime would be now: it is still the one set above.
    expect((await fs.stat(big)).atimeMs).toBe(before.atimeMs);
    // The JSON shows every layer's key: there the file is read.
    const json = await runLading(["diff", path.join(dir, "lading.ts"), variant, "--no-check", "--format", "json", "--store", path.join(dir, "store2")]);
    expect(json.code).toBe(1);
    expect((await fs.stat(big)).atimeMs).toBeGreaterThan(before.atimeMs);
  });

  it("tells two host files of one size and mtime apart by their bytes", async () => {
    const dir = await fs.mkdtemp(path.join(work, "other-"));
    await writeFile(path.join(dir, "files", "f.txt"), "aaaa\n");
    await writeFile(path.join(dir, "files", "g.txt"), "same\n");
    // Another file with other bytes at /data/f.txt, and one with the same bytes at /data/g.txt.
    await writeFile(path.join(dir, "over", "f.txt"), "bbbb\n");
    await writeFile(path.join(dir, "over", "g.txt"), "same\n");
    await specOf(dir);
    const variant = path.join(dir, "variant.ts");
    await fs.writeFile(
      variant,
      `import { Entry, Image, Layer, pipe } from "lading";\nimport { img } from "./lading.ts";\nexport const over = pipe(img, Image.withLayer(Layer.make("over", [Entry.copy("over/f.txt", "/data/f.txt"), Entry.copy("over/g.txt", "/data/g.txt")])));\n`,
    );
    const r = await runLading(["diff", path.join(dir, "lading.ts"), variant, "--no-check", "--store", path.join(dir, "store")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("~ /data/f.txt  content 5 B -> 5 B");
    expect(r.stdout).not.toContain("/data/g.txt");
    expect(r.stdout).toContain("summary: 0 added, 0 removed, 1 changed");
    // Two specs that each copy their own file of one size and mtime: the layer's key tells.
    const other = path.join(dir, "other");
    await writeFile(path.join(other, "files", "f.txt"), "cccc\n");
    await writeFile(path.join(other, "files", "g.txt"), "same\n");
    await specOf(other);
    const two = await runLading(["diff", path.join(dir, "lading.ts"), path.join(other, "lading.ts"), "--no-check", "--store", path.join(dir, "store")]);
    expect(two.stderr).toBe("");
    expect(two.code).toBe(1);
    expect(two.stdout).toContain("~ /data/f.txt  content 5 B -> 5 B");
    expect(two.stdout).not.toContain("/data/g.txt");
    // The keys shown are the plans' own, made from the files' bytes.
    const keyOf = async (spec: string): Promise<string> => /layer tree: .* cache key (sha256:\w{12})/.exec((await runLading(["plan", spec, "--no-check"])).stdout)?.[1] ?? "none";
    expect(two.stdout).toContain(`~ tree  10 B -> 10 B  ${await keyOf(path.join(dir, "lading.ts"))} -> ${await keyOf(path.join(other, "lading.ts"))}  (1 changed)  [rebuild]`);
  });
});

describe("lading diff of two specs with a derived layer", () => {
  it("reads a copied host file for the derived layer, checked by its identity", async () => {
    const dir = await fs.mkdtemp(path.join(work, "derived-"));
    await fs.mkdir(path.join(dir, "files"));
    await fs.writeFile(path.join(dir, "files", "issue"), "hello\n");
    await fs.writeFile(
      path.join(dir, "lading.ts"),
      `import { Entry, Image, Layer, pipe } from "lading";\nconst shout = Layer.derived("shout", (below) => [Entry.file("/etc/motd", (below.readText("/data/issue") ?? "none").toUpperCase())]);\nexport const img = pipe(Image.scratch, Image.withLayers(Layer.make("tree", [Entry.copy("files", "/data")]), shout));\n`,
    );
    await fs.writeFile(path.join(dir, "variant.ts"), `import { Image, pipe } from "lading";\nimport { img } from "./lading.ts";\nexport const variant = pipe(img, Image.withEnv({ MODE: "variant" }));\n`);
    const r = await runLading(["diff", path.join(dir, "lading.ts"), path.join(dir, "variant.ts"), "--no-check", "--store", path.join(dir, "store")]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("config:\n  + Env.MODE: \"variant\"\nsummary: 0 added, 0 removed, 0 changed");
    expect(r.code).toBe(1);
    // What it derived from the file's bytes, as a plan that hashes them has it.
    const plan = await runLading(["plan", path.join(dir, "variant.ts"), "--no-check", "--json"]);
    expect(plan.stdout).toContain(`"sha256:${createHash("sha256").update("HELLO\n").digest("hex")}"`);
  });
});

describe("diffImages over layers both sides share", () => {
  const digest = (c: string): Digest => `sha256:${c.repeat(64)}`;
  const file = (p: `/${string}`, size: number, c: string) => ({ path: p, type: "file" as const, mode: 0o644, uid: 0, gid: 0, size, digest: digest(c), source: `files${p}` });
  const dir = (p: `/${string}`) => ({ path: p, type: "dir" as const, mode: 0o755, uid: 0, gid: 0 });
  /** The shared layer, as a plan packs it: sorted, /data/d a directory. */
  const lower = () => PackedEntries.of([dir("/data"), file("/data/a", 4, "a"), dir("/data/d"), file("/data/d/x", 10, "b")]);
  const view = (layers: ReadonlyArray<EntryList<LayerEntry>>): ImageView => ({
    source: "s",
    kind: "spec",
    platform: "linux/amd64",
    config: {},
    annotations: {},
    // A layer's size is its files' sizes, as a plan gives it.
    layers: layers.map((files, i) => ({ name: `l${i}`, key: digest(String(i)), size: [...files].reduce((n, f) => n + (f.type === "file" ? (f.size ?? 0) : 0), 0), files })),
  });
  /** The diff's files and sizes with the lower layer one list on both sides, and as two copies of it. */
  const both = (above: ReadonlyArray<LayerEntry>, ignore: ReadonlyArray<string> = []) => {
    const shared = lower();
    const outline = (d: ImageDiff) => ({ files: d.files.map((f) => [f.path, f.change, ...f.aspects]), sizes: [d.summary.sizeBefore, d.summary.sizeAfter] });
    return [outline(diffImages(view([shared]), view([shared, above]), { ignore })), outline(diffImages(view([lower()]), view([lower(), above]), { ignore }))];
  };

  it("compares only the paths of the layers above, against the shared tree", () => {
    const [shared, copies] = both([dir("/data"), file("/data/a", 4, "c"), file("/data/new", 3, "d")]);
    expect(shared).toEqual({ files: [["/data/a", "changed", "content"], ["/data/new", "added"]], sizes: [14, 17] });
    expect(copies).toEqual(shared);
    const [ignored] = both([file("/data/a", 6, "c"), file("/data/new", 3, "d")], ["/data/new"]);
    expect(ignored).toEqual({ files: [["/data/a", "changed", "content"]], sizes: [14, 16] });
  });

  it("takes paths away as a flattened tree does: a whiteout, a file over a directory", () => {
    const [whiteout, whiteoutCopies] = both([file("/data/.wh.a", 0, "e")]);
    expect(whiteout).toEqual({ files: [["/data/a", "removed"]], sizes: [14, 10] });
    expect(whiteoutCopies).toEqual(whiteout);
    const [over, overCopies] = both([file("/data/d", 2, "f")]);
    expect(over).toEqual({ files: [["/data/d", "changed", "type"], ["/data/d/x", "removed"]], sizes: [14, 6] });
    expect(overCopies).toEqual(over);
  });
});

