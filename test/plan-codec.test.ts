/**
 * The plan's codec: what `lading plan --json` prints decodes back to the same plan, and
 * a plan that breaks the entry union (a file without its digest, a link without its
 * target, a relative path) is refused with the field named.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePlan } from "../src/plan/index.ts";
import { runLading } from "./support/cli.ts";

let text: string;
let work: string;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "lading-plan-codec-"));
  const r = await runLading(["plan", "examples/site/lading.ts", "--json", "--no-check", "--store", path.join(work, "store")]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  text = r.stdout;
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The printed plan with one change made to its parsed form. */
const changed = (f: (plan: { layers: Array<{ entries: Array<Record<string, unknown>> }> }) => void): string => {
  const plan = JSON.parse(text) as { layers: Array<{ entries: Array<Record<string, unknown>> }> };
  f(plan);
  return JSON.stringify(plan);
};

const entryOfType = (plan: { layers: Array<{ entries: Array<Record<string, unknown>> }> }, type: string): Record<string, unknown> => {
  const found = plan.layers.flatMap((l) => l.entries).find((e) => e["type"] === type);
  if (found === undefined) throw new Error(`the example's plan has no ${type}`);
  return found;
};

describe("the plan's codec", () => {
  it("decodes what lading plan --json prints, and gives the same JSON back", () => {
    const plan = decodePlan(text, "plan");
    if (E.isLeft(plan)) throw new Error(plan.left.message);
    expect(plan.right.layers.map((l) => l.name)).toEqual(["busybox", "users", "site"]);
    expect(`${JSON.stringify(plan.right, null, 2)}\n`).toBe(text.endsWith("\n") ? text : `${text}\n`);
  });

  it.each([
    ["a file without its digest", (p: Parameters<Parameters<typeof changed>[0]>[0]) => delete entryOfType(p, "file")["digest"], "digest"],
    ["a symlink without its target", (p: Parameters<Parameters<typeof changed>[0]>[0]) => delete entryOfType(p, "symlink")["target"], "target"],
    ["a relative path", (p: Parameters<Parameters<typeof changed>[0]>[0]) => (entryOfType(p, "dir")["path"] = "etc"), "path"],
    ["an unknown entry type", (p: Parameters<Parameters<typeof changed>[0]>[0]) => (entryOfType(p, "dir")["type"] = "fifo"), "type"],
  ])("refuses %s, naming the field", (_what, change, field) => {
    const r = decodePlan(changed(change), "plan.json");
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) {
      expect(r.left.file).toBe("plan.json");
      expect(r.left.message).toContain(field);
    }
  });
});
