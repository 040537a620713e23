/**
 * The runtime bundle sink: the rootfs equals the plan, config.json follows the image
 * config, and runc runs it as it is.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildPlan } from "../src/plan/index.ts";
import { run, runLading } from "./support/cli.ts";
import type { CraftEntry } from "./support/craft.ts";
import { craftOciLayout, craftTar, snapshotTree } from "./support/craft.ts";
import { decodedPlan } from "./support/plan.ts";
import { expectedTree, walkRootfs } from "./support/rootfs.ts";
import { requireTool } from "./support/tools.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-bundle-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

interface RuntimeConfig {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
  root: { path: string };
}

const buildBundle = async (spec: string, dir: string): Promise<{ plan: BuildPlan; config: RuntimeConfig }> => {
  const store = path.join(work, "store");
  const planned = await runLading(["plan", spec, "--json", "--store", store]);
  expect(planned.code).toBe(0);
  const built = await runLading(["build", spec, "--store", store, "--out", `bundle:${dir}`]);
  expect(built.stderr).toBe("");
  expect(built.code).toBe(0);
  return {
    plan: decodedPlan(planned.stdout),
    config: JSON.parse(await fs.readFile(path.join(dir, "config.json"), "utf8")) as RuntimeConfig,
  };
};

describe("bundle sink", () => {
  it("unpacks the hello example to its plan, and runc runs it", async () => {
    const dir = path.join(work, "hello");
    const { plan, config } = await buildBundle("examples/hello/lading.ts", dir);
    expect(await walkRootfs(path.join(dir, "rootfs"))).toEqual(expectedTree(plan));
    expect(config.process.args).toEqual(["/bin/cat", "/etc/greeting"]);
    expect(config.process.env).toEqual(["PATH=/bin"]);
    expect(config.process.user).toEqual({ uid: 0, gid: 0 });
    requireTool("runc");
    const r = await run("runc", ["run", "--bundle", dir, `lading-test-${process.pid}`]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("Hello from lading!\n");
    expect(r.code).toBe(0);
  });

  it("resolves the image's named user through its /etc/passwd", async () => {
    const dir = path.join(work, "site");
    const { config } = await buildBundle("examples/site/lading.ts", dir);
    expect(config.process.user).toEqual({ uid: 1000, gid: 1000 });
    expect(config.process.cwd).toBe("/srv/www");
    // The same image gives the same config.json, byte for byte.
    const again = path.join(work, "site-again");
    await buildBundle("examples/site/lading.ts", again);
    expect(await fs.readFile(path.join(again, "config.json"))).toEqual(await fs.readFile(path.join(dir, "config.json")));
  });

  it("leaves an existing bundle intact when the new one cannot be made", async () => {
    const dir = path.join(work, "keep");
    await buildBundle("examples/hello/lading.ts", dir);
    const before = await fs.readFile(path.join(dir, "config.json"));
    // An image with nothing to run cannot become a bundle: refused before any write.
    const r = await runLading(["build", "test/fixtures/lazy/lading.ts#ready", "--store", path.join(work, "store"), "--out", `bundle:${dir}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the image has no entrypoint or cmd");
    expect(await fs.readFile(path.join(dir, "config.json"))).toEqual(before);
    // A spec whose user is missing from /etc/passwd is refused when it is planned.
    const ghost = await runLading(["build", "test/fixtures/bundle/ghost.ts", "--store", path.join(work, "store"), "--out", `bundle:${dir}`]);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toContain(`user "ghost"`);
    expect(ghost.stderr).not.toContain(`bundle:${dir}`);
    expect(await fs.readFile(path.join(dir, "config.json"))).toEqual(before);
    // An image read from elsewhere is not planned: its missing user is found only once
    // its layers are unpacked, beside the old bundle; the half-made one is removed.
    const layout = path.join(work, "ghost-layout");
    await craftOciLayout(layout, {
      layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }, { name: "etc/passwd", type: "file", content: "root:x:0:0:root:/root:/bin/sh\n" }]) }],
      config: { User: "ghost", Cmd: ["/bin/true"] },
    });
    const copied = await runLading(["copy", "--store", path.join(work, "store"), `oci:${layout}`, `bundle:${dir}`]);
    expect(copied.code).toBe(1);
    expect(copied.stderr).toContain(`bundle:${dir}: user "ghost" is not in the image's /etc/passwd`);
    expect(await fs.readFile(path.join(dir, "config.json"))).toEqual(before);
    expect(await fs.readFile(path.join(dir, "rootfs", "etc", "greeting"), "utf8")).toBe("Hello from lading!\n");
    expect((await fs.readdir(work)).filter((n) => n.includes(".tmp-") || n.includes(".old-"))).toEqual([]);
  });

  it("gives each file the mode and owner of its entry, whatever the umask and a setgid directory give new files", async () => {
    // A file takes its mode from open(2) when the umask leaves it whole, and skips a
    // chown that would change nothing: each is learnt from a file made there, not assumed.
    const layout = path.join(work, "modes-layout");
    const files = [
      { name: "g/a", mode: 0o644, uid: 0, gid: 0 },
      { name: "g/b", mode: 0o664, uid: 0, gid: 50 },
      { name: "g/c", mode: 0o4755, uid: 0, gid: 50 },
      { name: "g/d", mode: 0o644, uid: 1000, gid: 50 },
      { name: "p/a", mode: 0o666, uid: 0, gid: 0 },
      { name: "p/b", mode: 0o600, uid: 0, gid: 0 },
      { name: "p/c", mode: 0o666, uid: 0, gid: 0 },
      { name: "p/d", mode: 0o1640, uid: 0, gid: 0 },
    ];
    await craftOciLayout(layout, {
      layers: [{ tar: craftTar([{ name: "g/", type: "dir", mode: 0o2775, gid: 50 }, { name: "p/", type: "dir", mode: 0o755 }, ...files.map((f) => ({ ...f, type: "file" as const, content: f.name }))]) }],
      config: { Cmd: ["/bin/true"] },
    });
    const dir = path.join(work, "modes");
    const copied = await runLading(["copy", "--store", path.join(work, "store"), `oci:${layout}`, `bundle:${dir}`], { umask: "077" });
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    // Owners are set only by root; as anyone else every file is the user's.
    const asRoot = process.getuid?.() === 0;
    for (const f of files) {
      const st = await fs.lstat(path.join(dir, "rootfs", f.name));
      expect([f.name, (st.mode & 0o7777).toString(8)]).toEqual([f.name, f.mode.toString(8)]);
      if (asRoot) expect([f.name, st.uid, st.gid]).toEqual([f.name, f.uid, f.gid]);
    }
  });
  it("writes many small files on worker threads into the tree one thread writes, links, duplicates and whiteouts included", async () => {
    // 3,000 files in 30 directories is past the point where workers take over; the
    // entries that remove, replace or link in between make the main thread wait for them.
    const layer0: CraftEntry[] = [{ name: "keep/", type: "dir", mode: 0o755 }];
    for (let d = 0; d < 30; d++) {
      layer0.push({ name: `d${d}/`, type: "dir", mode: d % 3 === 0 ? 0o2775 : 0o755, gid: d % 3 === 0 ? 50 : 0, mtime: 7 });
      for (let f = 0; f < 100; f++) {
        const mode = [0o644, 0o600, 0o4755, 0o664][f % 4]!;
        layer0.push({ name: `d${d}/f${f}`, type: "file", content: `${d}/${f} `.repeat(f % 7), mode, uid: f % 5 === 0 ? 1000 : 0, gid: f % 2, mtime: 100 + f });
      }
      if (d === 10) layer0.push({ name: "d3/f1", type: "file", content: "again, later", mode: 0o640 });
      if (d === 12) layer0.push({ name: "hard", type: "hardlink", target: "d12/f99" });
      if (d === 14) layer0.push({ name: "d13", type: "symlink", target: "keep" }, { name: "d13/through", type: "file", content: "through a link" });
      if (d === 16) layer0.push({ name: "d15/", type: "dir", mode: 0o700 });
      if (d === 18) layer0.push({ name: "d17/f5/", type: "dir", mode: 0o755 });
      // A directory made on the way to an entry, then replaced by a file.
      if (d === 20) layer0.push({ name: "made/on/the/way", type: "file", content: "w" }, { name: "made/on", type: "file", content: "on" });
      // A directory's entry after some of its files, making it setgid: the files after it
      // take its group unless they ask for another.
      if (d === 22) {
        for (let f = 0; f < 3; f++) layer0.push({ name: `late/a${f}`, type: "file", content: "a", gid: 0 });
        layer0.push({ name: "late/", type: "dir", mode: 0o2775, gid: 50, mtime: 9 });
        for (let f = 0; f < 3; f++) layer0.push({ name: `late/b${f}`, type: "file", content: "b", gid: f === 0 ? 50 : 0 });
      }
    }
    const layer1: CraftEntry[] = [{ name: "d0/.wh.f1", type: "file" }, { name: "d1/.wh..wh..opq", type: "file" }, { name: "d1/new", type: "file", content: "new" }];
    for (let f = 0; f < 50; f++) layer1.push({ name: `fresh/sub/g${f}`, type: "file", content: `g${f}` }, { name: `d2/h${f}`, type: "file", content: `h${f}` });
    layer1.push({ name: ".wh.d4", type: "file" }, { name: "d5/f7", type: "symlink", target: "/d6/f7" });
    const layout = path.join(work, "workers-layout");
    await craftOciLayout(layout, { layers: [{ tar: craftTar(layer0), gzip: true }, { tar: craftTar(layer1) }], config: { Cmd: ["/bin/true"] } });
    const tree = async (threshold: string): Promise<ReadonlyArray<string>> => {
      const dir = path.join(work, `workers-${threshold}`);
      const copied = await runLading(["copy", "--store", path.join(work, "store"), `oci:${layout}`, `bundle:${dir}`], { env: { LADING_BUNDLE_WORKERS_AFTER: threshold } });
      expect(copied.stderr).toBe("");
      expect(copied.code).toBe(0);
      // Directories the upper layer changes without an entry of their own, and those made
      // on the way, get the time they were changed or made.
      return (await snapshotTree(path.join(dir, "rootfs"))).map((l) => (/^\.\/(d0|d1|d2|d5|made|fresh|fresh\/sub) d /.test(l) ? l.replace(/ \S+ (\d+)$/, " $1") : l));
    };
    const one = await tree("1000000");
    const workers = await tree("0");
    const usual = await tree("2000");
    expect(workers).toEqual(one);
    expect(usual).toEqual(one);
    const find = (p: string): string | undefined => one.find((l) => l.startsWith(`${p} `));
    expect(find("./d3/f1")).toMatch(/ f:[0-9a-f]+ 640 /);
    expect(find("./d0/f1")).toBeUndefined();
    expect(find("./d1/f0")).toBeUndefined();
    expect(find("./d4")).toBeUndefined();
    expect(find("./keep/through")).toContain(Buffer.from("through a link").toString("hex"));
    expect(find("./hard")).toMatch(/ 2$/);
    expect(find("./d17/f5")).toMatch(/^\.\/d17\/f5 d /);
    expect(find("./made/on")).toContain(Buffer.from("on").toString("hex"));
    if (process.getuid?.() === 0) expect(["a0", "b0", "b1"].map((f) => find(`./late/${f}`)?.split(" ")[3])).toEqual(["0:0", "0:50", "0:0"]);
    // 3,000 files, less d1's (opaque), d4's (whiteout) and d13's (replaced by a link), less
    // d0/f1, d17/f5 and d5/f7; plus d1/new, keep/through, hard, made/on, late's six and the upper layer's 100.
    expect(one.filter((l) => / f:/.test(l)).length).toBe(3000 - 300 - 3 + 4 + 6 + 100);
  });

  it("names the file a worker thread could not write, and leaves nothing beside the bundle", async () => {
    const entries: CraftEntry[] = [{ name: "d/", type: "dir" }];
    for (let f = 0; f < 50; f++) entries.push({ name: `d/f${f}`, type: "file", content: "x" });
    // Made by the worker as a file, then needed as a directory by the next entry.
    entries.push({ name: "d/f3/inside", type: "file", content: "y" });
    const layout = path.join(work, "worker-failure-layout");
    await craftOciLayout(layout, { layers: [{ tar: craftTar(entries) }], config: { Cmd: ["/bin/true"] } });
    const parent = path.join(work, "worker-failure");
    await fs.mkdir(parent);
    const copied = await runLading(["copy", "--store", path.join(work, "store"), `oci:${layout}`, `bundle:${path.join(parent, "b")}`], { env: { LADING_BUNDLE_WORKERS_AFTER: "0" } });
    expect(copied.code).toBe(1);
    expect(copied.stderr).toContain("d/f3");
    expect(copied.stderr).not.toContain("internal error");
    expect(await fs.readdir(parent)).toEqual([]);
  });
});
