/**
 * Downloads checked by a sha256 known beforehand: a Debian archive's indexes and
 * `.deb`s, and the files a spec fetches by URL. A download streams to a temp file of the
 * store while it is hashed, and is renamed into place only when its digest is the one
 * expected; otherwise the temp file is removed. Dropped connections and 5xx answers are
 * tried again, waiting longer each time.
 */
import { createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../core/index.ts";
import { createDigestingStream, failAt as fail } from "../core/index.ts";
import type { Store } from "../store/index.ts";
import { httpRequest } from "./http.ts";
import { retrying } from "./retry.ts";

/** A failure worth another try: a dropped connection or a server's 5xx answer. */
class Transient extends Error {}

/**
 * Runs `f` again after a dropped connection or a 5xx answer, waiting longer each time;
 * the last failure becomes a diagnostic naming the URL.
 *
 * @category combinators
 */
export const withRetries = <A>(url: URL, f: () => Promise<A>): Promise<A> => retrying(f, (e) => fail(url.href, `cannot fetch: ${(e as Error).message}`));

/**
 * GETs a URL: a 5xx answer is transient, another non-200 answer a diagnostic naming it.
 *
 * @category destructors
 */
export const httpGet = async (url: URL): Promise<Readable> => {
  const res = await httpRequest(url, { method: "GET", headers: { "user-agent": "lading" } });
  if (res.status !== 200) {
    res.discard();
    if (res.status >= 500) throw new Transient(`the server answered ${res.status}`);
    return fail(url.href, `the server answered ${res.status}`);
  }
  return res.body;
};

/**
 * Downloads `url` into the store as the blob `digest` (of `size` bytes, when known),
 * unless the store has it. What does not hash to `digest` (as `vouchedBy` gives it) is
 * deleted, never stored.
 *
 * @category destructors
 */
export const fetchVerified = async (store: Store, url: URL, digest: Digest, size: number | undefined, what: string, vouchedBy: string): Promise<void> => {
  if (await store.hasBlob(digest, size)) return;
  const temp = store.tempPath();
  try {
    const hashing = await withRetries(url, async () => {
      const h = createDigestingStream();
      await pipeline(await httpGet(url), h.stream, createWriteStream(temp));
      return h;
    });
    if (hashing.digest() !== digest || (size !== undefined && hashing.size() !== size)) {
      const sized = (d: Digest, n: number | undefined): string => (n === undefined ? d : `${d} (${n} bytes)`);
      fail(url.href, `${what} does not match the sha256 ${vouchedBy} gives: refused, nothing stored`, `expected ${sized(digest, size)}, got ${sized(hashing.digest(), hashing.size())}`);
    }
    await store.commitBlob(temp, digest);
  } finally {
    await fs.rm(temp, { force: true });
  }
};
