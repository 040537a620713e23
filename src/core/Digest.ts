import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform } from "node:stream";
import { flatString } from "./FlatString.ts";

/**
 * A content digest in the OCI form `sha256:<64 lowercase hex>`.
 *
 * @category model
 */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * Whether a string is a well-formed sha256 digest.
 *
 * @category refinements
 */
export const isDigest = (s: string): s is Digest => DIGEST_RE.test(s);

/**
 * The digest of a byte string or UTF-8 text.
 *
 * @category constructors
 */
export const digestOf = (bytes: Uint8Array | string): Digest => digestFromHex(createHash("sha256").update(bytes).digest("hex"));

/**
 * The digest of a sequence of text lines, each followed by a newline: hashes large
 * keys without building one big string.
 *
 * @category constructors
 */
export const digestOfLines = (lines: Iterable<string>): Digest => {
  const hash = createHash("sha256");
  for (const line of lines) hash.update(`${line}\n`);
  return digestFromHex(hash.digest("hex"));
};

/**
 * Wraps a hex sha256 as a digest. The hex is trusted, not checked: check untrusted
 * text with `isDigest` instead.
 *
 * @category constructors
 */
export const digestFromHex = (hex: string): Digest => flatString(`sha256:${hex}`) as Digest;

/**
 * The hex part of a digest, as used for blob file names.
 *
 * @category destructors
 */
export const digestHex = (d: Digest): string => d.slice("sha256:".length);

/**
 * The digest and size of a file, read as a stream in 1 MiB chunks: a file of any size
 * is hashed in constant memory.
 *
 * @category constructors
 */
export const digestOfFile = async (file: string): Promise<{ readonly digest: Digest; readonly size: number }> => {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  return { digest: digestFromHex(hash.digest("hex")), size };
};

/**
 * A pass-through stream that hashes and counts what flows through it: the digest and
 * size are read once the stream has ended.
 *
 * @category constructors
 */
export const createDigestingStream = (
  highWaterMark?: number,
): { readonly stream: Transform; readonly digest: () => Digest; readonly size: () => number } => {
  const hash = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    ...(highWaterMark === undefined ? {} : { highWaterMark }),
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.byteLength;
      cb(null, chunk);
    },
  });
  let digest: Digest | undefined;
  return { stream, digest: () => (digest ??= digestFromHex(hash.digest("hex"))), size: () => size };
};
