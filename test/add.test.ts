/**
 * Dockerfile's ADD, as lading has it: `Entry.archive` extracts a host tar archive into a
 * layer, reproducibly; `Entry.fetch` downloads a file checked by its sha256, once, and
 * pins it in lading.lock. Built images are unpacked with umoci and their files compared
 * with what the archives and the server hold; hostile archives are refused by name.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Digest } from "../src/core/index.ts";
import { formatDiagnostic } from "../src/core/index.ts";
import { addFetchedUrls } from "../src/registry/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { mustRun, REPO, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import type { CraftEntry } from "./support/craft.ts";
import { craftTar } from "./support/craft.ts";
import type { UnpackedEntry } from "./support/rootfs.ts";
import { walkRootfs } from "./support/rootfs.ts";
import { requireTool } from "./support/tools.ts";
import { validateOciLayout } from "./support/validate.ts";

let work: string;
let store: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-add-"));
  store = path.join(work, "store");
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const hex = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** A project directory holding `lading.ts` (importing "lading" as a user's would) and `files`. */
const project = async (name: string, spec: string, files: Readonly<Record<string, Buffer | string>> = {}): Promise<string> => {
  const dir = path.join(work, name);
  await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
  await fs.symlink(REPO, path.join(dir, "node_modules", "lading")).catch(() => undefined);
  await fs.writeFile(path.join(dir, "lading.ts"), spec);
  for (const [f, content] of Object.entries(files)) await fs.writeFile(path.join(dir, f), content);
  return dir;
};

/** Builds `spec` into a fresh OCI layout; gives the layout and the printed digest. */
const build = async (spec: string, extra: ReadonlyArray<string> = ["--no-check"]): Promise<{ readonly layout: string; readonly digest: string }> => {
  const layout = `${await fs.mkdtemp(path.join(work, "out-"))}/oci`;
  const r = await runLading(["build", spec, "--out", `oci:${layout}:latest`, "--store", store, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return { layout, digest: r.stdout.trim() };
};

/** The image's files as umoci unpacks them, as root (owners kept), and where. */
const unpack = async (layout: string): Promise<{ readonly files: Map<string, UnpackedEntry>; readonly rootfs: string }> => {
  requireTool("umoci");
  const bundle = await fs.mkdtemp(path.join(work, "bundle-"));
  await fs.rm(bundle, { recursive: true });
  await mustRun("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
  const rootfs = path.join(bundle, "rootfs");
  return { files: await walkRootfs(rootfs), rootfs };
};

const TOOL = "#!/bin/sh\necho tool\n";
const CONF = "workers = 4\n";
/** Not in any archive: the store holds it only once it is fetched. */
const FETCHED = "#!/bin/sh\necho fetched\n";

/** A tree to archive: an executable, a private config, a directory of its own mode, a symlink and a hard link. */
const makeTree = async (dir: string, mtime: Date): Promise<void> => {
  await fs.mkdir(path.join(dir, "bin"), { recursive: true });
  await fs.mkdir(path.join(dir, "etc"), { recursive: true });
  await fs.mkdir(path.join(dir, "share", "doc"), { recursive: true });
  await fs.writeFile(path.join(dir, "bin", "tool"), TOOL);
  await fs.chmod(path.join(dir, "bin", "tool"), 0o755);
  await fs.link(path.join(dir, "bin", "tool"), path.join(dir, "bin", "tool2"));
  await fs.symlink("tool", path.join(dir, "bin", "t"));
  await fs.writeFile(path.join(dir, "etc", "app.conf"), CONF);
  await fs.chmod(path.join(dir, "etc", "app.conf"), 0o640);
  await fs.chmod(path.join(dir, "share", "doc"), 0o750);
  for (const p of ["bin/tool", "etc/app.conf", "share/doc", "share", "etc", "bin", "."]) await fs.utimes(path.join(dir, p), mtime, mtime);
};

describe("eval of archives and downloads", () => {
  const errorsOf = (...entries: ReadonlyArray<unknown>): ReadonlyArray<string> => {
    const r = evaluate("spec.ts", "app", pipe(Image.scratch, Image.withLayer(Layer.make("l", entries as ReadonlyArray<Entry.Entry>))));
    return E.isLeft(r) ? r.left.map(formatDiagnostic) : [];
  };

  it("gives the IR of each, the sha256 normalized, the archive's own attributes kept where the spec gives none", () => {
    const sha = "AB".repeat(32);
    const layer = Layer.make("l", [
      Entry.archive("app.tar.gz", "/", { uid: 5 }),
      Entry.fetch("https://example.com/a.tgz", "/opt", { sha256: `sha256:${sha}`, extract: true }),
      Entry.fetch("https://example.com/tool", "/usr/bin/tool", { sha256: sha, mode: 0o755 }),
    ]);
    const r = evaluate("spec.ts", "app", pipe(Image.scratch, Image.withLayer(layer)));
    expect(E.isRight(r) ? r.right.layers[0] : r.left).toEqual({
      _tag: "Layer",
      name: "l",
      comment: undefined,
      entries: [
        { _tag: "Archive", path: "/", from: { _tag: "Host", source: "app.tar.gz" }, mode: undefined, uid: 5, gid: undefined },
        { _tag: "Archive", path: "/opt", from: { _tag: "Url", url: "https://example.com/a.tgz", sha256: `sha256:${sha.toLowerCase()}` }, mode: undefined, uid: undefined, gid: undefined },
        { _tag: "Fetch", path: "/usr/bin/tool", url: "https://example.com/tool", sha256: `sha256:${sha.toLowerCase()}`, mode: 0o755, uid: 0, gid: 0 },
      ],
    });
  });

  it("names the place of a bad URL, a bad sha256, an empty archive path and a download at /", () => {
    const errors = errorsOf(
      Entry.fetch("ftp://example.com/a", "/a", { sha256: "0".repeat(64) }),
      Entry.fetch("https://example.com/b", "/b", { sha256: "1234" }),
      Entry.archive("", "/c"),
      Entry.fetch("https://example.com/d", "/", { sha256: "0".repeat(64) }),
    );
    expect(errors).toEqual([
      'spec.ts: export "app", layer "l", path "/a": invalid URL "ftp://example.com/a": lading fetches http and https URLs',
      'spec.ts: export "app", layer "l", path "/b": invalid sha256 "1234": must be 64 hex digits, optionally after "sha256:"\n  hint: sha256sum FILE prints it',
      'spec.ts: export "app", layer "l", path "/c": an archive needs a non-empty source path',
      'spec.ts: export "app", layer "l", path "/": a fetch cannot be at /: the root of the image is always a directory',
    ]);
  });
});

describe("lading lock of downloads", () => {
  it("refuses one URL fetched with two sha256s, which one lock entry cannot pin", () => {
    const url = "https://example.com/tool";
    const image = pipe(
      Image.scratch,
      Image.withLayer(Layer.make("a", [Entry.fetch(url, "/a", { sha256: "a".repeat(64) })])),
      Image.withLayer(Layer.make("b", [Entry.fetch(url, "/b", { sha256: "b".repeat(64) })])),
    );
    const ir = evaluate("spec.ts", "app", image);
    if (E.isLeft(ir)) throw new Error(ir.left.map(formatDiagnostic).join("\n"));
    const fetched = new Map<string, Digest>();
    expect(() => addFetchedUrls(fetched, ir.right)).toThrow(`${url} is fetched with two sha256s, sha256:${"a".repeat(64)} and sha256:${"b".repeat(64)}`);
    const same = evaluate("spec.ts", "app", pipe(Image.scratch, Image.withLayer(Layer.make("a", [Entry.fetch(url, "/a", { sha256: "a".repeat(64) }), Entry.fetch(url, "/b", { sha256: "a".repeat(64) })]))));
    if (E.isLeft(same)) throw new Error("eval failed");
    const again = new Map<string, Digest>();
    addFetchedUrls(again, same.right);
    expect([...again]).toEqual([[url, `sha256:${"a".repeat(64)}`]]);
  });
});

describe("Entry.archive", () => {
  const SPEC = `import { Entry, Image, Layer, pipe } from "lading";

export default pipe(
  Image.scratch,
  Image.withLayer(Layer.make("app", [Entry.archive("app.tar", "/opt/app"), Entry.archive("app.tar", "/srv", { uid: 5, gid: 6, mode: 0o600 })])),
);
`;
  let first: { readonly layout: string; readonly digest: string };

  it("extracts a gzip archive into the layer: paths, owners and modes from the archive unless the entry gives them, mtimes the build's", async () => {
    requireTool("tar");
    const tree = path.join(work, "tree");
    await makeTree(tree, new Date(1_000_000_000));
    const dir = await project("archive", SPEC);
    await mustRun("tar", ["--owner=1000", "--group=100", "--numeric-owner", "-czf", path.join(dir, "app.tar"), "-C", tree, "."]);
    // The plan names the archive, its digest and where it goes.
    const plan = await runLading(["plan", path.join(dir, "lading.ts"), "--files", "--no-check", "--store", store]);
    const archive = `sha256:${hex(await fs.readFile(path.join(dir, "app.tar")))}`;
    expect(plan.stdout).toContain(`  archive  app.tar -> /opt/app  ${archive}\n  archive  app.tar -> /srv  ${archive}\n`);
    // Type checked once, as a user's spec is.
    first = await build(path.join(dir, "lading.ts"), []);
    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    await validateOciLayout(first.layout, "latest");
    const { files, rootfs } = await unpack(first.layout);
    const tool = `sha256:${hex(TOOL)}`;
    expect(Object.fromEntries([...files].filter(([p]) => p.startsWith("/opt") || p.startsWith("/srv")))).toEqual({
      "/opt": { type: "dir", mode: 0o755, uid: 0, gid: 0 },
      "/opt/app": { type: "dir", mode: 0o755, uid: 0, gid: 0 },
      "/opt/app/bin": { type: "dir", mode: 0o755, uid: 1000, gid: 100 },
      "/opt/app/bin/t": { type: "symlink", mode: 0o777, uid: 1000, gid: 100, target: "tool" },
      "/opt/app/bin/tool": { type: "file", mode: 0o755, uid: 1000, gid: 100, digest: tool },
      "/opt/app/bin/tool2": { type: "file", mode: 0o755, uid: 1000, gid: 100, digest: tool },
      "/opt/app/etc": { type: "dir", mode: 0o755, uid: 1000, gid: 100 },
      "/opt/app/etc/app.conf": { type: "file", mode: 0o640, uid: 1000, gid: 100, digest: `sha256:${hex(CONF)}` },
      "/opt/app/share": { type: "dir", mode: 0o755, uid: 1000, gid: 100 },
      "/opt/app/share/doc": { type: "dir", mode: 0o750, uid: 1000, gid: 100 },
      "/srv": { type: "dir", mode: 0o755, uid: 5, gid: 6 },
      "/srv/bin": { type: "dir", mode: 0o755, uid: 5, gid: 6 },
      "/srv/bin/t": { type: "symlink", mode: 0o777, uid: 5, gid: 6, target: "tool" },
      "/srv/bin/tool": { type: "file", mode: 0o600, uid: 5, gid: 6, digest: tool },
      "/srv/bin/tool2": { type: "file", mode: 0o600, uid: 5, gid: 6, digest: tool },
      "/srv/etc": { type: "dir", mode: 0o755, uid: 5, gid: 6 },
      "/srv/etc/app.conf": { type: "file", mode: 0o600, uid: 5, gid: 6, digest: `sha256:${hex(CONF)}` },
      "/srv/share": { type: "dir", mode: 0o755, uid: 5, gid: 6 },
      "/srv/share/doc": { type: "dir", mode: 0o750, uid: 5, gid: 6 },
    });
    // The two names of one file stay one file; its mtime is the build's (0 here), not the archive's.
    const [a, b] = await Promise.all(["tool", "tool2"].map((n) => fs.lstat(path.join(rootfs, "opt", "app", "bin", n))));
    expect(a!.ino).toBe(b!.ino);
    expect(a!.mtimeMs).toBe(0);
  });

  it("gives the same image from an xz archive of the same files, other mtimes and another member order", async () => {
    const tree = path.join(work, "tree");
    await fs.rm(tree, { recursive: true });
    await makeTree(tree, new Date(2_000_000_000));
    const dir = path.join(work, "archive");
    const before = hex(await fs.readFile(path.join(dir, "app.tar")));
    await mustRun("tar", ["--owner=1000", "--group=100", "--numeric-owner", "-cJf", path.join(dir, "app.tar"), "-C", tree, "./share", "./etc", "./bin"]);
    expect(hex(await fs.readFile(path.join(dir, "app.tar")))).not.toBe(before);
    const second = await build(path.join(dir, "lading.ts"));
    expect(second.digest).toBe(first.digest);
  });

  it("reads an archive again when the store's copy of one of its files was cut short, and builds the same image", async () => {
    const kept = path.join(store, "archives", "files", hex(TOOL));
    await fs.truncate(kept, 3);
    expect((await fs.stat(kept)).size).toBe(3);
    const again = await build(path.join(work, "archive", "lading.ts"));
    expect(again.digest).toBe(first.digest);
    expect(await fs.readFile(kept, "utf8")).toBe(TOOL);
  });

  const HOSTILE: ReadonlyArray<{ readonly name: string; readonly entries: ReadonlyArray<CraftEntry>; readonly member: string; readonly why: string }> = [
    { name: "an absolute name", entries: [{ name: "/etc/passwd", type: "file", content: "x" }], member: "/etc/passwd", why: 'has an absolute name "/etc/passwd"' },
    { name: "a name with ..", entries: [{ name: "a/../../escape", type: "file", content: "x" }], member: "a/../../escape", why: 'has a name with .. "a/../../escape"' },
    { name: "a whiteout", entries: [{ name: "lib/.wh.libc.so", type: "file" }], member: "lib/.wh.libc.so", why: "has the name .wh.libc.so, an OCI whiteout" },
    { name: "a symlink out of it", entries: [{ name: "up", type: "symlink", target: "../../etc/shadow" }], member: "up", why: "is a symlink to \"../../etc/shadow\", outside the archive" },
    { name: "a hard link out of it", entries: [{ name: "h", type: "hardlink", target: "../etc/passwd" }], member: "h", why: "is a hard link to \"../etc/passwd\"" },
    { name: "a write through its own symlink", entries: [{ name: "d", type: "symlink", target: "/etc" }, { name: "d/passwd", type: "file", content: "x" }], member: "d/passwd", why: "is written through the archive's own symlink /d" },
    { name: "a fifo", entries: [{ name: "p", type: "fifo" }], member: "p", why: "is a fifo: only files, directories and links go into layers" },
  ];

  it.each(HOSTILE)("refuses an archive holding $name, naming the archive and the member", async ({ name, entries, member, why }) => {
    const dir = await project(`hostile-${name.replace(/[^a-z]+/g, "-")}`, `import { Entry, Image, Layer, pipe } from "lading";\n\nexport default pipe(Image.scratch, Image.withLayer(Layer.make("app", [Entry.archive("bad.tar", "/x")])));\n`, {
      "bad.tar": craftTar(entries),
    });
    const r = await runLading(["plan", path.join(dir, "lading.ts"), "--no-check", "--store", store]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`lading.ts: export "default", layer "app", path "/x": archive bad.tar: member ${JSON.stringify(member)} ${why}`);
    expect(r.stderr).toContain("refused");
  });
});

describe("Entry.fetch", () => {
  const served = new Map<string, Buffer>();
  const requests: string[] = [];
  let server: http.Server;
  let base: string;
  const NOTES = Buffer.from("fetched once\n");
  let tarball: Buffer;
  beforeAll(async () => {
    tarball = craftTar([
      { name: "data/", type: "dir", mode: 0o700 },
      { name: "data/table.csv", type: "file", content: "a,b\n", mode: 0o444 },
    ]);
    served.set("/tool.sh", Buffer.from(FETCHED));
    served.set("/notes.txt", NOTES);
    served.set("/data.tar", tarball);
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      const body = served.get(req.url ?? "");
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { "content-length": body.byteLength }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
  });

  const spec = (): string => `import { Entry, Image, Layer, pipe } from "lading";

export default pipe(
  Image.scratch,
  Image.withLayer(
    Layer.make("fetched", [
      Entry.fetch("${base}/tool.sh", "/usr/local/bin/tool", { sha256: "${hex(FETCHED)}", mode: 0o755 }),
      Entry.fetch("${base}/notes.txt", "/etc/notes.txt", { sha256: "sha256:${hex(NOTES)}" }),
      Entry.fetch("${base}/data.tar", "/opt", { sha256: "sha256:${hex(tarball)}", extract: true, uid: 7 }),
    ]),
  ),
);
`;
  let dir: string;
  let first: { readonly layout: string; readonly digest: string };

  it("downloads each URL once, checked, into the image; the plan records each URL with its sha256", async () => {
    dir = await project("fetch", spec());
    const plan = await runLading(["plan", path.join(dir, "lading.ts"), "--json", "--no-check", "--store", store]);
    expect(plan.code).toBe(0);
    const layers = decodedPlan(plan.stdout).layers;
    expect(layers[0]!.fetched).toEqual([
      { url: `${base}/tool.sh`, sha256: `sha256:${hex(FETCHED)}` },
      { url: `${base}/notes.txt`, sha256: `sha256:${hex(NOTES)}` },
      { url: `${base}/data.tar`, sha256: `sha256:${hex(tarball)}` },
    ]);
    expect(layers[0]!.archives).toEqual([{ source: `${base}/data.tar`, digest: `sha256:${hex(tarball)}`, path: "/opt" }]);
    expect([...layers[0]!.entries].find((e) => e.path === "/opt/data/table.csv")).toMatchObject({ type: "file", source: `url:${base}/data.tar` });
    first = await build(path.join(dir, "lading.ts"));
    await validateOciLayout(first.layout, "latest");
    const { files } = await unpack(first.layout);
    expect(files.get("/usr/local/bin/tool")).toEqual({ type: "file", mode: 0o755, uid: 0, gid: 0, digest: `sha256:${hex(FETCHED)}` });
    // 0644, not Docker's 0600: see Entry.fetch.
    expect(files.get("/etc/notes.txt")).toEqual({ type: "file", mode: 0o644, uid: 0, gid: 0, digest: `sha256:${hex(NOTES)}` });
    expect(files.get("/opt/data")).toEqual({ type: "dir", mode: 0o700, uid: 7, gid: 0 });
    expect(files.get("/opt/data/table.csv")).toEqual({ type: "file", mode: 0o444, uid: 7, gid: 0, digest: `sha256:${hex("a,b\n")}` });
    expect([...requests].sort()).toEqual(["/data.tar", "/notes.txt", "/tool.sh"]);
  });

  it("refuses a download whose sha256 is not the spec's, naming the URL, the expected and the actual sha256", async () => {
    const wrong = "0".repeat(64);
    const bad = await project("fetch-bad", `import { Entry, Image, Layer, pipe } from "lading";\n\nexport default pipe(Image.scratch, Image.withLayer(Layer.make("bad", [Entry.fetch("${base}/notes.txt?v=2", "/etc/notes.txt", { sha256: "${wrong}" })])));\n`);
    served.set("/notes.txt?v=2", NOTES);
    const r = await runLading(["plan", path.join(bad, "lading.ts"), "--no-check", "--store", store]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`lading.ts: export "default", layer "bad", path "/etc/notes.txt": the download of ${base}/notes.txt?v=2 does not match the sha256 the spec gives`);
    expect(r.stderr).toContain(`expected sha256:${wrong}, got sha256:${hex(NOTES)}`);
  });

  it("imports ADD of a local archive and ADD --checksum of a URL, and asks for the sha256 of a URL without one", async () => {
    const ctx = path.join(work, "import");
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, "app.tar.gz"), await fs.readFile(path.join(work, "archive", "app.tar")));
    await fs.writeFile(
      path.join(ctx, "Dockerfile"),
      `FROM scratch\nADD app.tar.gz /opt/app\nADD --checksum=sha256:${hex(FETCHED)} ${base}/tool.sh /usr/local/bin/\nADD ${base}/notes.txt /etc/notes.txt\n`,
    );
    const r = await runLading(["import", path.join(ctx, "Dockerfile")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Entry.archive("app.tar.gz", "/opt/app")`);
    expect(r.stdout).toContain(`Entry.fetch("${base}/tool.sh", "/usr/local/bin/tool.sh", { sha256: "sha256:${hex(FETCHED)}" })`);
    expect(r.stdout).toContain(`// line 4: ADD ${base}/notes.txt /etc/notes.txt  (of a URL without --checksum cannot be pinned: add --checksum=sha256:`);
    expect(r.stderr).toContain("Dockerfile:4: warning: ADD of a URL without --checksum cannot be pinned");
    expect(r.stderr).toContain("Dockerfile:3: warning: ADD of a URL: the file is 0644 in lading, where Docker makes it 0600");
    // The spec it writes builds, to the files the Dockerfile names.
    const imported = await project("imported", r.stdout, { "app.tar.gz": await fs.readFile(path.join(ctx, "app.tar.gz")) });
    const built = await build(path.join(imported, "lading.ts"), []);
    const { files } = await unpack(built.layout);
    expect(files.get("/usr/local/bin/tool.sh")).toEqual({ type: "file", mode: 0o644, uid: 0, gid: 0, digest: `sha256:${hex(FETCHED)}` });
    expect(files.get("/opt/app/etc/app.conf")).toEqual({ type: "file", mode: 0o640, uid: 1000, gid: 100, digest: `sha256:${hex(CONF)}` });
  });

  it("lading lock records each fetched URL with its sha256", async () => {
    const r = await runLading(["lock", path.join(dir, "lading.ts"), "--no-check", "--store", store]);
    expect(r.code).toBe(0);
    const lock = JSON.parse(await fs.readFile(path.join(dir, "lading.lock"), "utf8")) as Record<string, unknown>;
    expect(lock).toEqual({
      lockVersion: 1,
      pins: {},
      fetched: {
        [`${base}/data.tar`]: `sha256:${hex(tarball)}`,
        [`${base}/notes.txt`]: `sha256:${hex(NOTES)}`,
        [`${base}/tool.sh`]: `sha256:${hex(FETCHED)}`,
      },
    });
  });

  it("builds again with the server stopped, from the store, frozen to the lock; --frozen refuses a URL the lock lacks", async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const seen = requests.length;
    const again = await build(path.join(dir, "lading.ts"), ["--no-check", "--frozen"]);
    expect(again.digest).toBe(first.digest);
    expect(requests.length).toBe(seen);
    // Beside the same lock: a URL it does not pin.
    await fs.writeFile(path.join(dir, "other.ts"), spec().replace(`${base}/notes.txt`, `${base}/other.txt`));
    const r = await runLading(["build", path.join(dir, "other.ts"), "--out", `oci:${path.join(work, "other")}:latest`, "--no-check", "--frozen", "--store", store]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`path "/etc/notes.txt": ${base}/other.txt is not in`);
    expect(r.stderr).toContain("lading.lock: the lock file is stale");
    expect(requests.length).toBe(seen);
  });
});
