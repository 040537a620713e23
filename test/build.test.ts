/**
 * Plan and build through the API on real temp directories: what a layer does with the
 * layers below it, hard links in any order, inputs that change under a build, names the
 * layer format reserves, and configs whose digest must not depend on how they were made.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { DiagnosticError, formatDiagnostic } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import type { BuildPlan, PlanInputs } from "../src/plan/index.ts";
import { buildImage, layerFormat } from "../src/build/index.ts";
import { openStore } from "../src/store/index.ts";
import { writeImage } from "../src/sink/index.ts";
import { mustRun } from "./support/cli.ts";
import { requireTool } from "./support/tools.ts";
import { validateImage } from "./support/validate.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-build-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const plan = async (image: Image.Image, specDir = work): Promise<E.Either<ReadonlyArray<string>, { plan: BuildPlan; inputs: PlanInputs }>> => {
  const ir = evaluate("spec.ts", "image", image);
  if (E.isLeft(ir)) return E.left(ir.left.map(formatDiagnostic));
  const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir, created: 0, format: layerFormat });
  return E.mapLeft((ds: ReadonlyArray<import("../src/core/index.ts").Diagnostic>) => ds.map(formatDiagnostic))(planned);
};

const planOrThrow = async (image: Image.Image, specDir = work): Promise<{ plan: BuildPlan; inputs: PlanInputs }> => {
  const r = await plan(image, specDir);
  if (E.isLeft(r)) throw new Error(r.left.join("\n"));
  return r.right;
};

describe("collisions a copy makes", () => {
  it("are told in the order the spec wrote them, whatever their paths", async () => {
    const dir = path.join(work, "collide");
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "a"), "a");
    await fs.writeFile(path.join(dir, "b"), "b");
    // The copy gives /x/a and /x/b; the spec then writes /x/b first, /x/a second.
    const r = await plan(pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.copy("collide", "/x"), Entry.file("/x/b", "2"), Entry.file("/x/a", "1")]))));
    expect(E.isLeft(r) ? r.left : []).toEqual([
      'spec.ts: export "image", layer "l", path "/x/b": two entries at one path (file and file)',
      'spec.ts: export "image", layer "l", path "/x/a": two entries at one path (file and file)',
    ]);
  });
});

describe("layers over layers", () => {
  it("an implied parent above a run step is left to what the step made, not rebuilt from below it", async () => {
    const image = pipe(
      Image.scratch,
      Image.withLayer(Layer.make("a", [Entry.directory("/app", { mode: 0o700, uid: 1000, gid: 1000 })])),
      Image.runShell("chown 0:0 /app && chmod 755 /app", { name: "own" }),
      Image.withLayer(Layer.make("b", [Entry.file("/app/y", "y")])),
    );
    const ir = evaluate("spec.ts", "image", image);
    if (E.isLeft(ir)) throw new Error(ir.left.map(formatDiagnostic).join("\n"));
    const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat, sandbox: "test" });
    if (E.isLeft(planned)) throw new Error(planned.left.map(formatDiagnostic).join("\n"));
    const p = planned.right.plan;
    expect(p.layers.map((l) => l.name)).toEqual(["a", "own", "b"]);
    expect([...p.layers[2]!.entries].map((e) => [e.path, e.type])).toEqual([["/app/y", "file"]]);
  });

  it("an implied parent keeps the owner and mode a lower layer gave it", async () => {
    const image = pipe(
      Image.scratch,
      Image.withLayers(
        Layer.make("home", [Entry.directory("/home/www", { mode: 0o750, uid: 1000, gid: 1000 })]),
        Layer.make("profile", [Entry.file("/home/www/.profile", "export A=1\n")]),
      ),
    );
    const { plan: p } = await planOrThrow(image);
    expect([...(p.layers[1]?.entries ?? [])].find((e) => e.path === "/home/www")).toMatchObject({ type: "dir", mode: 0o750, uid: 1000, gid: 1000 });
  });

  it("refuses to write below what a lower layer made a symlink", async () => {
    const image = pipe(
      Image.scratch,
      Image.withLayers(Layer.make("links", [Entry.symlink("/lib", "usr/lib")]), Layer.make("libs", [Entry.file("/lib/libfoo.so", "x")])),
    );
    expect(await plan(image)).toEqual(
      E.left(['spec.ts: export "image", layer "libs", path "/lib/libfoo.so": parent /lib is a symlink in layer "links"\n  hint: write to the path it points to (usr/lib)']),
    );
  });
});

describe("hard links", () => {
  it("in any order, unpack to one file with several names", async () => {
    const image = pipe(
      Image.scratch,
      Image.withLayer(Layer.make("l", [Entry.file("/z/target", "data\n", { mode: 0o600 }), Entry.hardlink("/a/link", "/z/target"), Entry.hardlink("/m/link", "/z/target")])),
    );
    const { plan: p, inputs } = await planOrThrow(image);
    const store = await openStore(path.join(work, "hl-store"));
    const { image: built } = await buildImage(store, p, inputs);
    const out = path.join(work, "hl-oci");
    await writeImage(store, built, { _tag: "Oci", dir: out, tag: "x" }, { defaultName: "x" });
    await validateImage(`oci:${out}:x`);
    requireTool("umoci");
    const bundle = path.join(work, "hl-bundle");
    await mustRun("umoci", ["unpack", "--image", `${out}:x`, bundle]);
    const stats = await Promise.all(["/a/link", "/m/link", "/z/target"].map((f) => fs.stat(path.join(bundle, "rootfs", f))));
    expect(new Set(stats.map((s) => s.ino)).size).toBe(1);
    expect(stats.map((s) => s.mode & 0o777)).toEqual([0o600, 0o600, 0o600]);
    expect(await fs.readFile(path.join(bundle, "rootfs", "m", "link"), "utf8")).toBe("data\n");
  });
});

describe("the root and copied trees", () => {
  it("takes a hard link to a file a host copy brings, and refuses entries at /", async () => {
    await fs.mkdir(path.join(work, "tree"), { recursive: true });
    await fs.writeFile(path.join(work, "tree", "f"), "f\n");
    const linked = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.copy("tree", "/t"), Entry.hardlink("/u/f", "/t/f")])));
    const { plan: p } = await planOrThrow(linked);
    expect([...(p.layers[0]?.entries ?? [])].find((e) => e.path === "/u/f")).toMatchObject({ type: "hardlink", target: "/t/f" });
    const rooted = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.symlink("/", "elsewhere")])));
    expect(await plan(rooted)).toEqual(E.left(['spec.ts: export "image", layer "l", path "/": a symlink cannot be at /: the root of the image is always a directory']));
  });
});

describe("inputs that change under a build", () => {
  for (const size of [100, 3 << 20]) {
    it(`fail the build with a diagnostic and leave no temp file (${size} bytes)`, async () => {
      const dir = path.join(work, `changing-${size}`);
      await fs.mkdir(path.join(dir, "data"), { recursive: true });
      await fs.writeFile(path.join(dir, "data", "f"), Buffer.alloc(size, 1));
      const image = pipe(Image.scratch, Image.withLayer(Layer.make("data", [Entry.copy("data", "/data")])));
      const { plan: p, inputs } = await planOrThrow(image, dir);
      await fs.appendFile(path.join(dir, "data", "f"), "more");
      const store = await openStore(path.join(dir, "store"));
      const failure = await buildImage(store, p, inputs).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(DiagnosticError);
      expect((failure as DiagnosticError).diagnostics.map(formatDiagnostic)[0]).toMatch(
        /^export "image", layer "data", path "\/data\/f": host file data\/f (changed|grew) since it was planned/,
      );
      expect(await fs.readdir(path.join(dir, "store", "tmp"))).toEqual([]);
      expect(await fs.readdir(path.join(dir, "store", "blobs", "sha256"))).toEqual([]);
    });
  }
});

describe("what the layer format reserves", () => {
  it("refuses whiteout names, written or copied", async () => {
    await fs.mkdir(path.join(work, "wh"), { recursive: true });
    await fs.writeFile(path.join(work, "wh", ".wh.secret"), "x");
    const written = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.file("/etc/.wh.passwd", "")])));
    expect(await plan(written)).toEqual(E.left(['spec.ts: export "image", layer "l", path "/etc/.wh.passwd": path has the name .wh.passwd: names starting with .wh. are OCI whiteouts, which would delete files of lower layers']));
    const copied = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.copy("wh", "/etc")])));
    const r = await plan(copied);
    expect(E.isLeft(r) && r.left[0]).toContain('path "/etc/.wh.secret": host file .wh.secret has a name starting with .wh.');
  });
});

describe("configs", () => {
  it("do not depend on the order environment variables were merged in", async () => {
    const a = pipe(Image.scratch, Image.withEnv({ A: "1" }), Image.withEnv({ B: "2" }));
    const b = pipe(Image.scratch, Image.withEnv({ B: "2" }), Image.withEnv({ A: "1" }));
    const [pa, pb] = await Promise.all([planOrThrow(a), planOrThrow(b)]);
    expect(pa.plan.config.Env).toEqual(["A=1", "B=2"]);
    expect(pb.plan.config).toEqual(pa.plan.config);
  });
});

describe("one OCI layout, many writers", () => {
  it("keeps every tag when builds write into one layout at once", async () => {
    const image = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.file("/f", "f\n")])), Image.withCmd(["/f"]));
    const { plan: p, inputs } = await planOrThrow(image);
    const store = await openStore(path.join(work, "many-store"));
    const { image: built } = await buildImage(store, p, inputs);
    const out = path.join(work, "many-oci");
    const tags = Array.from({ length: 8 }, (_, i) => `t${i}`);
    // Some find no layout yet and race to create it; the others add to it.
    await Promise.all(tags.map((tag) => writeImage(store, built, { _tag: "Oci", dir: out, tag }, { defaultName: "x" })));
    const index = JSON.parse(await fs.readFile(path.join(out, "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"]).sort()).toEqual(tags);
    for (const tag of ["t0", "t7"]) await validateImage(`oci:${out}:${tag}`);
    expect((await fs.readdir(work)).filter((n) => n.startsWith("many-oci."))).toEqual([]);
    expect(await fs.readdir(out)).toEqual(["blobs", "index.json", "oci-layout"]);
  });
});
