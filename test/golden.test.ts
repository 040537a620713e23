/**
 * Golden files for `lading plan` (text and JSON) and `lading inspect` of a spec that
 * touches every entry kind and config field. Regenerate with:
 *
 *   UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts
 *
 * and review the diff like code.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLading } from "./support/cli.ts";
import { expectGolden } from "./support/golden.ts";

const SPEC = "test/fixtures/golden/lading.ts";

let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-golden-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const golden = (name: string, actual: string): Promise<void> => expectGolden("plan", name, actual);

describe("golden", () => {
  it("plan text", async () => {
    const r = await runLading(["plan", SPEC, "--files", "--store", path.join(work, "store")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await golden("plan.txt", r.stdout);
  });

  it("plan summary", async () => {
    const r = await runLading(["plan", SPEC, "--no-check", "--store", path.join(work, "store")]);
    expect(r.code).toBe(0);
    await golden("plan-summary.txt", r.stdout);
  });

  it("plan json", async () => {
    const r = await runLading(["plan", SPEC, "--json", "--no-check", "--store", path.join(work, "store")]);
    expect(r.code).toBe(0);
    await golden("plan.json", r.stdout);
  });

  it("inspect of the built image", async () => {
    const out = path.join(work, "oci");
    const b = await runLading(["build", SPEC, "--no-check", "--store", path.join(work, "store"), "--out", `oci:${out}:golden`]);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    const r = await runLading(["inspect", `oci:${out}:golden`, "--files"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await golden("inspect.txt", r.stdout.replaceAll(out, "OUT"));
  });
});
