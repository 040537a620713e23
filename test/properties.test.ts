/**
 * The six words of lading, each shown by a test that could fail: stateless (see also
 * reproducibility.test.ts), pure, lazy, declarative, functional, strict.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { evaluate } from "../src/eval/index.ts";
import type { HashCache } from "../src/plan/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { buildImage, layerFormat } from "../src/build/index.ts";
import { openStore } from "../src/store/index.ts";
import { formatDiagnostic } from "../src/core/index.ts";
import { REPO, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import { validateImage } from "./support/validate.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-props-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const LAZY = "test/fixtures/lazy/lading.ts";

describe("pure", () => {
  it("constructing a spec whose host paths don't exist does not fail until it is planned", async () => {
    const image = pipe(Image.scratch, Image.withLayer(Layer.make("data", [Entry.copy("no/such/dir", "/data")])));
    const ir = evaluate("spec.ts", "image", image);
    expect(E.isRight(ir)).toBe(true);
    if (E.isLeft(ir)) return;
    const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat });
    expect(E.isLeft(planned) ? planned.left.map(formatDiagnostic) : []).toEqual([
      'spec.ts: export "image", layer "data", path "/data": host path not found: no/such/dir\n  hint: host paths are relative to the spec file\'s directory',
    ]);
  });

  it("the same value evaluates to the same IR every time", () => {
    const image = pipe(Image.scratch, Image.withLayer(Layer.generated("gen", () => [Entry.file("/a", "a")])));
    const expected = E.right({
      exportName: "e",
      layers: [{ _tag: "Layer", name: "gen", comment: undefined, entries: [{ _tag: "File", path: "/a", content: new TextEncoder().encode("a"), mode: 0o644, uid: 0, gid: 0 }] }],
      config: {},
      platform: { os: "linux", architecture: "amd64" },
      annotations: {},
    });
    expect(evaluate("f", "e", image)).toEqual(expected);
    expect(evaluate("f", "e", image)).toEqual(expected);
  });
});

describe("lazy", () => {
  it("building one target never touches another's inputs", async () => {
    const out = path.join(work, "lazy-out");
    const ok = await runLading(["build", `${LAZY}#ready`, "--store", path.join(work, "lazy-store"), "--out", `oci:${out}:ready`]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    await validateImage(`oci:${out}:ready`);
    // The other target really is broken: lazy, not lenient.
    const bad = await runLading(["build", `${LAZY}#broken`, "--no-check", "--store", path.join(work, "lazy-store"), "--out", `oci:${out}:broken`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('export "broken", layer "exploding": generating entries failed: this generator must not run');
  });

  it("a cache hit reads no content: no file is hashed and no layer rebuilt", async () => {
    const specDir = path.join(work, "cache-spec");
    await fs.mkdir(path.join(specDir, "tree", "sub"), { recursive: true });
    for (let i = 0; i < 50; i++) await fs.writeFile(path.join(specDir, "tree", i % 2 ? "sub" : "", `f${i}`), `content ${i}\n`);
    // Let the files age past the racy window, as a checkout's files have.
    const old = new Date(Date.now() - 60_000);
    for (let i = 0; i < 50; i++) await fs.utimes(path.join(specDir, "tree", i % 2 ? "sub" : "", `f${i}`), old, old);
    const image = pipe(Image.scratch, Image.withLayer(Layer.make("tree", [Entry.copy("tree", "/tree")])));
    const ir = evaluate("spec.ts", "image", image);
    if (E.isLeft(ir)) throw new Error("eval failed");
    const store = await openStore(path.join(work, "cache-store"));
    const counts = { hits: 0, misses: 0 };
    const once = async () => {
      const cache = await store.openHashCache();
      const counting: HashCache = {
        get: (p, f) => {
          const d = cache.get(p, f);
          if (d === undefined) counts.misses++;
          else counts.hits++;
          return d;
        },
        set: (p, f, d) => cache.set(p, f, d),
      };
      const planned = await planImage(nodeHost(counting), ir.right, { file: "spec.ts", specDir, created: 0, format: layerFormat });
      await cache.save();
      if (E.isLeft(planned)) throw new Error("plan failed");
      return buildImage(store, planned.right.plan, planned.right.inputs);
    };
    const cold = await once();
    expect(counts).toEqual({ hits: 0, misses: 50 });
    expect(cold.cached).toEqual([]);
    const warm = await once();
    expect(counts).toEqual({ hits: 50, misses: 50 });
    expect(warm.cached).toEqual(["tree"]);
    expect(warm.image.manifest?.digest).toBe(cold.image.manifest?.digest);
    // An edit is seen: a changed file is re-hashed and its layer rebuilt.
    await fs.writeFile(path.join(specDir, "tree", "f0"), "changed\n");
    const edited = await once();
    expect(counts.misses).toBe(51);
    expect(edited.cached).toEqual([]);
    expect(edited.image.manifest?.digest).not.toBe(cold.image.manifest?.digest);
  });
});

describe("declarative", () => {
  it("lading plan prints the whole image as data and builds nothing", async () => {
    const store = path.join(work, "plan-store");
    const r = await runLading(["plan", "examples/site/lading.ts", "--json", "--store", store]);
    expect(r.code).toBe(0);
    const plan = decodedPlan(r.stdout);
    expect(plan.layers.map((l) => l.name)).toEqual(["busybox", "users", "site"]);
    expect(plan.config.User).toBe("www");
    expect([...(plan.layers[2]?.entries ?? [])].map((e) => e.path)).toContain("/srv/www/index.html");
    // Nothing built: no layer, and no blob but the verified .deb that busybox's file
    // comes from, the one examples/site/lading.lock pins.
    expect(await fs.readdir(path.join(store, "layers"))).toEqual([]);
    const lock = await fs.readFile("examples/site/lading.lock", "utf8");
    expect(await fs.readdir(path.join(store, "blobs", "sha256"))).toEqual([/"sha256":"sha256:([0-9a-f]{64})"/.exec(lock)![1]]);
  });
});

describe("functional", () => {
  it("combinators are curried, data-last, and never mutate", () => {
    const layer = Layer.make("l", [Entry.file("/a", "a")]);
    const before = JSON.stringify(Image.scratch);
    const image = pipe(Image.scratch, Image.withEnv({ A: "1" }), Image.withLayer(layer), Image.withEnv({ A: "2", B: "3" }));
    expect(JSON.stringify(Image.scratch)).toBe(before);
    expect(image.config.env).toEqual({ A: "2", B: "3" });
    expect(Object.isFrozen(image)).toBe(true);
    expect(Object.isFrozen(image.layers)).toBe(true);
    expect(Object.isFrozen(image.config.env)).toBe(true);
    expect(() => (image.layers as Layer.Layer[]).push(layer)).toThrow();
    const extended = pipe(image, Image.withCmd(["x"]));
    expect(extended.layers).toBe(image.layers);
    expect(image.config.cmd).toBeUndefined();
  });

  it("an image built on another inherits its layers and config", () => {
    const base = pipe(Image.scratch, Image.withLayer(Layer.make("base", [])), Image.withUser("app"), Image.withEnv({ A: "1" }));
    const app = pipe(base, Image.withLayer(Layer.make("app", [])), Image.withEnv({ B: "2" }));
    expect(app.layers.map((l) => (l._tag === "Layer" ? l.name : l._tag))).toEqual(["base", "app"]);
    expect(app.config.user).toBe("app");
    expect(app.config.env).toEqual({ A: "1", B: "2" });
  });
});

describe("strict", () => {
  it("a wrong spec fails lading check with file:line:col", async () => {
    const spec = path.join(work, "strict", "lading.ts");
    await fs.mkdir(path.join(work, "strict", "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(work, "strict", "node_modules", "lading"));
    await fs.writeFile(
      spec,
      'import { Entry, Image, Layer, pipe } from "lading";\nexport const x = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.file("etc/motd", "hi")])));\n',
    );
    const r = await runLading(["check", spec]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/lading\.ts:2:\d+: Argument of type '"etc\/motd"' is not assignable to parameter of type '`\/\$\{string\}`'/);
  });
});
