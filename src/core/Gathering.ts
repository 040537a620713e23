/**
 * Small chunks gathered into large ones: a stream of packets or of per-file pieces
 * becomes one of about `size` bytes a chunk, so what reads it (a hash, a compressor on
 * the thread pool, a file) is called once a chunk rather than once a piece.
 */
import { Transform } from "node:stream";

/**
 * A pass-through that hands on chunks of at least `size` bytes (the last one as it is).
 *
 * @category constructors
 */
export const gathering = (size: number, highWaterMark?: number): Transform => {
  let parts: Buffer[] = [];
  let held = 0;
  const take = (): Buffer => {
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
    parts = [];
    held = 0;
    return out;
  };
  return new Transform({
    ...(highWaterMark === undefined ? {} : { highWaterMark }),
    transform(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      held += chunk.byteLength;
      cb(null, held >= size ? take() : undefined);
    },
    flush(cb) {
      cb(null, held > 0 ? take() : undefined);
    },
  });
};
