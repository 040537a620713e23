/**
 * zstd layers: `build --compression zstd` makes them, reproducibly, and every reader and
 * sink reads them (bundle, docker-archive, inspect, diff), as podman does; a zstd base
 * from a registry is built on; host archives compressed with zstd are extracted. The
 * decoder is checked against the zstd tool, and refuses frames beyond zstd's own limits.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeterministicZstd } from "../src/build/zstd.ts";
import { createZstdDecoder } from "../src/core/index.ts";
import { BIN, mustRun, REPO, run, runLading } from "./support/cli.ts";
import type { Registry } from "./support/registry.ts";
import { startRegistry } from "./support/registry.ts";
import { PODMAN_RUN, requireTool } from "./support/tools.ts";
import { validateImage } from "./support/validate.ts";

const OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

let work: string;

beforeAll(async () => {
  requireTool("zstd");
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-zstd-"));
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** What the decoder makes of `input`, fed in chunks of `chunk` bytes. */
const decode = async (input: Buffer, chunk = 4096): Promise<Buffer> => {
  const parts: Buffer[] = [];
  const pieces = function* (): Generator<Buffer> {
    for (let i = 0; i < input.length; i += chunk) yield input.subarray(i, i + chunk);
  };
  await pipeline(Readable.from(pieces()), createZstdDecoder(), async function* (source: AsyncIterable<Buffer>) {
    for await (const p of source) parts.push(p);
  });
  return Buffer.concat(parts);
};

/**
 * The zstd tool's output for `input` with `args`: read from a pipe, its frames do not
 * give their content size (decoded as a stream); from a file (`sized`), they do (decoded
 * whole).
 */
const zstdTool = (input: Buffer, args: ReadonlyArray<string>, sized = false): Buffer => {
  const file = path.join(work, "tool-input");
  if (sized) writeFileSync(file, input);
  const r = spawnSync("zstd", [...args, "-c", ...(sized ? [file] : [])], { ...(sized ? {} : { input }), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout;
};

/** Bytes that compress somewhat, as files do: words and numbers, with a seed. */
const sample = (size: number, seed: number): Buffer => {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24 < 64 ? 97 + ((x >>> 16) % 26) : 32 + ((i * 7 + (x >>> 28)) % 64);
  }
  return out;
};

describe("zstd decoding", () => {
  it("decodes what the zstd tool writes: levels, a long window, checksums, several frames and skippable ones", async () => {
    const input = sample(3 << 20, 1);
    for (const args of [["-1"], ["-3", "--no-check"], ["-19"]]) {
      expect((await decode(zstdTool(input, args), 65536)).equals(input), `${args.join(" ")}, streamed`).toBe(true);
      expect((await decode(zstdTool(input, args, true), 65536)).equals(input), `${args.join(" ")}, sized`).toBe(true);
    }
    // A long window with the content's size is decoded whole; written as a stream, it is refused.
    expect((await decode(zstdTool(input, ["--long=27", "-3"], true), 65536)).equals(input)).toBe(true);
    await expect(decode(zstdTool(input, ["--long=27", "-3"]))).rejects.toThrow(/zstd: a frame written as a stream needs a window of 134217728 bytes/);
    // A frame larger than the 8 MiB decoded whole, with its size: streamed.
    const large = sample(9 << 20, 6);
    expect((await decode(zstdTool(large, ["-1"], true), 1 << 20)).equals(large)).toBe(true);
    // Frames one after another, with a skippable frame between, read in one-byte pieces.
    const a = sample(5000, 2);
    const b = sample(7000, 3);
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from([3, 0, 0, 0]), Buffer.from("abc")]);
    const joined = Buffer.concat([zstdTool(a, ["-3"], true), skippable, zstdTool(b, ["-9"])]);
    expect((await decode(joined, 1)).equals(Buffer.concat([a, b]))).toBe(true);
    // A small streamed frame, then a sized one, in one chunk: in their order.
    const order = Buffer.concat([zstdTool(Buffer.from("abc"), ["-3"]), zstdTool(Buffer.from("def"), ["-3"], true), zstdTool(Buffer.from("ghi"), ["-3"])]);
    expect((await decode(order, order.length)).toString()).toBe("abcdefghi");
  });

  it("gives what it decodes only as fast as it is read: a bomb of frames does not fill memory", async () => {
    // 64 frames of 8 MiB of zeros each, a few hundred bytes compressed: 512 MiB from one small chunk.
    const zeros = zstdTool(Buffer.alloc(8 << 20), ["-19"], true);
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => zeros));
    expect(bomb.length).toBeLessThan(64 * 4096);
    const decoder = createZstdDecoder();
    decoder.end(bomb);
    let read = 0;
    for await (const part of decoder) {
      read += (part as Buffer).length;
      // Held ahead of the reader: at most about a frame, whatever the input said.
      expect(decoder.readableLength).toBeLessThanOrEqual(16 << 20);
      if (read >= 32 << 20) break;
    }
    expect(read).toBeGreaterThanOrEqual(32 << 20);
    expect(process.memoryUsage().rss).toBeLessThan(1 << 30);
  });

  it("refuses a streamed frame of tiny blocks under a large window quickly, as decoding it would take hours", async () => {
    // No content size, an 8 MiB window, then 20,000 raw blocks of one byte each.
    const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3]);
    const block = Buffer.from([1 << 3, 0, 0, 0x41]);
    const last = Buffer.from([(1 << 3) | 1, 0, 0, 0x42]);
    const frame = Buffer.concat([header, ...Array.from({ length: 20_000 }, () => block), last]);
    const started = Date.now();
    await expect(decode(frame, 65536)).rejects.toThrow(/zstd: a frame's blocks are too small for its 8388608-byte window/);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The same blocks under a 1 KiB window cost little: decoded.
    const small = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00]), ...Array.from({ length: 20_000 }, () => block), last]);
    expect((await decode(small, 4096)).toString()).toBe(`${"A".repeat(20_000)}B`);
  });

  it("refuses a window over 128 MiB, a dictionary, data cut short and data that is not zstd, with an error and no crash", async () => {
    // A frame header asking for a 2 GiB window (window descriptor exponent 21: 2^31).
    const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00]);
    await expect(decode(huge)).rejects.toThrow(/zstd: a frame needs a window of 2147483648 bytes/);
    // The same frame, its content size declaring the window (single segment), 1 GiB.
    const sized = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00]);
    await expect(decode(sized)).rejects.toThrow(/zstd: a frame needs a window of 1073741824 bytes/);
    // A dictionary id of 7.
    await expect(decode(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x50, 0x07, 0x01, 0x00, 0x00]))).rejects.toThrow(/zstd: a frame needs dictionary 7/);
    const whole = zstdTool(sample(200_000, 4), ["-3"]);
    await expect(decode(whole.subarray(0, whole.length - 10))).rejects.toThrow(/zstd: the data ends inside a frame/);
    await expect(decode(Buffer.concat([whole, Buffer.from("trailing")]))).rejects.toThrow(/zstd: data after the last frame is not a zstd frame/);
    await expect(decode(Buffer.from("plain text, not zstd"))).rejects.toThrow(/zstd: not zstd data/);
    // A sized frame whose blocks are damaged: libzstd refuses it (its checksum or its data).
    const compressed = zstdTool(sample(300_000, 7), ["-3"], true);
    const damaged = Buffer.from(compressed);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    await expect(decode(damaged)).rejects.toThrow(/zstd: /);
    await expect(decode(Buffer.alloc(0))).rejects.toThrow(/zstd: no zstd frame/);
  });
});

describe("zstd compression", () => {
  it("writes 1 MiB frames the zstd tool reads, the same bytes however many layers compress at once", async () => {
    const input = sample((5 << 20) + 12345, 5);
    const compress = async (): Promise<Buffer> => {
      const parts: Buffer[] = [];
      await pipeline(Readable.from([input.subarray(0, 1000), input.subarray(1000)]), createDeterministicZstd(), async function* (source: AsyncIterable<Buffer>) {
        for await (const p of source) parts.push(p);
      });
      return Buffer.concat(parts);
    };
    const alone = await compress();
    const together = await Promise.all([compress(), compress(), compress()]);
    for (const t of together) expect(t.equals(alone)).toBe(true);
    const r = spawnSync("zstd", ["-d", "-c"], { input: alone, maxBuffer: 1 << 30 });
    expect(r.status).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
    expect((await decode(alone, 100_000)).equals(input)).toBe(true);
    // Six frames: five whole MiB and the rest.
    await fs.writeFile(path.join(work, "frames.zst"), alone);
    const frames = spawnSync("zstd", ["-lv", path.join(work, "frames.zst")]).stdout.toString();
    expect(frames).toMatch(/# Zstandard Frames: 6\b/);
  });
});

describe("build --compression zstd", () => {
  let layout: string;
  let digest: string;

  beforeAll(async () => {
    layout = path.join(work, "hello-zstd");
    const r = await runLading(["build", "examples/hello/lading.ts", "--compression", "zstd", "--store", path.join(work, "store-a"), "--out", `oci:${layout}:latest`, "--out", `docker-archive:${work}/hello-zstd.tar:localhost/hello-zstd:latest`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    digest = r.stdout.trim();
  });

  it("gives the same digest from another store, and another than gzip's", async () => {
    const again = await runLading(["build", "examples/hello/lading.ts", "--compression", "zstd", "--no-check", "--store", path.join(work, "store-b"), "--out", `oci:${work}/again:latest`]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(digest);
    const gzip = await runLading(["build", "examples/hello/lading.ts", "--no-check", "--store", path.join(work, "store-b"), "--out", `oci:${work}/gzip:latest`]);
    expect(gzip.code).toBe(0);
    expect(gzip.stdout.trim()).not.toBe(digest);
    // Every layer's cache key differs with the compression, so neither build takes the other's layers.
    const keys = async (compression: string): Promise<string[]> =>
      (JSON.parse((await runLading(["plan", "examples/hello/lading.ts", "--no-check", "--json", "--compression", compression, "--store", path.join(work, "store-b")])).stdout) as { layers: Array<{ cacheKey: string }> }).layers.map((l) => l.cacheKey);
    const [zstdKeys, gzipKeys] = [await keys("zstd"), await keys("gzip")];
    expect(zstdKeys).toHaveLength(2);
    for (const [i, k] of zstdKeys.entries()) expect(k).not.toBe(gzipKeys[i]);
    // One core, so one compressing worker: the same bytes.
    requireTool("taskset");
    const oneCore = await run("taskset", ["-c", "0", process.execPath, BIN, "build", "examples/hello/lading.ts", "--compression", "zstd", "--no-check", "--store", path.join(work, "store-one-core"), "--out", `oci:${work}/one-core:latest`]);
    expect(oneCore.stderr).toBe("");
    expect(oneCore.stdout.trim()).toBe(digest);
  });

  it("writes zstd layers that inspect and podman read, through an OCI layout and a docker archive", async () => {
    const { image } = await validateImage(`oci:${layout}:latest`);
    expect(image.layers.map((l) => l.mediaType)).toEqual([OCI_ZSTD, OCI_ZSTD]);
    for (const l of image.layers) {
      const blob = path.join(layout, "blobs", "sha256", l.digest.slice("sha256:".length));
      await mustRun("zstd", ["-t", "-q", blob]);
    }
    requireTool("skopeo");
    requireTool("podman");
    await mustRun("skopeo", ["copy", "-q", `oci:${layout}:latest`, "containers-storage:localhost/hello-zstd-oci:latest"]);
    const ran = await mustRun("podman", [...PODMAN_RUN, "localhost/hello-zstd-oci:latest"]);
    expect(ran.stdout).toContain("Hello from lading!");
    // The docker archive holds the layers unpacked: podman loads it as it does any other.
    const loaded = await mustRun("podman", ["load", "-q", "-i", path.join(work, "hello-zstd.tar")]);
    expect(loaded.stdout).toContain("localhost/hello-zstd:latest");
    const ranLoaded = await mustRun("podman", [...PODMAN_RUN, "localhost/hello-zstd:latest"]);
    expect(ranLoaded.stdout).toContain("Hello from lading!");
  });

  it("unpacks zstd layers into a bundle and compares them with diff", async () => {
    const bundle = path.join(work, "bundle");
    const r = await runLading(["copy", `oci:${layout}:latest`, `bundle:${bundle}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await fs.readFile(path.join(bundle, "rootfs", "etc", "greeting"), "utf8")).toContain("Hello from lading!");
    // diff compares what layers unpack to (their diff_ids), as it does an image and its
    // docker archive: the same image compressed otherwise has no differences.
    const diff = await runLading(["diff", `oci:${layout}:latest`, `oci:${work}/gzip:latest`]);
    expect(diff.stdout).toContain("no differences");
    expect(diff.code).toBe(0);
  });

  it("refuses a compression it does not know, naming the flag", async () => {
    const r = await runLading(["build", "examples/hello/lading.ts", "--no-check", "--compression", "lz4", "--out", `oci:${work}/never:x`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--compression lz4: expected gzip or zstd");
    await expect(fs.access(path.join(work, "never"))).rejects.toThrow();
  });
});

describe("zstd from elsewhere", () => {
  let registry: Registry;

  beforeAll(async () => {
    registry = await startRegistry(path.join(work, "registry"));
  });

  afterAll(async () => {
    await registry?.stop();
  });

  it("builds on a base whose layers skopeo pushed as zstd, into a bundle and a docker archive", async () => {
    requireTool("skopeo");
    const gzipLayout = path.join(work, "hello-gzip");
    const built = await runLading(["build", "examples/hello/lading.ts", "--no-check", "--store", path.join(work, "store-c"), "--out", `oci:${gzipLayout}:latest`]);
    expect(built.code).toBe(0);
    const base = `${registry.host}/library/hello:zstd`;
    await mustRun("skopeo", ["copy", "-q", "--dest-tls-verify=false", "--dest-compress-format", "zstd", `oci:${gzipLayout}:latest`, `docker://${base}`]);
    const dir = path.join(work, "on-zstd");
    await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
    await fs.writeFile(
      path.join(dir, "lading.ts"),
      `import { Entry, Image, Layer, pipe } from "lading";\nexport const app = pipe(Image.pull("${base}"), Image.withLayer(Layer.make("note", [Entry.file("/note", "on zstd\\n")])));\n`,
    );
    const bundle = path.join(work, "on-zstd-bundle");
    const r = await runLading(["build", path.join(dir, "lading.ts"), "--no-check", "--store", path.join(work, "store-d"), "--out", `bundle:${bundle}`, "--out", `docker-archive:${work}/on-zstd.tar`, "--out", `oci:${work}/on-zstd-oci:latest`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await fs.readFile(path.join(bundle, "rootfs", "etc", "greeting"), "utf8")).toContain("Hello from lading!");
    expect(await fs.readFile(path.join(bundle, "rootfs", "note"), "utf8")).toBe("on zstd\n");
    const { image } = await validateImage(`oci:${work}/on-zstd-oci:latest`);
    expect(image.layers.map((l) => l.mediaType)).toEqual([OCI_ZSTD, OCI_ZSTD, "application/vnd.oci.image.layer.v1.tar+gzip"]);
    const listed = await run("tar", ["-tf", path.join(work, "on-zstd.tar")]);
    expect(listed.code).toBe(0);
  });

  it("reads a docker archive whose layers are zstd, as docker save writes them from a zstd store", async () => {
    const archive = path.join(work, "plain.tar");
    const built = await runLading(["build", "examples/hello/lading.ts", "--no-check", "--store", path.join(work, "store-f"), "--out", `docker-archive:${archive}`]);
    expect(built.code).toBe(0);
    const dir = path.join(work, "zstd-archive");
    await fs.mkdir(dir);
    await mustRun("tar", ["-xf", archive, "-C", dir]);
    const manifest = JSON.parse(await fs.readFile(path.join(dir, "manifest.json"), "utf8")) as Array<{ Layers: string[] }>;
    for (const layer of manifest[0]!.Layers) {
      await mustRun("zstd", ["-q", "-3", path.join(dir, layer), "-o", path.join(dir, `${layer}.zst`)]);
      await fs.rename(path.join(dir, `${layer}.zst`), path.join(dir, layer));
    }
    const zstdArchive = path.join(work, "zstd-layers.tar");
    await mustRun("tar", ["-cf", zstdArchive, "-C", dir, ...(await fs.readdir(dir)).sort()]);
    const copied = await runLading(["copy", `docker-archive:${zstdArchive}`, `oci:${work}/from-zstd-archive:latest`]);
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    const { image } = await validateImage(`oci:${work}/from-zstd-archive:latest`);
    expect(image.layers.map((l) => l.mediaType)).toEqual([OCI_ZSTD, OCI_ZSTD]);
    const bundle = await runLading(["copy", `docker-archive:${zstdArchive}`, `bundle:${work}/from-zstd-archive-bundle`]);
    expect(bundle.code).toBe(0);
    expect(await fs.readFile(path.join(work, "from-zstd-archive-bundle", "rootfs", "etc", "greeting"), "utf8")).toContain("Hello from lading!");
  });

  it("extracts a host archive compressed with zstd, as Entry.archive does gzip and xz", async () => {
    const dir = path.join(work, "archive");
    await fs.mkdir(path.join(dir, "src", "app"), { recursive: true });
    await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
    await fs.writeFile(path.join(dir, "src", "app", "run.sh"), "#!/bin/sh\necho zstd\n", { mode: 0o755 });
    await mustRun("tar", ["--zstd", "-cf", path.join(dir, "app.tar.zst"), "-C", path.join(dir, "src"), "app"]);
    await fs.writeFile(path.join(dir, "lading.ts"), `import { Entry, Image, Layer, pipe } from "lading";\nexport const app = pipe(Image.scratch, Image.withLayer(Layer.make("app", [Entry.archive("app.tar.zst", "/opt")])));\n`);
    const r = await runLading(["plan", path.join(dir, "lading.ts"), "--no-check", "--files", "--store", path.join(work, "store-e")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\/opt\/app\/run\.sh/);
  });
});
