/**
 * What a layer blob unpacks to, found from its bytes as they go by: the digest of its
 * tar (the diff_id) and the tar's size. A download feeds it as the blob arrives, so a
 * base layer is checked against its diff_id with no second pass over it; a layer read
 * from the store feeds it the same way.
 */
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDigestingStream } from "../core/index.ts";
import type { Compression } from "../oci/index.ts";
import { decompression } from "../oci/index.ts";
import type { UnpackedRecord } from "./Store.ts";

/**
 * A writable for a layer blob's bytes, and what they unpack to once it has ended: the
 * record, or the reason they do not unpack (not gzip, cut off).
 *
 * @category model
 */
export interface Unpacking {
  readonly stream: Writable;
  readonly result: () => Promise<UnpackedRecord>;
}

/**
 * Unpacks a blob compressed as `compression` as it is written.
 *
 * @category constructors
 */
export const unpacking = (compression: Compression): Unpacking => {
  const tarred = createDigestingStream(1 << 20);
  const decompress = decompression(compression, 1 << 20);
  const done = pipeline([...decompress, tarred.stream, new Writable({ write: (_chunk, _enc, cb) => cb() })]);
  // Read by result(); until then, a failure is not an unhandled rejection.
  done.catch(() => undefined);
  return { stream: decompress[0] ?? tarred.stream, result: () => done.then(() => ({ diffId: tarred.digest(), uncompressedSize: tarred.size() })) };
};
