/**
 * A Debian archive of the test's own, served on 127.0.0.1: `.deb`s made here (ar,
 * control.tar.gz, data.tar.gz), a `Packages.xz` index, and an `InRelease` signed with an
 * OpenPGP key made in the test. Each part can be made wrong on purpose, so a test shows
 * lading refuses it.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as openpgp from "openpgp";
import * as tar from "tar-stream";

export interface DebFile {
  readonly path: string;
  readonly content?: string;
  readonly symlink?: string;
  readonly hardlink?: string;
  readonly mode?: number;
}

export interface TestPackage {
  readonly name: string;
  readonly version: string;
  readonly architecture?: string;
  readonly depends?: string;
  readonly preDepends?: string;
  readonly provides?: string;
  readonly files?: ReadonlyArray<DebFile>;
  /** Index this sha256 instead of the real one. */
  readonly wrongSha256?: boolean;
}

type Header = Partial<tar.Header> & Pick<tar.Header, "name">;

const tarGz = async (entries: ReadonlyArray<{ readonly header: Header; readonly body?: string }>): Promise<Buffer> => {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on("end", () => r()));
  // A fixed mtime: the same package gives the same .deb, as an archive's pool keeps it.
  for (const e of entries) {
    const header = { mtime: new Date(0), ...e.header };
    if (e.body === undefined) pack.entry(header);
    else pack.entry(header, e.body);
  }
  pack.finalize();
  await done;
  return zlib.gzipSync(Buffer.concat(chunks));
};

const arMember = (name: string, body: Buffer): Buffer => {
  const header = `${name.padEnd(16)}${"0".padEnd(12)}${"0".padEnd(6)}${"0".padEnd(6)}${"100644".padEnd(8)}${String(body.length).padEnd(10)}\`\n`;
  return Buffer.concat([Buffer.from(header, "latin1"), body, body.length % 2 === 1 ? Buffer.from("\n") : Buffer.alloc(0)]);
};

export const controlOf = (p: TestPackage): string =>
  [
    `Package: ${p.name}`,
    `Version: ${p.version}`,
    `Architecture: ${p.architecture ?? "amd64"}`,
    "Maintainer: lading tests <tests@example.invalid>",
    ...(p.preDepends === undefined ? [] : [`Pre-Depends: ${p.preDepends}`]),
    ...(p.depends === undefined ? [] : [`Depends: ${p.depends}`]),
    ...(p.provides === undefined ? [] : [`Provides: ${p.provides}`]),
    "Priority: optional",
    `Description: test package ${p.name}`,
    "",
  ].join("\n");

/** A .deb holding `files` (parents are added as directories, `./` names as dpkg-deb writes them). */
export const makeDeb = async (p: TestPackage): Promise<Buffer> => {
  const data: { header: Header; body?: string }[] = [{ header: { name: "./", type: "directory", mode: 0o755 } }];
  const dirs = new Set<string>();
  for (const f of p.files ?? []) {
    const segs = f.path.replace(/^\.?\//, "").split("/");
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join("/");
      if (d.includes("..") || dirs.has(d)) continue;
      dirs.add(d);
      data.push({ header: { name: `./${d}/`, type: "directory", mode: 0o755 } });
    }
    const name = f.path.startsWith("/") ? f.path : `./${f.path}`;
    if (f.symlink !== undefined) data.push({ header: { name, type: "symlink", linkname: f.symlink, mode: 0o777 } });
    else if (f.hardlink !== undefined) data.push({ header: { name, type: "link", linkname: f.hardlink, mode: 0o644 } });
    else data.push({ header: { name, type: "file", mode: f.mode ?? 0o644, size: Buffer.byteLength(f.content ?? "") }, body: f.content ?? "" });
  }
  const control = await tarGz([{ header: { name: "./control", type: "file", mode: 0o644, size: Buffer.byteLength(controlOf(p)) }, body: controlOf(p) }]);
  return Buffer.concat([Buffer.from("!<arch>\n"), arMember("debian-binary", Buffer.from("2.0\n")), arMember("control.tar.gz", control), arMember("data.tar.gz", await tarGz(data))]);
};

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export interface TestKey {
  readonly privateKey: openpgp.PrivateKey;
  readonly armoredPublic: string;
}

export const makeKey = async (): Promise<TestKey> => {
  const { privateKey, publicKey } = await openpgp.generateKey({ type: "ecc", curve: "curve25519Legacy", userIDs: [{ name: "lading test archive" }], format: "armored" });
  return { privateKey: await openpgp.readPrivateKey({ armoredKey: privateKey }), armoredPublic: publicKey };
};

export interface ArchiveOptions {
  readonly suite?: string;
  /** Sign with this key (default: the archive's own). */
  readonly signWith?: TestKey;
  /** Change the signed text after signing. */
  readonly tamper?: boolean;
  /** Put a wrong sha256 for Packages.xz in the release file. */
  readonly wrongIndexSha?: boolean;
}

/** Writes the archive's files under `root`: pool, index and signed release. */
export const writeArchive = async (root: string, key: TestKey, packages: ReadonlyArray<TestPackage>, opts: ArchiveOptions = {}): Promise<void> => {
  const suite = opts.suite ?? "testing-lading";
  const paragraphs: string[] = [];
  for (const p of packages) {
    const deb = await makeDeb(p);
    const filename = `pool/main/${p.name}_${p.version.replace(/^[0-9]+:/, "")}_${p.architecture ?? "amd64"}.deb`;
    await fs.mkdir(path.join(root, path.dirname(filename)), { recursive: true });
    await fs.writeFile(path.join(root, filename), deb);
    const hash = opts && p.wrongSha256 === true ? sha256(Buffer.from("not this")) : sha256(deb);
    paragraphs.push(`${controlOf(p).trimEnd()}\nFilename: ${filename}\nSize: ${deb.length}\nSHA256: ${hash}\n`);
  }
  const indexDir = path.join(root, "dists", suite, "main", "binary-amd64");
  await fs.mkdir(indexDir, { recursive: true });
  const packagesText = paragraphs.join("\n");
  const xz = execFileSync("xz", ["-c", "-6"], { input: packagesText });
  await fs.writeFile(path.join(indexDir, "Packages.xz"), xz);
  const indexSha = opts.wrongIndexSha === true ? sha256(Buffer.from("not this")) : sha256(xz);
  const release = [
    "Origin: lading tests",
    `Suite: ${suite}`,
    `Codename: ${suite}`,
    "Architectures: amd64",
    "Components: main",
    "SHA256:",
    ` ${indexSha} ${xz.length} main/binary-amd64/Packages.xz`,
    "",
  ].join("\n");
  const signed = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: release }), signingKeys: (opts.signWith ?? key).privateKey });
  const text = opts.tamper === true ? signed.replace(`Suite: ${suite}`, `Suite: ${suite}\nX-Tampered: yes`) : signed;
  await fs.writeFile(path.join(root, "dists", suite, "InRelease"), text);
};

/** Serves `root` over http on 127.0.0.1; the URL of the archive's root and a stop function. */
export const serveDirectory = async (root: string): Promise<{ readonly url: string; readonly requests: string[]; readonly close: () => Promise<void> }> => {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    requests.push(rel);
    const file = path.join(root, path.normalize(rel).replace(/^(\.\.[/\\])+/, ""));
    fs.readFile(file).then(
      (body) => {
        res.writeHead(200, { "content-length": body.length });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/debian`, requests, close: () => new Promise((r) => server.close(() => r())) };
};
