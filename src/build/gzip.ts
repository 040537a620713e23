/**
 * A deterministic gzip framing around raw deflate: a fixed header (no name, mtime 0,
 * OS byte 255 "unknown", so the bytes do not depend on the building OS), the deflate
 * stream, then CRC-32 and size. The compressor name, level and zlib version form the
 * `compression` part of every layer cache key.
 */
import { Transform } from "node:stream";
import * as zlib from "node:zlib";

/** The gzip level of every layer. */
export const GZIP_LEVEL = 6;

/**
 * Identifies the compressor, for cache keys.
 *
 * @category model
 */
export const compressionId = `gzip-${GZIP_LEVEL}/zlib-${process.versions.zlib}`;

const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/**
 * A transform from bytes to a gzip member.
 *
 * @category constructors
 */
export const createDeterministicGzip = (): Transform => {
  let crc = 0;
  let size = 0;
  const deflate = zlib.createDeflateRaw({ level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: zlib.constants.Z_DEFAULT_STRATEGY });
  let headerSent = false;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      crc = zlib.crc32(chunk, crc);
      size = (size + chunk.byteLength) % 0x1_0000_0000;
      if (deflate.write(chunk)) cb();
      else deflate.once("drain", () => cb());
    },
    flush(cb) {
      deflate.once("end", () => {
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(crc >>> 0, 0);
        trailer.writeUInt32LE(size, 4);
        this.push(trailer);
        cb();
      });
      deflate.end();
    },
  });
  const pushHeader = (): void => {
    if (!headerSent) {
      headerSent = true;
      out.push(HEADER);
    }
  };
  deflate.on("data", (d: Buffer) => {
    pushHeader();
    out.push(d);
  });
  deflate.on("error", (e) => out.destroy(e));
  return out;
};
