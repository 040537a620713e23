/**
 * Debian packages end to end, against an archive of the test's own served on 127.0.0.1
 * and signed with a key made here: `lading lock` pins a package set, a locked build does
 * not move when the archive's index moves on, `--frozen` refuses a set the lock lacks,
 * and hostile archives are refused, naming what is wrong, with nothing stored.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Debian, Image, pipe } from "../src/index.ts";
import { formatDiagnostic } from "../src/core/index.ts";
import { debianPackageHost } from "../src/deb/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { layerFormat } from "../src/build/index.ts";
import { openStore } from "../src/store/index.ts";
import { REPO, runLading } from "./support/cli.ts";
import type { TestKey, TestPackage } from "./support/debarchive.ts";
import { makeKey, serveDirectory, writeArchive } from "./support/debarchive.ts";

let work: string;
let key: TestKey;
let server: Awaited<ReturnType<typeof serveDirectory>>;
let archiveRoot: string;

const hello = (version: string): TestPackage => ({
  name: "hello",
  version,
  depends: "libgreet (>= 1), default-shell",
  files: [
    { path: "usr/bin/hello", content: `#!/bin/sh\necho hello ${version}\n`, mode: 0o755 },
    { path: "usr/share/doc/hello/copyright", content: "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Expat or GPL-2+\n" },
  ],
});
const libgreet: TestPackage = { name: "libgreet", version: "1.0", files: [{ path: "usr/lib/libgreet.txt", content: "greet\n" }] };
const dash: TestPackage = { name: "tinysh", version: "2", provides: "default-shell", files: [{ path: "bin/sh", symlink: "/usr/bin/hello" }] };

/** A project directory with lading as a dependency, the test keyring, and a spec. */
const project = async (name: string, spec: string): Promise<string> => {
  const dir = path.join(work, name);
  await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
  await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
  await fs.writeFile(path.join(dir, "key.asc"), key.armoredPublic);
  await fs.writeFile(path.join(dir, "lading.ts"), spec);
  return path.join(dir, "lading.ts");
};

const specFor = (suite: string, names: ReadonlyArray<string>, extra = ""): string => `import { Debian, Image, pipe } from "lading";

const archive: Debian.Archive = { suite: "${suite}", location: "${server.url}", keyring: "key.asc" };

export const app = pipe(
  Image.scratch,
  Image.withPackages(Debian.packages(archive, ${JSON.stringify(names)})),
  Image.withCmd(["/usr/bin/hello"]),
);
${extra}`;

const listStore = async (store: string): Promise<{ readonly blobs: number; readonly layers: number; readonly tmp: number }> => {
  const count = (d: string): Promise<number> => fs.readdir(path.join(store, d)).then((n) => n.length, () => 0);
  return { blobs: await count("blobs/sha256"), layers: await count("layers"), tmp: await count("tmp") };
};

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-deb-"));
  key = await makeKey();
  archiveRoot = path.join(work, "srv", "debian");
  await fs.mkdir(archiveRoot, { recursive: true });
  server = await serveDirectory(path.join(work, "srv"));
  await writeArchive(archiveRoot, key, [hello("1.0"), libgreet, dash], { suite: "moving" });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await fs.rm(work, { recursive: true, force: true });
});

describe("a locked package set", () => {
  it("does not move when the archive adds a newer version, until lading lock moves it", async () => {
    const spec = await project("locked", specFor("moving", ["hello"], `\nexport const other = pipe(Image.scratch, Image.withPackages(Debian.packages(archive, ["libgreet"])));\n`));
    const store = path.join(work, "store-locked");
    const lock = await runLading(["lock", spec, "--no-check", "--store", store]);
    expect(lock.stderr).toContain("0 pins, 2 package sets");
    const lockText = await fs.readFile(path.join(path.dirname(spec), "lading.lock"), "utf8");
    expect(lockText).toMatch(/"name":"hello","version":"1\.0","architecture":"amd64","sha256":"sha256:[0-9a-f]{64}","size":[0-9]+,"filename":"pool\/main\/hello_1\.0_amd64\.deb","source":"hello"/);
    expect([...lockText.matchAll(/"name":"([a-z]+)"/g)].map((m) => m[1])).toEqual(["hello", "libgreet", "tinysh", "libgreet"]);

    const bundle = path.join(work, "bundle-1");
    const first = await runLading(["build", "--no-check", `${spec}#app`, "--frozen", "--store", store, "--out", `oci:${work}/oci-1:app`, "--out", `bundle:${bundle}`]);
    expect(first.stderr).toBe("");
    const digest1 = first.stdout.trim();
    expect(digest1).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await fs.readFile(path.join(bundle, "rootfs/usr/bin/hello"), "utf8")).toBe("#!/bin/sh\necho hello 1.0\n");
    expect(await fs.readlink(path.join(bundle, "rootfs/bin/sh"))).toBe("/usr/bin/hello");
    const status = await fs.readFile(path.join(bundle, "rootfs/var/lib/dpkg/status"), "utf8");
    expect(status).toContain("Package: hello\nStatus: install ok installed\nVersion: 1.0\n");
    expect([...status.matchAll(/^Package: (.*)$/gm)].map((m) => m[1])).toEqual(["hello", "libgreet", "tinysh"]);
    expect(await fs.readFile(path.join(bundle, "rootfs/var/lib/dpkg/info/hello.list"), "utf8")).toContain("/usr/bin/hello\n");

    // The bill of lading, from the plan: each package with its version, purl and licenses.
    const sbom = await runLading(["sbom", "--no-check", `${spec}#app`, "--frozen", "--store", store]);
    const doc = JSON.parse(sbom.stdout) as { spdxVersion: string; packages: { name: string; versionInfo?: string; licenseDeclared: string; externalRefs?: { referenceLocator: string }[] }[] };
    expect(doc.spdxVersion).toBe("SPDX-2.3");
    expect(doc.packages.map((p) => [p.name, p.versionInfo ?? null, p.licenseDeclared, p.externalRefs?.[0]?.referenceLocator ?? null])).toEqual([
      ["app", null, "NOASSERTION", null],
      ["hello", "1.0", "GPL-2.0-or-later AND MIT", "pkg:deb/debian/hello@1.0?arch=amd64"],
      ["libgreet", "1.0", "NOASSERTION", "pkg:deb/debian/libgreet@1.0?arch=amd64"],
      ["tinysh", "2", "NOASSERTION", "pkg:deb/debian/tinysh@2?arch=amd64"],
    ]);

    // The archive moves on: a newer hello, a new signed release.
    await writeArchive(archiveRoot, key, [hello("1.0"), hello("1.1"), libgreet, dash], { suite: "moving" });
    server.requests.length = 0;
    const frozen = await runLading(["build", "--no-check", `${spec}#app`, "--frozen", "--store", store, "--out", `oci:${work}/oci-2:app`]);
    expect(frozen.stdout.trim()).toBe(digest1);
    // Everything was in the store: not even the release file was asked for.
    expect(server.requests).toEqual([]);
    const unfrozen = await runLading(["build", "--no-check", `${spec}#app`, "--store", path.join(work, "store-fresh"), "--out", `oci:${work}/oci-3:app`]);
    expect(unfrozen.stderr).toBe("");
    expect(unfrozen.stdout.trim()).toBe(digest1);
    expect(server.requests.filter((r) => r.includes("/dists/"))).toEqual([]);

    // The project as it was locked, to compare with after the lock moves.
    const old = path.join(work, "locked-before");
    await fs.mkdir(old);
    for (const f of ["lading.ts", "lading.lock", "key.asc"]) await fs.copyFile(path.join(path.dirname(spec), f), path.join(old, f));
    await fs.symlink(path.join(path.dirname(spec), "node_modules"), path.join(old, "node_modules"));
    const relock = await runLading(["lock", spec, "--no-check", "--store", store]);
    expect(relock.stdout).toContain("hello 1.0 -> 1.1");
    const moved = await runLading(["build", "--no-check", `${spec}#app`, "--frozen", "--store", store, "--out", `oci:${work}/oci-4:app`]);
    expect(moved.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(moved.stdout.trim()).not.toBe(digest1);

    // lading diff tells a package's new version as one package change, not as its files.
    const diff = await runLading(["diff", `${old}/lading.ts#app`, `${spec}#app`, "--no-check", "--store", store]);
    expect(diff.stdout).toContain("packages:\n  ~ hello 1.0 -> 1.1 amd64  (1 file)\nfiles:\n  (2 changes of the packages above; --format json lists them)\n");
    expect(diff.code).toBe(1);
  }, 120_000);

  it("--frozen refuses a package set the lock lacks, naming it", async () => {
    const spec = await project("stale", specFor("moving", ["hello"]));
    const store = path.join(work, "store-stale");
    expect((await runLading(["lock", spec, "--no-check", "--store", store])).code).toBe(0);
    await fs.writeFile(spec, specFor("moving", ["hello", "libgreet"]));
    const r = await runLading(["build", "--no-check", spec, "--frozen", "--store", store, "--out", `oci:${work}/oci-stale:app`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the package set hello libgreet is not pinned (${server.url} moving/main/amd64: hello libgreet): the lock file is stale`);
  }, 60_000);
});

describe("a hostile archive", () => {
  const cases: ReadonlyArray<{ readonly name: string; readonly suite: string; readonly packages: ReadonlyArray<TestPackage>; readonly opts?: Parameters<typeof writeArchive>[3]; readonly ask?: ReadonlyArray<string>; readonly expected: string; readonly storesDebs?: boolean }> = [
    { name: "a release signed by another key", suite: "other-key", packages: [libgreet], expected: "the release file is refused: no signature by a key of the keyring", ask: ["libgreet"] },
    { name: "a release changed after signing", suite: "tampered", packages: [libgreet], opts: { tamper: true }, expected: "does not verify", ask: ["libgreet"] },
    { name: "an index whose hash does not match", suite: "bad-index", packages: [libgreet], opts: { wrongIndexSha: true }, expected: "the index does not match the sha256 the release file gives: refused, nothing stored", ask: ["libgreet"] },
    { name: "a .deb whose hash does not match", suite: "bad-deb", packages: [{ ...libgreet, wrongSha256: true }], expected: "the package libgreet 1.0 does not match the sha256 the index (or lading.lock) gives: refused, nothing stored", ask: ["libgreet"] },
    { name: "a .deb with ../ in its data", suite: "dotdot", packages: [{ name: "evil", version: "1", files: [{ path: "usr/../../etc/passwd", content: "root::0:0::/:/bin/sh\n" }] }], expected: 'package evil 1 is refused: its data holds a name with .. "./usr/../../etc/passwd"', ask: ["evil"], storesDebs: true },
    { name: "a .deb writing through a symlink leading out", suite: "escape", packages: [{ name: "evil", version: "1", files: [{ path: "usr/lib/x", symlink: "/etc" }, { path: "usr/lib/x/passwd", content: "x\n" }] }], expected: "package evil 1 is refused: its data writes /usr/lib/x/passwd through its own symlink /usr/lib/x", ask: ["evil"], storesDebs: true },
    { name: "a Pre-Depends cycle", suite: "cycle", packages: [{ name: "pa", version: "1", preDepends: "pb" }, { name: "pb", version: "1", preDepends: "pa" }], expected: "package pa: a Pre-Depends cycle: pa -> pb -> pa; apt cannot order it either", ask: ["pa"] },
    { name: "an unsatisfiable dependency", suite: "unsat", packages: [{ name: "needy", version: "1", depends: "libgreet (>= 9)" }, libgreet], expected: "package needy: needy 1 depends on libgreet (>= 9), which no package of the archive satisfies", ask: ["needy"] },
  ];

  it.each(cases)("is refused: $name", async (c) => {
    const opts = c.name.includes("another key") ? { signWith: await makeKey() } : (c.opts ?? {});
    await writeArchive(archiveRoot, key, c.packages, { ...opts, suite: c.suite });
    const dir = path.dirname(await project(`hostile-${c.suite}`, ""));
    const store = await openStore(path.join(work, `store-${c.suite}`));
    const image = pipe(Image.scratch, Image.withPackages(Debian.packages({ suite: c.suite, location: server.url, keyring: "key.asc" }, c.ask ?? ["libgreet"])));
    const ir = evaluate("lading.ts", "app", image);
    if (E.isLeft(ir)) throw new Error(ir.left.map(formatDiagnostic).join("\n"));
    const planned = await planImage(nodeHost(), ir.right, { file: "lading.ts", specDir: dir, created: 0, format: layerFormat, packages: debianPackageHost(store, { specDir: dir }) });
    const messages = E.isLeft(planned) ? planned.left.map(formatDiagnostic).join("\n") : "planned";
    expect(messages).toContain(c.expected);
    expect(messages).toMatch(/^lading\.ts: export "app", layer "packages"|^http:\/\/127\.0\.0\.1:[0-9]+\/debian\/|^pool\/main\/evil_1_amd64\.deb: export "app", layer "packages"/);
    const s = await listStore(store.root);
    expect(s.layers).toBe(0);
    expect(s.tmp).toBe(0);
    // Only what verified may be there: the index, and a .deb whose hash its index gives.
    expect(s.blobs).toBeLessThanOrEqual(c.storesDebs === true ? 2 : 1);
    // No listing of the refused package: the verified index alone is kept as JSON.
    if (c.storesDebs === true) expect(await fs.readdir(path.join(store.root, "debs")).then((n) => n.filter((f) => f.endsWith(".json") && !f.startsWith("index-")), () => [])).toEqual([]);
  }, 60_000);
});
