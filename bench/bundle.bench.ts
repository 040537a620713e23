/**
 * The bundle benchmark: one layer of 200,000 small files (BENCH_FILES to change it) in an
 * OCI layout, unpacked by `lading copy oci:... bundle:...` and by GNU `tar -xzf` of the
 * same layer blob, side by side, alternating, each into a new directory (all kept until
 * the end). Prints the median wall-clock and CPU seconds, the ratios, and both peak RSS
 * (GNU time).
 *
 * A measurement, not a test: a missed target still exits 0; a failing command exits 1.
 *
 *   npm run bench:bundle
 *   BENCH_FILES=50000 BENCH_RUNS=5 npm run bench:bundle
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as zlib from "node:zlib";
import * as tar from "tar-stream";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORK = path.join(ROOT, "bench", ".work", "bundle");
const FILES = Number(process.env["BENCH_FILES"] ?? "200000");
const RUNS = Number(process.env["BENCH_RUNS"] ?? "3");
const LADING = path.join(ROOT, "bin", "lading.js");

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** A layer of FILES files of 0 to 511 bytes in 1 + FILES/200 directories, always the same bytes. */
const makeLayer = async (): Promise<Buffer> => {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve) => pack.on("end", resolve));
  const dirs = Math.max(1, Math.floor(FILES / 200));
  const entry = (header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      if (body === undefined) pack.entry(header, (e) => (e ? reject(e) : resolve()));
      else pack.entry(header, body, (e) => (e ? reject(e) : resolve()));
    });
  await entry({ name: "data/", type: "directory", mode: 0o755, mtime: new Date(0) });
  let seed = 12345;
  for (let d = 0; d < dirs; d++) {
    await entry({ name: `data/d${d}/`, type: "directory", mode: 0o755, mtime: new Date(0) });
    for (let f = d; f < FILES; f += dirs) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const body = Buffer.alloc(seed % 512, `file ${f} `);
      await entry({ name: `data/d${d}/f${f}.txt`, type: "file", mode: 0o644, mtime: new Date(0), size: body.length }, body);
    }
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
};

const writeLayout = (dir: string, tarBytes: Buffer): string => {
  const gz = zlib.gzipSync(tarBytes, { level: 6 });
  const blobs = path.join(dir, "blobs", "sha256");
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): { digest: string; size: number } => {
    const hex = sha256(b);
    fs.writeFileSync(path.join(blobs, hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const layer = put(gz);
  const config = put(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"] }, rootfs: { type: "layers", diff_ids: [`sha256:${sha256(tarBytes)}`] } })));
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
      }),
    ),
  );
  fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest }] }));
  return path.join(blobs, layer.digest.slice(7));
};

/** Runs a command under GNU time: wall seconds, CPU seconds (user + system) and peak RSS in MiB. */
const timed = (cmd: string, args: ReadonlyArray<string>): { seconds: number; cpu: number; rssMiB: number } => {
  const report = path.join(WORK, "time.txt");
  execFileSync("/usr/bin/time", ["-f", "%e %U %S %M", "-o", report, cmd, ...args], { stdio: ["ignore", "ignore", "inherit"] });
  const [wall, user, sys, rss] = fs.readFileSync(report, "utf8").trim().split("\n").pop()!.split(" ").map(Number) as [number, number, number, number];
  return { seconds: wall, cpu: user + sys, rssMiB: rss / 1024 };
};

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const main = async (): Promise<void> => {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const layout = path.join(WORK, "image");
  const blob = writeLayout(layout, await makeLayer());
  const store = path.join(WORK, "store");
  // The first copy fills the store; the timed ones measure the bundle alone.
  execFileSync(process.execPath, [LADING, "copy", "--store", store, `oci:${layout}`, `bundle:${path.join(WORK, "warm")}`], { stdio: ["ignore", "ignore", "inherit"] });
  const lading: Array<ReturnType<typeof timed>> = [];
  const gnu: Array<ReturnType<typeof timed>> = [];
  // Every tree is kept until the end: ext4 passes over the inodes freed in the last
  // minutes before it reuses one (`recently_deleted()`), 200 to 500 us a file for either
  // tool, so a tree removed between runs would have the next run measure the disk, not
  // the tools. The order alternates (lading first, then tar first) for the same reason.
  for (let i = 0; i < RUNS; i++) {
    const runLading = (): void => {
      lading.push(timed(process.execPath, [LADING, "copy", "--store", store, `oci:${layout}`, `bundle:${path.join(WORK, `bundle-${i}`)}`]));
    };
    const runTar = (): void => {
      const t = path.join(WORK, `tar-${i}`);
      fs.mkdirSync(t);
      gnu.push(timed("tar", ["-xzf", blob, "-C", t]));
    };
    if (i % 2 === 0) {
      runLading();
      runTar();
    } else {
      runTar();
      runLading();
    }
  }
  const show = (name: string, rs: ReadonlyArray<ReturnType<typeof timed>>): string =>
    `  ${name.padEnd(26)}${median(rs.map((r) => r.seconds)).toFixed(2)} s wall, ${median(rs.map((r) => r.cpu)).toFixed(2)} s CPU, peak RSS ${Math.max(...rs.map((r) => r.rssMiB)).toFixed(0)} MiB`;
  console.log(`bundle of one layer of ${FILES} files, ${RUNS} runs each, alternating, medians:`);
  console.log(show("lading copy oci: bundle:", lading));
  console.log(show("tar -xzf (GNU)", gnu));
  // CPU time too: on a shared machine, wall time follows the neighbours' disk use.
  const ratio = (f: (r: ReturnType<typeof timed>) => number): string => (median(lading.map(f)) / median(gnu.map(f))).toFixed(2);
  console.log(`  lading / tar: ${ratio((r) => r.seconds)}x wall, ${ratio((r) => r.cpu)}x CPU (target: 1.00x or less)`);
  fs.rmSync(WORK, { recursive: true, force: true });
};

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
