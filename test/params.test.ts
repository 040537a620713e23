/**
 * Parameterized exports: `--arg NAME=VALUE` decoded against the parameters the spec
 * declares, errors that name the argument, and the arguments recorded in the plan.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";

const SPEC = "test/fixtures/params/lading.ts";
let store: string;
beforeAll(async () => {
  store = await fs.mkdtemp(path.join(os.tmpdir(), "lading-params-"));
});
afterAll(async () => {
  await fs.rm(store, { recursive: true, force: true });
});

describe("a parameterized export", () => {
  it("is planned from its decoded arguments, which the plan records", async () => {
    const r = await runLading(["plan", `${SPEC}#app`, "--arg", "version=1.2.3", "--arg", "mode=prod", "--arg", "replicas=3", "--json", "--store", store]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const plan = decodedPlan(r.stdout);
    expect(plan.arguments).toEqual({ mode: "prod", replicas: "3", version: "1.2.3" });
    expect(plan.config.Env).toEqual(["APP_MODE=prod", "APP_VERSION=1.2.3"]);
    // "1.2.3 x3\n"
    expect([...plan.layers[0]!.entries].find((e) => e.path === "/etc/release")).toMatchObject({ type: "file", size: 9 });
  });

  it("refuses missing, malformed and unknown arguments, each named, and builds nothing", async () => {
    const out = path.join(store, "out");
    const r = await runLading(["build", SPEC, "--arg", "replicas=x", "--arg", "mode=test", "--arg", "colour=red", "--store", store, "--out", `oci:${out}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => !l.startsWith("  hint"))).toEqual([
      `${SPEC}: export "app": argument "colour": no such parameter (this image takes version, replicas, mode), got "red"`,
      `${SPEC}: export "app": argument "version" is missing`,
      `${SPEC}: export "app": argument "replicas": a number is expected, got "x"`,
      `${SPEC}: export "app": argument "mode": one of dev, prod is expected, got "test"`,
      "",
    ]);
    await expect(fs.stat(out)).rejects.toThrow(/ENOENT/);
  });

  it("refuses arguments for an export without parameters, and a malformed --arg", async () => {
    const r = await runLading(["plan", "examples/hello/lading.ts", "--arg", "version=1", "--store", store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('export "hello": takes no parameters, but --arg version was given');
    const bad = await runLading(["plan", SPEC, "--arg", "version", "--store", store]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--arg must be NAME=VALUE, not "version"');
  });
});
