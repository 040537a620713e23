/**
 * Deterministic, parallel gzip. The input is cut into fixed 1 MiB blocks; each block is
 * deflated on its own (primed with the previous block's last 32 KiB, as pigz does) and
 * ended with a sync flush, the last one with a final block. The blocks are compressed on
 * libuv's thread pool, several at once, and written in order. Each block's bytes depend
 * only on its input, its dictionary and the level, so the output is the same whatever
 * the parallelism, and is one valid deflate stream that any gunzip reads.
 *
 * The gzip header is fixed (no name, mtime 0, OS byte 255 "unknown"), so the bytes do not
 * depend on the building OS. The compressor's name, level, block size and zlib's version
 * form the `compression` part of every layer cache key.
 */
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import * as zlib from "node:zlib";

/**
 * The gzip level of every layer.
 *
 * @category model
 */
export const GZIP_LEVEL = 6;

const BLOCK = 1 << 20;
const WINDOW = 32 * 1024;
/**
 * Blocks compressed at once: enough to keep two cores busy while the tar is written,
 * and fewer than libuv's four threads, so the output file's writes never wait.
 */
const IN_FLIGHT = 3;

/**
 * Identifies the compressor, for cache keys.
 *
 * @category model
 */
export const compressionId = `gzip-${GZIP_LEVEL}/block-${BLOCK}/zlib-${process.versions.zlib}`;

const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

const deflateRaw = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;

const compressBlock = (block: Buffer, dictionary: Buffer | undefined, last: boolean): Promise<Buffer> =>
  deflateRaw(block, {
    level: GZIP_LEVEL,
    memLevel: 8,
    windowBits: 15,
    strategy: zlib.constants.Z_DEFAULT_STRATEGY,
    // Room for a whole block's output: one trip through the thread pool per block, so
    // compression never waits for a busy main thread to hand it the next 16 KiB.
    chunkSize: BLOCK + (BLOCK >> 3),
    finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    ...(dictionary === undefined ? {} : { dictionary }),
  });

/**
 * A transform from bytes to one gzip member: the same input gives the same bytes,
 * whatever the parallelism.
 *
 * @category constructors
 */
export const createDeterministicGzip = (): Transform => {
  let crc = 0;
  let size = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tail: Buffer | undefined;
  const inFlight: Array<Promise<Buffer>> = [];

  const start = (block: Buffer, last: boolean): void => {
    crc = zlib.crc32(block, crc);
    size = (size + block.byteLength) % 0x1_0000_0000;
    const compressed = compressBlock(block, tail, last);
    // Awaited in order later; until then a failure must not count as unhandled.
    compressed.catch(() => {});
    inFlight.push(compressed);
    tail = block.byteLength >= WINDOW ? block.subarray(block.byteLength - WINDOW) : tail === undefined ? block : Buffer.concat([tail, block]).subarray(-WINDOW);
  };

  const takeBlock = (): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    const block = Buffer.from(all.subarray(0, BLOCK));
    const rest = all.subarray(BLOCK);
    pending = rest.byteLength > 0 ? [rest] : [];
    pendingBytes = rest.byteLength;
    return block;
  };

  const out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      void (async () => {
        while (pendingBytes >= BLOCK) {
          start(takeBlock(), false);
          while (inFlight.length >= IN_FLIGHT) this.push(await inFlight.shift()!);
        }
      })().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      void (async () => {
        start(pendingBytes === 0 ? Buffer.alloc(0) : Buffer.concat(pending, pendingBytes), true);
        pending = [];
        while (inFlight.length > 0) this.push(await inFlight.shift()!);
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(crc >>> 0, 0);
        trailer.writeUInt32LE(size, 4);
        this.push(trailer);
      })().then(() => cb(), cb);
    },
  });
  out.push(HEADER);
  return out;
};
