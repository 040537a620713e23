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
import { craftOciLayout, craftTar } from "./support/craft.ts";
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
});
