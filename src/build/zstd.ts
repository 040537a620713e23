/**
 * Deterministic, parallel zstd, for layers built with `--compression zstd`. The input is
 * cut into fixed 1 MiB pieces; each piece is compressed on its own into one zstd frame
 * (level 3, its size in the frame header, no checksum) on worker threads, several at
 * once, and the frames are written in order. A zstd stream may hold any number of
 * frames, which decode one after the other, so the output is one zstd stream that
 * `zstd -d`, podman, containerd and lading read.
 *
 * Each frame depends only on its piece, so the bytes are the same whatever the number
 * of workers. The compressor is libzstd compiled to WebAssembly (@bokuweb/zstd-wasm),
 * which computes the same on every machine and under every Node version, where a system
 * libzstd would differ from one distribution to the next. Its version, the level and the
 * piece size form the `compression` part of every layer cache key.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { Worker } from "node:worker_threads";
import { ZSTD_WASM_MODULE } from "../core/index.ts";

/**
 * The zstd level of zstd layers: zstd's default.
 *
 * @category model
 */
export const ZSTD_LEVEL = 3;

const FRAME = 1 << 20;

const require = createRequire(import.meta.url);
const MODULE = ZSTD_WASM_MODULE;

let id: string | undefined;

/**
 * Identifies the compressor, for cache keys.
 *
 * @category model
 */
export const zstdCompressionId = (): string => {
  // The package exports its entry point alone; its package.json is two folders above.
  id ??= `zstd-${ZSTD_LEVEL}/frame-${FRAME}/zstd-wasm-${(JSON.parse(readFileSync(path.join(path.dirname(require.resolve(MODULE)), "..", "..", "package.json"), "utf8")) as { version: string }).version}`;
  return id;
};

/**
 * What a worker runs: it loads the WebAssembly compressor from its package (see
 * {@link ZSTD_WASM_MODULE}) and compresses each piece it is sent into one frame.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const zstd = require(workerData.module);
const ready = zstd.init();
parentPort.on("message", ({ id, piece, level }) => {
  ready
    .then(() => {
      const frame = zstd.compress(piece, level);
      parentPort.postMessage({ id, frame }, [frame.buffer]);
    })
    .catch((e) => parentPort.postMessage({ id, error: String((e && e.message) || e) }));
});
`;

interface Job {
  readonly resolve: (frame: Buffer) => void;
  readonly reject: (e: Error) => void;
}

/**
 * Worker threads that compress pieces, started on first use and kept for the process's
 * life; a worker holds the process open only while it has work.
 */
class ZstdPool {
  private readonly workers: Worker[] = [];
  private readonly busy = new Map<Worker, Map<number, Job>>();
  private next = 0;
  private rr = 0;

  constructor(readonly size: number) {}

  compress(piece: Buffer): Promise<Buffer> {
    if (this.workers.length < this.size) this.start();
    const worker = this.workers[this.rr++ % this.workers.length]!;
    const jobs = this.busy.get(worker)!;
    const id = this.next++;
    return new Promise<Buffer>((resolve, reject) => {
      jobs.set(id, { resolve, reject });
      worker.ref();
      // A piece that owns its memory is handed over, not copied (cloning 1 MiB pieces was
      // most of a second of the main thread's time for a 250 MiB layer, measured); it is
      // not read here again.
      const owns = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength;
      try {
        worker.postMessage({ id, piece, level: ZSTD_LEVEL }, owns ? [piece.buffer as ArrayBuffer] : []);
      } catch (e) {
        jobs.delete(id);
        if (jobs.size === 0) worker.unref();
        reject(e as Error);
      }
    });
  }

  private start(): void {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: require.resolve(MODULE) } });
    const jobs = new Map<number, Job>();
    this.workers.push(worker);
    this.busy.set(worker, jobs);
    worker.unref();
    worker.on("message", (m: { id: number; frame?: Uint8Array; error?: string }) => {
      const job = jobs.get(m.id);
      jobs.delete(m.id);
      if (jobs.size === 0) worker.unref();
      if (job === undefined) return;
      if (m.frame !== undefined) job.resolve(Buffer.from(m.frame.buffer, m.frame.byteOffset, m.frame.byteLength));
      else job.reject(new Error(`zstd compression failed: ${m.error ?? "no reason given"}`));
    });
    // Told once, by whichever of "error" and "exit" comes first: its jobs fail, and a new
    // worker takes its place for the next piece.
    const dead = (e: Error): void => {
      for (const job of jobs.values()) job.reject(e);
      jobs.clear();
      const at = this.workers.indexOf(worker);
      if (at < 0) return;
      this.workers.splice(at, 1);
      this.busy.delete(worker);
      void worker.terminate();
    };
    worker.on("error", dead);
    worker.on("exit", (code) => dead(new Error(`a zstd worker stopped (exit code ${code})`)));
  }
}

let pool: ZstdPool | undefined;

/**
 * A transform from bytes to a zstd stream of 1 MiB frames: the same input gives the same
 * bytes, whatever the parallelism.
 *
 * @category constructors
 */
export const createDeterministicZstd = (): Transform => {
  const workers = (pool ??= new ZstdPool(Math.max(1, Math.min(availableParallelism(), 4))));
  // One piece a worker and one waiting: enough to keep every worker busy.
  const inFlightMax = workers.size + 1;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let pieces = 0;
  const inFlight: Array<Promise<Buffer>> = [];

  const start = (piece: Buffer): void => {
    pieces++;
    const frame = workers.compress(piece);
    // Awaited in order later; until then a failure must not count as unhandled.
    frame.catch(() => {});
    inFlight.push(frame);
  };

  const takePiece = (): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    const piece = Buffer.allocUnsafeSlow(FRAME);
    all.copy(piece, 0, 0, FRAME);
    const rest = all.subarray(FRAME);
    pending = rest.byteLength > 0 ? [rest] : [];
    pendingBytes = rest.byteLength;
    return piece;
  };

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      void (async () => {
        while (pendingBytes >= FRAME) {
          start(takePiece());
          while (inFlight.length >= inFlightMax) this.push(await inFlight.shift()!);
        }
      })().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      void (async () => {
        // An empty input still gives one (empty) frame: zero bytes are not a zstd stream.
        if (pendingBytes > 0 || pieces === 0) start(Buffer.concat(pending, pendingBytes));
        pending = [];
        while (inFlight.length > 0) this.push(await inFlight.shift()!);
      })().then(() => cb(), cb);
    },
  });
};
