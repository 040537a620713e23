import { createHash } from "node:crypto";

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
export const digestOf = (bytes: Uint8Array | string): Digest =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/**
 * The digest of a sequence of text lines, each followed by a newline: hashes large
 * keys without building one big string.
 *
 * @category constructors
 */
export const digestOfLines = (lines: Iterable<string>): Digest => {
  const hash = createHash("sha256");
  for (const line of lines) hash.update(`${line}\n`);
  return `sha256:${hash.digest("hex")}`;
};

/**
 * Wraps a hex sha256 as a digest.
 *
 * @category constructors
 */
export const digestFromHex = (hex: string): Digest => `sha256:${hex}`;

/**
 * The hex part of a digest, as used for blob file names.
 *
 * @category destructors
 */
export const digestHex = (d: Digest): string => d.slice("sha256:".length);
