/**
 * A store blob damaged on disk is never served: a cache hit hashes what it has not
 * hashed since the file last changed, every copy out of the store is hashed as it is
 * written, and no output shares its bytes with the store, so damage to the store cannot
 * reach an output written before.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestHex } from "../src/core/index.ts";
import { REPO, runLading } from "./support/cli.ts";
import { validateImage } from "./support/validate.ts";

const SPEC = path.join(REPO, "test/fixtures/good/tiny.ts");

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-integrity-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const build = (store: string, ...outs: string[]) => runLading(["build", SPEC, "--no-check", "--store", store, ...outs.flatMap((o) => ["--out", o])]);

/** The layer blob of the only layer of an OCI layout's `latest` image. */
const layerOf = async (dir: string): Promise<string> => {
  const index = JSON.parse(await fs.readFile(path.join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(await fs.readFile(path.join(dir, "blobs/sha256", digestHex(index.manifests[0]!.digest as `sha256:${string}`)), "utf8")) as {
    layers: { digest: `sha256:${string}` }[];
  };
  return manifest.layers[0]!.digest;
};

/** Flips one byte in the middle of a file, in place, as a failing disk would. */
const flipByte = async (file: string): Promise<void> => {
  const h = await fs.open(file, "r+");
  try {
    const { size } = await h.stat();
    const b = Buffer.alloc(1);
    await h.read(b, 0, 1, Math.floor(size / 2));
    b[0] = b[0]! ^ 0x20;
    await h.write(b, 0, 1, Math.floor(size / 2));
  } finally {
    await h.close();
  }
};

describe("a damaged store blob", () => {
  it("is rebuilt on the next build, and the output written before is not damaged with it", async () => {
    const store = path.join(work, "s1");
    const first = await build(store, `oci:${path.join(work, "a")}`);
    expect(first.code).toBe(0);
    const digest = first.stdout.trim();
    const layer = await layerOf(path.join(work, "a"));
    const stored = path.join(store, "blobs/sha256", digestHex(layer as `sha256:${string}`));
    // The output's blob is a file of its own.
    const [inStore, inOutput] = await Promise.all([fs.stat(stored), fs.stat(path.join(work, "a/blobs/sha256", digestHex(layer as `sha256:${string}`)))]);
    expect(inOutput.ino).not.toBe(inStore.ino);
    expect(inStore.nlink).toBe(1);

    await flipByte(stored);
    const second = await build(store, `oci:${path.join(work, "b")}`, `docker-archive:${path.join(work, "b.tar")}`);
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe(digest);
    await validateImage(`oci:${path.join(work, "a")}:latest`);
    await validateImage(`oci:${path.join(work, "b")}:latest`);
    await validateImage(`docker-archive:${path.join(work, "b.tar")}`);
  });

  it("whose verified record still matches (damage below the file system) is caught by the copy's hash, removed, and rebuilt by the next run", async () => {
    const store = path.join(work, "s2");
    const first = await build(store, `oci:${path.join(work, "c")}`);
    expect(first.code).toBe(0);
    const layer = (await layerOf(path.join(work, "c"))) as `sha256:${string}`;
    const stored = path.join(store, "blobs/sha256", digestHex(layer));
    const record = path.join(store, "verified", digestHex(layer));
    // Damage that leaves no trace in the file's times: the record is made to match again.
    const before = (await fs.readFile(record, "utf8")).split(" ");
    await flipByte(stored);
    const st = await fs.stat(stored, { bigint: true });
    expect(before[1]).toBe(String(st.ino));
    await fs.writeFile(record, `${st.size} ${st.ino} ${st.mtimeNs} ${st.ctimeNs}`);

    for (const out of [`oci:${path.join(work, "d")}`, `oci-archive:${path.join(work, "d.tar")}`]) {
      const damaged = await build(store, out);
      expect(damaged.code).toBe(1);
      expect(damaged.stderr).toContain(`the store's blob ${layer} is damaged`);
      expect(damaged.stderr).not.toMatch(/\n\s+at /);
      expect(await fs.readdir(work)).not.toContain(path.basename(out.slice(out.indexOf(":") + 1)));
      // Removed from the store: the next run builds it again.
      const again = await build(store, out);
      expect(again.code).toBe(0);
      expect(again.stdout.trim()).toBe(first.stdout.trim());
      await validateImage(out.startsWith("oci:") ? `${out}:latest` : out);
      await flipByte(stored);
      const st2 = await fs.stat(stored, { bigint: true });
      await fs.writeFile(record, `${st2.size} ${st2.ino} ${st2.mtimeNs} ${st2.ctimeNs}`);
    }
  });

  it("is imported again by lading copy from a layout that has it right", async () => {
    const store = path.join(work, "s3");
    const first = await build(path.join(work, "s3-build"), `oci:${path.join(work, "e")}`);
    expect(first.code).toBe(0);
    const copied = await runLading(["copy", "--store", store, `oci:${path.join(work, "e")}`, `oci:${path.join(work, "f")}`]);
    expect(copied.code).toBe(0);
    const layer = (await layerOf(path.join(work, "e"))) as `sha256:${string}`;
    await flipByte(path.join(store, "blobs/sha256", digestHex(layer)));
    const again = await runLading(["copy", "--store", store, `oci:${path.join(work, "e")}`, `docker-archive:${path.join(work, "g.tar")}`]);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    await validateImage(`docker-archive:${path.join(work, "g.tar")}`);
    await validateImage(`oci:${path.join(work, "f")}:latest`);
  });
});

describe("what a base layer unpacks to", () => {
  it("is found once and recorded by the blob's digest; a record naming another diff_id refuses the layer", async () => {
    const built = await build(path.join(work, "s4-build"), `oci:${path.join(work, "h")}`);
    expect(built.code).toBe(0);
    const store = path.join(work, "s4");
    // Copied from a layout, the layer is one lading did not build: its diff_id is checked.
    expect((await runLading(["copy", "--store", store, `oci:${path.join(work, "h")}`, `oci:${path.join(work, "i")}`])).code).toBe(0);
    const layer = (await layerOf(path.join(work, "h"))) as `sha256:${string}`;
    const recordFile = path.join(store, "unpacked", `${digestHex(layer)}.gzip.json`);
    const record = JSON.parse(await fs.readFile(recordFile, "utf8")) as { diffId: string; uncompressedSize: number };
    const inspected = await runLading(["inspect", `oci:${path.join(work, "h")}:latest`, "--json"]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(record.diffId);
    expect(record.uncompressedSize % 512).toBe(0);
    // The next write reads the record, not the layer: a record that says otherwise is believed, and refuses.
    const other = `sha256:${"0".repeat(64)}`;
    await fs.writeFile(recordFile, JSON.stringify({ ...record, diffId: other }));
    const refused = await runLading(["copy", "--store", store, `oci:${path.join(work, "h")}`, `docker-archive:${path.join(work, "j.tar")}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`does not unpack to its diff_id ${record.diffId} (it unpacks to ${other})`);
    await expect(fs.access(path.join(work, "j.tar"))).rejects.toThrow();
  });
});

describe("what a layer blob unpacks to, read one way", () => {
  it("says nothing of the same blob read the other way: a gzip blob given as a plain tar and then as gzip is checked as each", async () => {
    const { openStore } = await import("../src/store/index.ts");
    const { verifyDiffId } = await import("../src/sink/blobs.ts");
    const { fileLayer, OCI_LAYER_GZIP, OCI_LAYER_TAR } = await import("../src/oci/index.ts");
    const { digestOf } = await import("../src/core/index.ts");
    const zlib = await import("node:zlib");
    const store = await openStore(path.join(work, "s6"));
    const tarBytes = Buffer.alloc(1024);
    const blob = zlib.gzipSync(tarBytes);
    const digest = await store.putBlob(blob);
    const as = (mediaType: string, diffId: `sha256:${string}`) => fileLayer({ mediaType, digest, size: blob.byteLength }, diffId, async () => store.blobPath(digest));
    // Read as a plain tar, the blob is its own tar: its diff_id is its digest.
    expect(await verifyDiffId(store, as(OCI_LAYER_TAR, digest), "none")).toBe(blob.byteLength);
    // Read as gzip, the same blob unpacks to another tar: a config claiming the blob's digest lies.
    await expect(verifyDiffId(store, as(OCI_LAYER_GZIP, digest), "gzip")).rejects.toThrow(`does not unpack to its diff_id ${digest} (it unpacks to ${digestOf(tarBytes)})`);
    expect(await verifyDiffId(store, as(OCI_LAYER_GZIP, digestOf(tarBytes)), "gzip")).toBe(1024);
  });
});
