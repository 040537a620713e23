/**
 * Hostile images and specs, one case a test, each made byte by byte (test/support/craft.ts):
 * a layer cannot write, delete, chmod or touch anything outside the bundle it is unpacked
 * into (a canary directory beside it is compared before and after, mtimes and modes
 * included), a bundle replaces only a bundle, the image's /etc/passwd is read inside the
 * image, whiteouts cannot name the root or hide in a directory name, ambiguous manifests,
 * configs that break the image spec and wrong diff_ids are refused by every reader and
 * every sink, a broken stream is a diagnostic and never a stack trace or a leftover temp
 * directory, and spec paths that no tar name can hold are spec errors.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { formatDiagnostic } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { layerFormat } from "../src/build/index.ts";
import { flattenLayers } from "../src/sink/index.ts";
import type { RunResult } from "./support/cli.ts";
import { runLading } from "./support/cli.ts";
import type { CraftImage } from "./support/craft.ts";
import { craftDockerArchive, craftOciLayout, craftTar, snapshotTree } from "./support/craft.ts";

let work: string;
let store: string;
let canary: string;
let before: ReadonlyArray<string>;
let n = 0;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-hostile-"));
  store = path.join(work, "store");
  canary = path.join(work, "canary");
  await fs.mkdir(path.join(canary, "sub"), { recursive: true });
  await fs.writeFile(path.join(canary, "passwd"), "evil:x:4242:4242::/:/bin/sh\n");
  await fs.writeFile(path.join(canary, "sub", "keep"), "keep");
  await fs.chmod(path.join(canary, "sub"), 0o700);
  await fs.chmod(canary, 0o700);
  for (const p of [path.join(canary, "passwd"), path.join(canary, "sub", "keep"), path.join(canary, "sub"), canary]) await fs.utimes(p, 1000, 1000);
  before = await snapshotTree(canary);
});

afterAll(async () => {
  if (work !== undefined) await fs.rm(work, { recursive: true, force: true });
});

/** A fresh OCI layout holding `image`; its location as `oci:DIR`. */
const layout = async (image: CraftImage): Promise<string> => {
  const dir = path.join(work, `image-${++n}`);
  await craftOciLayout(dir, image);
  return dir;
};

/** A fresh output path beside the canary. */
const out = (name: string): string => path.join(work, `${name}-${++n}`);

/** Runs lading with its temp files in a directory of their own, and returns what is left there. */
const lading = async (args: ReadonlyArray<string>): Promise<RunResult & { readonly leftovers: ReadonlyArray<string> }> => {
  const tmp = path.join(work, `tmp-${++n}`);
  await fs.mkdir(tmp);
  const r = await runLading(args, { env: { TMPDIR: tmp } });
  // Only lading's own: the TypeScript loader keeps its cache there too.
  return { ...r, leftovers: (await fs.readdir(tmp)).filter((f) => f.startsWith("lading")) };
};

/** A refusal: exit 1, lading's own diagnostic containing `text`, no stack trace, nothing left behind. */
const expectRefused = (r: RunResult & { readonly leftovers: ReadonlyArray<string> }, text: string): void => {
  expect(r.stderr).toContain(text);
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.code, r.stderr).toBe(1);
  expect(r.leftovers).toEqual([]);
};

const expectCanaryIntact = async (): Promise<void> => {
  expect(await snapshotTree(canary)).toEqual(before);
};

describe("1. a layer cannot write outside the bundle", () => {
  it("refuses a root entry that is a symlink to a host directory, in copy and in inspect", async () => {
    const evil = await layout({ layers: [{ tar: craftTar([{ name: "./", type: "symlink", target: canary }, { name: "./pwned", type: "file", content: "x" }]) }] });
    const bundle = out("bundle");
    expectRefused(await lading(["copy", "--store", store, `oci:${evil}`, `bundle:${bundle}`]), "the entry for the root is a symlink: the root of an image is always a directory");
    expectRefused(await lading(["inspect", `oci:${evil}`]), "the entry for the root is a symlink");
    await expect(fs.lstat(bundle)).rejects.toThrow();
    await expectCanaryIntact();
  });

  it("sets no mtime through a symlink that replaced a directory of the same layer", async () => {
    const evil = await layout({
      layers: [{ tar: craftTar([{ name: "a/", type: "dir", mtime: 5 }, { name: "a", type: "symlink", target: canary }, { name: "b/", type: "dir", mtime: 7 }, { name: "b", type: "symlink", target: path.join(canary, "sub") }]) }],
    });
    const bundle = out("bundle");
    const r = await lading(["copy", "--store", store, `oci:${evil}`, `bundle:${bundle}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await fs.readlink(path.join(bundle, "rootfs", "a"))).toBe(canary);
    await expectCanaryIntact();
  });

  it("writes entries below a link to a host directory inside the root", async () => {
    const evil = await layout({
      layers: [
        { tar: craftTar([{ name: "host", type: "symlink", target: canary }, { name: "up", type: "symlink", target: "../../../../../../.." }]) },
        {
          tar: craftTar([
            { name: "host/new", type: "file", content: "in" },
            { name: "up/tmp/escaped", type: "file", content: "in" },
            { name: "host/passwd", type: "file", content: "root:x:0:0::/:/bin/sh\n" },
            { name: "host/sub/keep", type: "hardlink", target: "up/host/passwd" },
          ]),
        },
      ],
    });
    const bundle = out("bundle");
    const r = await lading(["copy", "--store", store, `oci:${evil}`, `bundle:${bundle}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // `host` leads to the canary's path inside the root; `up` climbs no higher than the root.
    const inside = path.join(bundle, "rootfs", canary.slice(1));
    expect(await fs.readFile(path.join(inside, "new"), "utf8")).toBe("in");
    expect(await fs.readFile(path.join(bundle, "rootfs", "tmp", "escaped"), "utf8")).toBe("in");
    expect((await fs.stat(path.join(inside, "sub", "keep"))).ino).toBe((await fs.stat(path.join(inside, "passwd"))).ino);
    await expectCanaryIntact();
  });
});

describe("2. bundle:DIR replaces only a bundle", () => {
  it("refuses a directory of the user's files, and the current directory", async () => {
    const image = await layout({ layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }]) }] });
    const mine = out("important");
    await fs.mkdir(mine);
    await fs.writeFile(path.join(mine, "thesis.txt"), "years of work");
    expectRefused(await lading(["copy", "--store", store, `oci:${image}`, `bundle:${mine}`]), "exists and is not a runtime bundle (it holds thesis.txt)");
    expect(await fs.readFile(path.join(mine, "thesis.txt"), "utf8")).toBe("years of work");
    const r = await runLading(["copy", "--store", store, `oci:${image}`, "bundle:."], { cwd: mine });
    expect(r.stderr).toContain("bundle:.: exists and is not a runtime bundle");
    expect(r.code).toBe(1);
    expect(await fs.readdir(mine)).toEqual(["thesis.txt"]);
    const file = out("file");
    await fs.writeFile(file, "mine");
    expectRefused(await lading(["copy", "--store", store, `oci:${image}`, `bundle:${file}`]), "exists and is not a directory");
    expect(await fs.readFile(file, "utf8")).toBe("mine");
  });

  it("replaces an empty directory and a bundle it wrote", async () => {
    const image = await layout({ layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }, { name: "etc/v", type: "file", content: "1" }]) }] });
    const dir = out("bundle");
    await fs.mkdir(dir);
    for (let i = 0; i < 2; i++) {
      const r = await lading(["copy", "--store", store, `oci:${image}`, `bundle:${dir}`]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    expect((await fs.readdir(dir)).sort()).toEqual(["config.json", "rootfs"]);
    expect(await fs.readFile(path.join(dir, "rootfs", "etc", "v"), "utf8")).toBe("1");
  });
});

describe("3. the image's users are read inside the image", () => {
  it("does not read the host's file through an /etc/passwd symlink", async () => {
    const image = await layout({
      config: { User: "evil" },
      layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }, { name: "etc/passwd", type: "symlink", target: path.join(canary, "passwd") }]) }],
    });
    expectRefused(await lading(["copy", "--store", store, `oci:${image}`, `bundle:${out("bundle")}`]), `user "evil" is not in the image's /etc/passwd`);
  });

  it("does not read /dev/zero, nor a passwd larger than any real one", async () => {
    const zero = await layout({ config: { User: "evil" }, layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }, { name: "etc/passwd", type: "symlink", target: "/dev/zero" }]) }] });
    expectRefused(await lading(["copy", "--store", store, `oci:${zero}`, `bundle:${out("bundle")}`]), `user "evil" is not in the image's /etc/passwd`);
    const huge = await layout({ config: { User: "evil" }, layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }, { name: "etc/passwd", type: "file", content: Buffer.alloc(5 << 20, 0x61) }]) }] });
    expectRefused(await lading(["copy", "--store", store, `oci:${huge}`, `bundle:${out("bundle")}`]), "is larger than 4194304 bytes");
  });
});

describe("4. whiteouts", () => {
  it("take away only what lower layers hold, whatever the order of the layer's own entries", async () => {
    // `.bashrc` sorts before `.wh..wh..opq`: the opaque marker must not delete it.
    const image = await layout({
      layers: [
        { tar: craftTar([{ name: "home/", type: "dir" }, { name: "home/old", type: "file", content: "lower" }, { name: "etc/", type: "dir" }, { name: "etc/gone", type: "file", content: "x" }]) },
        {
          tar: craftTar([
            { name: "etc/", type: "dir" },
            { name: "etc/gone", type: "file", content: "mine" },
            { name: "etc/.wh.gone", type: "file" },
            { name: "home/", type: "dir" },
            { name: "home/.bashrc", type: "file", content: "mine" },
            { name: "home/.wh..wh..opq", type: "file" },
          ]),
        },
      ],
    });
    const bundle = out("opaque-bundle");
    const r = await lading(["copy", "--store", store, `oci:${image}`, `bundle:${bundle}`]);
    expect(r.stderr).toBe("");
    expect((await fs.readdir(path.join(bundle, "rootfs", "home"))).sort()).toEqual([".bashrc"]);
    expect(await fs.readFile(path.join(bundle, "rootfs", "etc", "gone"), "utf8")).toBe("mine");
    // The tree diff compares: the same rule.
    const file = (p: string, type = "file") => ({ path: p, type });
    const tree = flattenLayers([
      { files: [file("/home", "dir"), file("/home/old"), file("/etc", "dir"), file("/etc/gone")] },
      { files: [file("/etc", "dir"), file("/etc/gone"), file("/etc/.wh.gone"), file("/home", "dir"), file("/home/.bashrc"), file("/home/.wh..wh..opq")] },
    ]);
    expect([...tree.keys()].sort()).toEqual(["/etc", "/etc/gone", "/home", "/home/.bashrc"]);
  });

  it("refuses whiteouts that name the directory itself or its parent, and whiteout names as directories", async () => {
    for (const name of ["etc/.wh.", "etc/.wh..", "etc/.wh...", "etc/.wh.x/y"]) {
      const image = await layout({ layers: [{ tar: craftTar([{ name: "etc/", type: "dir" }, { name: "etc/keep", type: "file", content: "k" }]) }, { tar: craftTar([{ name, type: "file" }]) }] });
      expectRefused(await lading(["copy", "--store", store, `oci:${image}`, `bundle:${out("bundle")}`]), JSON.stringify(name));
      if (name === "etc/.wh.") expectRefused(await lading(["inspect", `oci:${image}`]), `path "etc/.wh.": layer entry is a whiteout of ""`);
    }
  });

  it("refuses whiteout names in any component of a spec path", () => {
    for (const p of ["/usr/.wh..wh..opq/x", "/etc/.wh.passwd/y", "/etc/.wh.passwd"] as const) {
      const r = evaluate("spec.ts", "image", pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.file(p, "x")]))));
      expect(E.isLeft(r) ? r.left.map(formatDiagnostic) : []).toEqual([expect.stringContaining("names starting with .wh. are OCI whiteouts")]);
    }
  });
});

describe("6. ambiguous manifests, configs against the spec, wrong diff_ids", () => {
  const sinks = (name: string): ReadonlyArray<string> => [`bundle:${out(name)}`, `oci:${out(name)}`, `oci-archive:${out(name)}.tar`, `docker-archive:${out(name)}.tar`];

  it("refuses a manifest that is also an index, in every reader", async () => {
    const image = await layout({ layers: [{ tar: craftTar([{ name: "a", type: "file" }]) }], manifestFields: { manifests: [] } });
    expectRefused(await lading(["inspect", `oci:${image}`]), "no manifests field: a manifest that is also an index is ambiguous");
    for (const to of sinks("amb")) expectRefused(await lading(["copy", "--store", store, `oci:${image}`, to]), "a manifest that is also an index is ambiguous");
  });

  it("refuses an Env entry without = and an invalid port, in every reader", async () => {
    const env = await layout({ layers: [{ tar: craftTar([{ name: "a", type: "file" }]) }], config: { Env: ["PATH"] } });
    expectRefused(await lading(["inspect", `oci:${env}`]), "expected an Env entry VARIABLE=VALUE");
    for (const to of sinks("env")) expectRefused(await lading(["copy", "--store", store, `oci:${env}`, to]), "expected an Env entry VARIABLE=VALUE");
    const archive = `${out("env")}.tar`;
    await craftDockerArchive(archive, { layers: [{ tar: craftTar([{ name: "a", type: "file" }]) }], config: { ExposedPorts: { "99999/tcp": {} } } });
    expectRefused(await lading(["inspect", `docker-archive:${archive}`]), "expected a port as PORT/tcp");
  });

  it("refuses diff_ids that do not match the layers, in every sink", async () => {
    const wrong = `sha256:${"ab".repeat(32)}`;
    const image = await layout({ layers: [{ tar: craftTar([{ name: "a", type: "file" }]), diffId: wrong }] });
    expectRefused(await lading(["inspect", `oci:${image}`]), `does not match diff_id ${wrong}`);
    for (const to of sinks("diffid")) {
      expectRefused(await lading(["copy", "--store", store, `oci:${image}`, to]), `does not unpack to its diff_id ${wrong}`);
      await expect(fs.lstat(to.slice(to.indexOf(":") + 1))).rejects.toThrow();
    }
  });
});

describe("7. broken streams", () => {
  it("a gzip layer corrupted in its middle, digest correct: a diagnostic from every reader and sink", async () => {
    const content = Buffer.from(Buffer.alloc(300_000).map((_, i) => (i * 7919) % 251));
    const image = await layout({
      layers: [{ tar: craftTar([{ name: "f", type: "file", content }]), spoil: (b) => Buffer.from(b).fill(0x55, b.length >> 1, (b.length >> 1) + 16) }],
    });
    expectRefused(await lading(["inspect", `oci:${image}`]), "cannot read the layer");
    for (const to of [`bundle:${out("gz")}`, `oci:${out("gz")}`, `docker-archive:${out("gz")}.tar`]) expectRefused(await lading(["copy", "--store", store, `oci:${image}`, to]), "cannot be unpacked");
    const other = await layout({ layers: [{ tar: craftTar([{ name: "g", type: "file", content: "g" }]) }] });
    const diffed = await lading(["diff", `oci:${other}`, `oci:${image}`]);
    expect(diffed.stderr).toContain("cannot read the layer");
    expect(diffed.stderr).not.toMatch(/\n\s+at /);
    expect(diffed.code).toBe(2);
    expect(diffed.leftovers).toEqual([]);
  });

  it("a docker archive member named ../../x: refused, nothing written, no temp directory left", async () => {
    const archive = `${out("dotdot")}.tar`;
    await craftDockerArchive(archive, { layers: [{ tar: craftTar([{ name: "f", type: "file" }]) }] }, [{ name: "../../x", type: "file", content: "evil" }]);
    expectRefused(await lading(["inspect", `docker-archive:${archive}`]), `archive member "../../x" climbs out of the root with ..: refused`);
    expectRefused(await lading(["copy", "--store", store, `docker-archive:${archive}`, `oci:${out("dotdot")}`]), "climbs out of the root");
    await expect(fs.lstat(path.join(work, "x"))).rejects.toThrow();
    await expect(fs.lstat(path.join(path.dirname(work), "x"))).rejects.toThrow();
  });
});

describe("8 and 9. spec paths no tar name can hold", () => {
  const planned = async (image: Image.Image, specDir: string): Promise<ReadonlyArray<string>> => {
    const ir = evaluate("spec.ts", "image", image);
    if (E.isLeft(ir)) return ir.left.map(formatDiagnostic);
    const r = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir, created: 0, format: layerFormat });
    return E.isLeft(r) ? r.left.map(formatDiagnostic) : [];
  };

  it("refuses a host file whose name is not UTF-8, naming it, instead of dropping it", async () => {
    const dir = out("host");
    await fs.mkdir(path.join(dir, "tree"), { recursive: true });
    await fs.writeFile(Buffer.from(`${dir}/tree/caf\xe9.txt`, "latin1"), "x");
    await fs.writeFile(path.join(dir, "tree", "ok.txt"), "y");
    const image = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.copy("tree", "/app")])));
    expect(await planned(image, dir)).toEqual([
      'spec.ts: export "image", layer "l", path "/app": host file caf\\xe9.txt has a name that is not valid UTF-8, which an image path cannot hold\n  hint: rename it, or exclude its directory',
    ]);
  });

  it("refuses spec paths with unpaired surrogates, which would collapse into one tar name", async () => {
    const image = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.file("/a\uD800", "1"), Entry.file("/a\uDBFF", "2")])));
    expect(await planned(image, work)).toEqual([
      'spec.ts: export "image", layer "l", path "/a\\uD800": path has an unpaired UTF-16 surrogate, which UTF-8 cannot encode',
      'spec.ts: export "image", layer "l", path "/a\\uDBFF": path has an unpaired UTF-16 surrogate, which UTF-8 cannot encode',
    ]);
  });

  it("a NUL byte in a host path is a spec error; a host symlink is copied as the link", async () => {
    const image = pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.copy("tree\0/etc", "/app")])));
    expect(await planned(image, work)).toEqual(['spec.ts: export "image", layer "l", path "/app": host path "tree\\0/etc" holds a NUL byte or an unpaired surrogate, which no file name can']);
    const dir = out("links");
    await fs.mkdir(dir);
    await fs.symlink(canary, path.join(dir, "link"));
    const ir = evaluate("spec.ts", "image", pipe(Image.scratch, Image.withLayer(Layer.make("l", [Entry.copy("link", "/app")]))));
    if (E.isLeft(ir)) throw new Error(ir.left.map(formatDiagnostic).join("\n"));
    const r = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: dir, created: 0, format: layerFormat });
    if (E.isLeft(r)) throw new Error(r.left.map(formatDiagnostic).join("\n"));
    expect([...(r.right.plan.layers[0]?.entries ?? [])]).toEqual([{ path: "/app", type: "symlink", mode: 0o777, uid: 0, gid: 0, target: canary }]);
  });
});
