/**
 * Small regular files written by worker threads while the main thread goes on reading
 * the layer: making a file is mostly kernel time (open with O_CREAT|O_EXCL, write,
 * futimes, close), and on two cores two threads make files at nearly twice the rate of
 * one. Only new names in directories nothing else writes to go here (see the bundle
 * sink's rules); everything that removes, replaces or links waits for {@link
 * FileWriters.barrier} first, so a worker never writes through a path another entry has
 * changed since it was resolved.
 */
import { availableParallelism } from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";

/**
 * One file for a worker: where (a resolved path inside the root, its directories real
 * directories, its last component new), its content, mode, owner and time.
 *
 * @category model
 */
export interface FileWrite {
  /** Never with a NUL in it. */
  readonly target: string;
  readonly content: Buffer;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
}

/**
 * The worker: for each file of a batch, the same calls the main thread makes for one
 * (open a new name, never following one; write; owner and mode only where the directory
 * would not give them; time; close), stopping at the first failure, which it reports
 * with the file's path. What a directory gives a new file is learnt from its first file.
 */
const WORKER_SOURCE = `
const fs = require("node:fs");
const path = require("node:path");
const { parentPort, workerData } = require("node:worker_threads");
const chown = workerData.chown;
const born = new Map();
parentPort.on("message", ({ id, names, meta, buf }) => {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const targets = names.split("\\0");
  let at = 0;
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i];
    const mode = meta[i * 5], uid = meta[i * 5 + 1], gid = meta[i * 5 + 2], mtime = meta[i * 5 + 3], size = meta[i * 5 + 4];
    // Not a file: what a directory gives new files may have changed (all of them for "").
    if (mode < 0) {
      if (target === "") born.clear();
      else born.delete(target);
      continue;
    }
    const content = bytes.subarray(at, at + size);
    at += size;
    let fd = -1;
    try {
      const plain = (mode & ~0o777) === 0;
      fd = fs.openSync(target, "wx", plain ? mode : 0o600);
      for (let off = 0; off < content.length; ) off += fs.writeSync(fd, content, off);
      const dir = path.dirname(target);
      let got = born.get(dir);
      if (plain && (got === undefined || !got.modes.has(mode))) {
        const st = fs.fstatSync(fd);
        if (got === undefined) born.set(dir, (got = { uid: st.uid, gid: st.gid, modes: new Map() }));
        got.modes.set(mode, (st.mode & 0o7777) === mode);
      }
      if (chown && (got === undefined || got.uid !== uid || got.gid !== gid)) fs.fchownSync(fd, uid, gid);
      if (!plain || got === undefined || got.modes.get(mode) !== true) fs.fchmodSync(fd, mode);
      fs.futimesSync(fd, mtime, mtime);
    } catch (e) {
      if (fd >= 0) try { fs.closeSync(fd); } catch {}
      parentPort.postMessage({ id, error: { target, message: e.message, code: e.code } });
      return;
    }
    fs.closeSync(fd);
  }
  parentPort.postMessage({ id });
});
`;

/** Files a batch holds at most, and the content bytes it holds before it is sent. */
const BATCH_FILES = 128;
const BATCH_BYTES = 1 << 20;
/** Batches sent to one worker and not yet done before {@link FileWriters.write} waits. */
const IN_FLIGHT = 4;

/**
 * A failure a worker reported: the file it could not make and why.
 *
 * @category model
 */
export class FileWriteError extends Error {
  constructor(
    readonly target: string,
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Batch {
  targets: string[];
  meta: number[];
  chunks: Buffer[];
  bytes: number;
}

const emptyBatch = (): Batch => ({ targets: [], meta: [], chunks: [], bytes: 0 });

interface Lane {
  readonly worker: Worker;
  batch: Batch;
  /** Ids of the batches sent and not yet done. */
  readonly inFlight: Set<number>;
}

/**
 * A pool of worker threads that make small files. Files of one directory go to one
 * worker (each directory's entries are then added in order, without two threads
 * contending for its lock), the least busy when the directory is first seen. {@link write} may return a promise: the caller awaits it
 * before the next write (backpressure). {@link barrier} returns when every file given so
 * far is made, or throws the first failure; {@link close} stops the workers, after which
 * nothing more is written.
 *
 * @category constructors
 */
export class FileWriters {
  private readonly lanes: Lane[] = [];
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;
  /** Told of every batch done (or worker lost), then forgotten. */
  private waiters: Array<() => void> = [];
  /**
   * Which worker writes a directory's files: the one with the least queued when the
   * directory is first seen, then always that one (its files in order, and what it
   * learnt of the directory forgotten in order with them).
   */
  private readonly laneOf = new Map<string, Lane>();

  constructor(workers = FileWriters.defaultSize()) {
    const chown = process.getuid?.() === 0;
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { chown } });
      const lane: Lane = { worker, batch: emptyBatch(), inFlight: new Set() };
      worker.on("message", (m: { id: number; error?: { target: string; message: string; code?: string } }) => {
        if (m.error !== undefined) this.failure ??= new FileWriteError(m.error.target, m.error.message, m.error.code);
        lane.inFlight.delete(m.id);
        this.wake();
      });
      const dead = (e: Error): void => {
        this.failure ??= e;
        lane.inFlight.clear();
        this.wake();
      };
      worker.on("error", dead);
      worker.on("exit", (code) => {
        if (!this.closed) dead(new Error(`a file-writing worker stopped (exit code ${code})`));
      });
      this.lanes.push(lane);
    }
  }

  /** Two workers on two cores, at most three: with the main thread reading, more only contend. */
  static defaultSize(): number {
    return Math.max(1, Math.min(availableParallelism(), 3));
  }

  /** Queues one file; a promise when the caller must wait before the next one. */
  write(w: FileWrite): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    const lane = this.laneFor(path.dirname(w.target));
    const b = lane.batch;
    b.targets.push(w.target);
    b.meta.push(w.mode, w.uid, w.gid, w.mtime, w.content.length);
    b.chunks.push(w.content);
    b.bytes += w.content.length;
    if (b.targets.length < BATCH_FILES && b.bytes < BATCH_BYTES) return undefined;
    this.send(lane);
    return lane.inFlight.size < IN_FLIGHT ? undefined : this.until(() => lane.inFlight.size < IN_FLIGHT);
  }

  /**
   * What the workers learnt of directory `dir` (of every directory, when none is given)
   * forgotten before their next file: its owner or mode changed, or it was removed. Told
   * in order with the files, to each worker that writes there.
   */
  forget(dir?: string): void {
    for (const lane of dir === undefined ? this.lanes : [this.laneOf.get(dir)].filter((l) => l !== undefined)) {
      lane.batch.targets.push(dir ?? "");
      lane.batch.meta.push(-1, 0, 0, 0, 0);
    }
  }

  /** Every file given so far made; throws the first failure. */
  async barrier(): Promise<void> {
    for (const lane of this.lanes) if (lane.batch.targets.length > 0) this.send(lane);
    await this.until(() => this.lanes.every((l) => l.inFlight.size === 0));
    if (this.failure !== undefined) throw this.failure;
  }

  /** Whether files were given that may not be made yet. */
  get pending(): boolean {
    return this.lanes.some((l) => l.inFlight.size > 0 || l.batch.targets.length > 0);
  }

  /** Stops the workers; when it returns, none writes anything more. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
    this.wake();
  }

  private laneFor(dir: string): Lane {
    let lane = this.laneOf.get(dir);
    if (lane === undefined) {
      const queued = (l: Lane): number => l.inFlight.size * BATCH_FILES + l.batch.targets.length;
      lane = this.lanes.reduce((a, b) => (queued(b) < queued(a) ? b : a));
      this.laneOf.set(dir, lane);
    }
    return lane;
  }

  private async until(done: () => boolean): Promise<void> {
    while (!done() && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private send(lane: Lane): void {
    const b = lane.batch;
    lane.batch = emptyBatch();
    const id = this.nextId++;
    // Memory of its own, never Buffer's shared pool: it is handed over, not copied. The
    // names go as one string (no name holds a NUL), the numbers as one array: cloning a
    // batch then costs a copy, not an object a file.
    const buf = Buffer.allocUnsafeSlow(b.bytes);
    let at = 0;
    for (const c of b.chunks) at += c.copy(buf, at);
    const meta = Float64Array.from(b.meta);
    lane.inFlight.add(id);
    lane.worker.postMessage({ id, names: b.targets.join("\0"), meta, buf }, [buf.buffer as ArrayBuffer, meta.buffer]);
  }
}
