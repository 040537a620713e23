/**
 * The layer format, end to end, on a spec that uses every entry kind: long paths (PAX),
 * mode 0, owners, symlinks, hard links, excludes. The external tools must read it all
 * back as the plan declares. Plus the small pure pieces the format rests on.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, compareBytewise, normalizeImagePath, sortBytewise } from "../src/core/index.ts";
import { formatTransport, parseTransport } from "../src/sink/index.ts";
import { mustRun, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import { expectedTree, walkRootfs } from "./support/rootfs.ts";
import { requireTool } from "./support/tools.ts";
import { validateOciLayout } from "./support/validate.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-format-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("layer format", () => {
  it("round-trips every entry kind through oci-image-tool, skopeo and umoci", async () => {
    const spec = "test/fixtures/golden/lading.ts";
    const store = path.join(work, "store");
    const planned = await runLading(["plan", spec, "--json", "--store", store]);
    expect(planned.code).toBe(0);
    const plan = decodedPlan(planned.stdout);
    const out = path.join(work, "oci");
    const built = await runLading(["build", spec, "--no-check", "--store", store, "--out", `oci:${out}:golden`]);
    expect(built.code).toBe(0);
    const { inspection, skopeo } = await validateOciLayout(out, "golden");
    expect(skopeo["Architecture"]).toBe("arm64");
    // A path longer than 100 bytes needs a PAX header; the reader must see it whole.
    const long = [...(plan.layers[2]?.entries ?? [])].find((e) => e.path.length > 150);
    expect(long).toBeDefined();
    expect(inspection.layers[2]?.files.map((f) => f.path)).toContain(long?.path);
    requireTool("umoci");
    const bundle = path.join(work, "bundle");
    await mustRun("umoci", ["unpack", "--image", `${out}:golden`, bundle]);
    const actual = await walkRootfs(path.join(bundle, "rootfs"));
    expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expectedTree(plan)));
    expect(actual.get("/etc/secret")?.mode).toBe(0);
    expect(actual.has("/srv/files/sub/scratch.tmp")).toBe(false);
    const [a, b] = await Promise.all(["/usr/bin/app", "/usr/bin/app-copy"].map((p) => fs.stat(path.join(bundle, "rootfs", p))));
    expect(b?.ino).toBe(a?.ino);
  });
});

describe("core", () => {
  it("canonical JSON sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: "x" } })).toBe('{"a":{"c":"x","d":[3,{"z":1}]},"b":1}');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow();
  });

  it("normalizes in-image paths and refuses to leave the root", () => {
    expect(normalizeImagePath("//a/./b//c/../d/")).toEqual(E.right("/a/b/d"));
    expect(normalizeImagePath("/a/../..")).toEqual(E.left("path escapes the image root"));
    expect(normalizeImagePath("a/b")).toEqual(E.left("path must be absolute (start with /)"));
  });

  it("orders paths bytewise, parents before children", () => {
    const paths = ["/a/b", "/a-b", "/a", "/B", "/é", "/a/b/c"];
    expect([...paths].sort(compareBytewise)).toEqual(["/B", "/a", "/a-b", "/a/b", "/a/b/c", "/é"]);
    expect(sortBytewise(paths, (p) => p)).toEqual([...paths].sort(compareBytewise));
    // Past the surrogates, UTF-16 order is not UTF-8 order: U+FF01 sorts before U+1F600 in
    // UTF-16 and after it in UTF-8.
    const wide = ["/\u{1F600}", "/\uFF01", "/a"];
    expect(sortBytewise(wide, (p) => p)).toEqual(["/a", "/\uFF01", "/\u{1F600}"]);
    expect([...wide].sort()).toEqual(["/a", "/\u{1F600}", "/\uFF01"]);
  });

  it("parses the transports users know from skopeo, and refuses the rest", () => {
    for (const s of ["oci:out:v1", "oci:out", "oci-archive:a.tar:x", "docker-archive:a.tar:team/app:1.2", "bundle:dir", "docker://127.0.0.1:5000/team/app:1.2", "docker://registry.example.com/app@sha256:" + "0".repeat(64)]) {
      const t = parseTransport(s);
      expect(E.isRight(t) && formatTransport(t.right)).toBe(s);
    }
    expect(parseTransport("docker://localhost:5000/app")).toEqual(E.right({ _tag: "Registry", reference: { host: "localhost:5000", repository: "app", tag: "latest", digest: undefined } }));
    expect(parseTransport("docker://app:1")).toEqual(E.left('"app:1": expected HOST/REPOSITORY[:TAG], e.g. registry.example.com/team/app:1.0'));
    expect(parseTransport("docker://host/App")).toEqual(E.left('"host/App": "host" is not a registry host (name it, e.g. localhost:5000 or registry.example.com)'));
    expect(parseTransport("ftp:x")).toEqual(E.left('unknown transport "ftp": expected one of oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker://HOST/REPO[:TAG], bundle:DIR'));
    expect(E.isLeft(parseTransport("oci:out:bad tag"))).toBe(true);
    expect(E.isLeft(parseTransport("out"))).toBe(true);
  });
});
