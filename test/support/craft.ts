/**
 * Hand-made images, byte by byte, for the tests that play the attacker: a tar writer
 * that takes any name (raw bytes, `..`, whiteouts, the root, duplicates, very long ones)
 * and any entry type, and an OCI layout or docker archive around such layers, with a
 * config whose fields and diff_ids the test chooses. No lading code is used to make
 * them, so a bug in lading's writers cannot hide one in its readers.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as zlib from "node:zlib";

export type CraftType = "file" | "dir" | "symlink" | "hardlink" | "fifo";

/** One tar entry as written, name and link target as raw bytes when a Buffer. */
export interface CraftEntry {
  readonly name: string | Buffer;
  readonly type: CraftType;
  readonly content?: Buffer | string;
  readonly target?: string | Buffer;
  readonly mode?: number;
  readonly mtime?: number;
  readonly uid?: number;
  readonly gid?: number;
}

const TYPEFLAG: Record<CraftType, string> = { file: "0", hardlink: "1", symlink: "2", dir: "5", fifo: "6" };

const bytes = (s: string | Buffer): Buffer => (typeof s === "string" ? Buffer.from(s, "utf8") : s);

const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, "0");

const header = (name: Buffer, typeflag: string, size: number, mode: number, mtime: number, linkname: Buffer, uid = 0, gid = 0): Buffer => {
  const h = Buffer.alloc(512);
  name.copy(h, 0, 0, Math.min(100, name.length));
  h.write(octal(mode, 8), 100, "ascii");
  h.write(octal(uid, 8), 108, "ascii");
  h.write(octal(gid, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(mtime, 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(typeflag, 156, "ascii");
  linkname.copy(h, 157, 0, Math.min(100, linkname.length));
  h.write("ustar\u000000", 257, "binary");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${octal(sum, 7)}\u0000`, 148, "binary");
  return h;
};

const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/** A PAX record `LEN key=value\n`, its length counting itself. */
const paxRecord = (key: string, value: Buffer): Buffer => {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
};

/** A tar stream of `entries` in the order given; names longer than 100 bytes get a PAX header. */
export const craftTar = (entries: ReadonlyArray<CraftEntry>): Buffer => {
  const out: Buffer[] = [];
  for (const e of entries) {
    const name = bytes(e.name);
    const link = bytes(e.target ?? "");
    const content = e.type === "file" ? bytes(e.content ?? "") : Buffer.alloc(0);
    if (name.length > 100 || link.length > 100) {
      const pax = Buffer.concat([...(name.length > 100 ? [paxRecord("path", name)] : []), ...(link.length > 100 ? [paxRecord("linkpath", link)] : [])]);
      out.push(header(Buffer.from("PaxHeader"), "x", pax.length, 0o644, 0, Buffer.alloc(0)), pad(pax));
    }
    out.push(header(name, TYPEFLAG[e.type], content.length, e.mode ?? (e.type === "dir" ? 0o755 : 0o644), e.mtime ?? 0, link, e.uid, e.gid));
    if (content.length > 0) out.push(pad(content));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
};

const sha256 = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** One layer of a crafted image: its tar, and how to spoil it. */
export interface CraftLayer {
  readonly tar: Buffer;
  /** Stored uncompressed when false. */
  readonly gzip?: boolean;
  /** The diff_id the config claims; the tar's own by default. */
  readonly diffId?: string;
  /** Changes the stored blob after it is made (its digest is taken after). */
  readonly spoil?: (blob: Buffer) => Buffer;
}

/** What a crafted image looks like besides its layers. */
export interface CraftImage {
  readonly layers: ReadonlyArray<CraftLayer>;
  /** Merged over a valid config (`config` over `{ Cmd: ["/bin/sh"] }`). */
  readonly config?: Record<string, unknown>;
  readonly configFields?: Record<string, unknown>;
  /** Merged over the manifest. */
  readonly manifestFields?: Record<string, unknown>;
}

const blobOf = (l: CraftLayer): Buffer => {
  const stored = l.gzip === false ? l.tar : zlib.gzipSync(l.tar);
  return l.spoil === undefined ? stored : l.spoil(stored);
};

const configOf = (image: CraftImage): Buffer =>
  Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: "1970-01-01T00:00:00Z",
      config: { Cmd: ["/bin/sh"], ...image.config },
      rootfs: { type: "layers", diff_ids: image.layers.map((l) => l.diffId ?? sha256(l.tar)) },
      ...image.configFields,
    }),
  );

/** Writes an OCI layout at `dir` holding `image` under `tag`. */
export const craftOciLayout = async (dir: string, image: CraftImage, tag = "latest"): Promise<void> => {
  const blobs = path.join(dir, "blobs", "sha256");
  await fs.mkdir(blobs, { recursive: true });
  const put = async (b: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha256(b);
    await fs.writeFile(path.join(blobs, digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const config = await put(configOf(image));
  const layers = [];
  for (const l of image.layers) {
    layers.push({ mediaType: l.gzip === false ? "application/vnd.oci.image.layer.v1.tar" : "application/vnd.oci.image.layer.v1.tar+gzip", ...(await put(blobOf(l))) });
  }
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers,
        ...image.manifestFields,
      }),
    ),
  );
  await fs.writeFile(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await fs.writeFile(
    path.join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }] }),
  );
};

/** Writes a docker archive (`docker save` format) holding `image`; `members` adds raw members. */
export const craftDockerArchive = async (file: string, image: CraftImage, members: ReadonlyArray<CraftEntry> = []): Promise<void> => {
  const config = configOf(image);
  const layerNames = image.layers.map((_, i) => `layer${i}.tar`);
  const manifest = [{ Config: "config.json", RepoTags: ["localhost/crafted:latest"], Layers: layerNames }];
  await fs.writeFile(
    file,
    craftTar([
      { name: "manifest.json", type: "file", content: JSON.stringify(manifest) },
      { name: "config.json", type: "file", content: config },
      ...image.layers.map((l, i) => ({ name: layerNames[i]!, type: "file" as const, content: blobOf(l) })),
      ...members,
    ]),
  );
};

/** Every path under `dir` with its type, mode, size, mtime and link target: what a canary compares. */
export const snapshotTree = async (dir: string): Promise<ReadonlyArray<string>> => {
  const out: string[] = [];
  const walk = async (p: string, rel: string): Promise<void> => {
    const st = await fs.lstat(p);
    const kind = st.isDirectory() ? "d" : st.isSymbolicLink() ? `l->${await fs.readlink(p)}` : st.isFile() ? `f:${(await fs.readFile(p)).toString("hex")}` : "o";
    out.push(`${rel} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${st.nlink}`);
    if (st.isDirectory()) for (const n of (await fs.readdir(p)).sort()) await walk(path.join(p, n), `${rel}/${n}`);
  };
  await walk(dir, ".");
  return out;
};
