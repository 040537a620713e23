/**
 * The check cache: keyed by every local source a spec reaches, so an edit anywhere in
 * that graph is checked again, and an unchanged spec is checked once.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectLocalSources } from "../src/check/index.ts";
import { REPO, runLading } from "./support/cli.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-check-"));
  await fs.mkdir(path.join(work, "node_modules"));
  await fs.symlink(REPO, path.join(work, "node_modules", "lading"));
  await fs.mkdir(path.join(work, "lib"));
  await fs.writeFile(
    path.join(work, "lading.ts"),
    'import { Image, pipe } from "lading";\nimport { motd } from "./lib/motd.ts";\nexport const app = pipe(Image.scratch, Image.withLayer(motd));\n',
  );
  await fs.writeFile(path.join(work, "lib", "motd.ts"), 'import { Entry, Layer } from "lading";\nexport * from "./text.js";\nexport const motd = Layer.make("motd", [Entry.file("/etc/motd", "hi\\n")]);\n');
  await fs.writeFile(path.join(work, "lib", "text.ts"), 'export const text = "hi";\n');
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("check", () => {
  it("finds every local source a spec reaches, and nothing from packages", async () => {
    const files = (await collectLocalSources(path.join(work, "lading.ts"))).map((s) => path.relative(work, s.file));
    expect(files).toEqual(["lading.ts", path.join("lib", "motd.ts"), path.join("lib", "text.ts")]);
  });

  it("checks again after an edit to an imported file, and reports it with its position", async () => {
    const store = path.join(work, "store");
    const first = await runLading(["plan", path.join(work, "lading.ts"), "--store", store], { cwd: work });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect((await fs.readdir(path.join(store, "checks"))).length).toBe(1);
    await fs.writeFile(path.join(work, "lib", "text.ts"), 'export const text: number = "hi";\n');
    const second = await runLading(["plan", path.join(work, "lading.ts"), "--store", store], { cwd: work });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("lib/text.ts:1:14: Type 'string' is not assignable to type 'number'.");
    // A failed check is not remembered.
    expect((await fs.readdir(path.join(store, "checks"))).length).toBe(1);
  });

  it("flags impure calls with a hint to pass a parameter", async () => {
    const spec = path.join(work, "impure.ts");
    await fs.writeFile(spec, 'import { Entry, Image, Layer, pipe } from "lading";\nconst now = Date.now();\nexport const app = pipe(Image.scratch, Image.withLayer(Layer.make("t", [Entry.file("/t", String(now))])));\n');
    const r = await runLading(["check", spec], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("impure.ts:2:13: impure: Date.now reads the clock\n  hint: pass the value to the spec as an explicit parameter");
  });
});
