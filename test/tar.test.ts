/**
 * The layer tar writer against tar-stream's pack, which wrote every layer before: the
 * same entries must give the same bytes, whatever the header needs (a prefix, PAX for a
 * long or non-ASCII name or link), the body's padding, and chunks filled past 1 MiB.
 */
import { buffer } from "node:stream/consumers";
import * as tar from "tar-stream";
import { describe, expect, it } from "vitest";
import type { Digest, ImagePath } from "../src/core/index.ts";
import { digestOf } from "../src/core/index.ts";
import type { PlannedEntry, PlannedLayer } from "../src/plan/index.ts";
import { tarStream, writeLayerTar } from "../src/build/tar.ts";

const CREATED = 1_700_000_000;

const inline = new Map<Digest, Uint8Array>();
const file = (path: string, size: number, mode = 0o644, uid = 0): PlannedEntry => {
  const bytes = Buffer.alloc(size, path.length % 251);
  const digest = digestOf(bytes);
  inline.set(digest, bytes);
  return { path: path as ImagePath, type: "file", mode, uid, gid: uid, size, digest, source: "inline" };
};

const long = (n: number): string => Array.from({ length: n }, (_, i) => `dir-${String(i).padStart(3, "0")}`).join("/");

const entries: ReadonlyArray<PlannedEntry> = [
  { path: "/a" as ImagePath, type: "dir", mode: 0o755, uid: 0, gid: 0 },
  file("/a/empty", 0),
  file("/a/511", 511, 0o600, 1000),
  file("/a/512", 512, 0),
  file("/a/513", 513, 0o4755),
  { path: `/${long(12)}` as ImagePath, type: "dir", mode: 0o700, uid: 65534, gid: 65534 },
  file(`/${long(12)}/in-prefix`, 10),
  file(`/${long(40)}/needs-pax`, 3),
  file("/a/naïve-ünïcode", 7),
  { path: "/a/link" as ImagePath, type: "symlink", mode: 0o777, uid: 0, gid: 0, target: "../511" },
  { path: "/a/empty-link" as ImagePath, type: "symlink", mode: 0o777, uid: 0, gid: 0, target: "" },
  { path: "/a/long-link" as ImagePath, type: "symlink", mode: 0o777, uid: 0, gid: 0, target: `/${long(20)}` },
  { path: "/a/hard" as ImagePath, type: "hardlink", mode: 0o644, uid: 0, gid: 0, target: "/a/511" },
  // Past one chunk: a body is split across two.
  file("/big", (1 << 20) + 700),
  file("/after-big", 100),
];

const layer: PlannedLayer = { name: "tricky", entries, contentSize: 0, cacheKey: digestOf("tricky") };

/** The layer as tar-stream's pack wrote it: one entry at a time, each with its body. */
const packed = async (): Promise<Buffer> => {
  const pack = tar.pack();
  const out = buffer(pack as unknown as NodeJS.ReadableStream);
  const mtime = new Date(CREATED * 1000);
  const add = (header: Partial<tar.Header> & Pick<tar.Header, "name">, body?: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (e?: Error | null): void => (e ? reject(e) : resolve());
      if (body === undefined) pack.entry(header, done);
      else pack.entry(header, Buffer.from(body), done);
    });
  for (const e of entries) {
    const common = { name: e.path.slice(1), uid: e.uid, gid: e.gid, mtime };
    if (e.type === "file") await add({ ...common, type: "file", mode: 0o100000 | e.mode, size: e.size ?? 0 }, inline.get(e.digest!));
    else if (e.type === "dir") await add({ ...common, type: "directory", mode: 0o040000 | e.mode });
    else if (e.type === "symlink") await add({ ...common, type: "symlink", mode: 0o120000 | 0o777, linkname: e.target ?? "" });
    else await add({ ...common, type: "link", mode: 0o100000 | 0o644, linkname: (e.target ?? "/").slice(1) });
  }
  pack.finalize();
  return out;
};

describe("the layer tar writer", () => {
  it("writes the bytes tar-stream's pack wrote for the same entries", async () => {
    const out = tarStream();
    const written = buffer(out.stream);
    await writeLayerTar(out, layer, { specDir: "/nonexistent", inline }, CREATED);
    const mine = await written;
    const theirs = await packed();
    expect(mine.byteLength).toBe(theirs.byteLength);
    expect(digestOf(mine)).toBe(digestOf(theirs));
    // Something needed PAX: the test covers what it says.
    expect(mine.includes(Buffer.from(" path="))).toBe(true);
    expect(mine.includes(Buffer.from(" linkpath="))).toBe(true);
  });

  it("fails a write once the reader has closed the stream, instead of waiting for it", async () => {
    const out = tarStream();
    out.stream.destroy();
    await expect(writeLayerTar(out, layer, { specDir: "/nonexistent", inline }, CREATED)).rejects.toThrow("the layer stream was closed");
  });
});
