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
});
