/**
 * The archive host over the store: a download is fetched once into it as the blob of
 * its sha256 (only as lading.lock pins it, when frozen), and an archive is read once:
 * its files are kept by digest under `archives/files`, and its listing by the archive's
 * digest beside them.
 */
import { createReadStream, openSync, closeSync, readSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { finished } from "node:stream/promises";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { createDigestingStream, DiagnosticError, digestHex, error } from "../core/index.ts";
import { decodeJson } from "../oci/index.ts";
import type { ArchiveHost } from "../plan/index.ts";
import { fetchVerified } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { pathExists, tempNameFor, writeContentOnce, writeFileAtomic } from "../store/index.ts";
import type { TarEntry } from "./Tar.ts";
import { decompressedTar, listTarArchive, TarEntryC, TarError } from "./Tar.ts";

/**
 * Options of {@link storeArchiveHost}: the downloads lading.lock pins (URL to sha256),
 * and whether only those may be fetched.
 *
 * @category model
 */
export interface ArchiveStoreOptions {
  readonly pins?: ReadonlyMap<string, Digest>;
  readonly frozen?: boolean;
  /** The lock file, for diagnostics. */
  readonly lockShown?: string;
}

const fail = (message: string, hint?: string): never => {
  throw new DiagnosticError([error({}, message, hint)]);
};

const ListingC = t.array(TarEntryC);

/** The first bytes of a file: enough to tell its compression. */
const headOf = (file: string): Buffer => {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(8);
    return head.subarray(0, readSync(fd, head, 0, head.byteLength, 0));
  } finally {
    closeSync(fd);
  }
};

/**
 * The archive host over `store`.
 *
 * @category constructors
 */
export const storeArchiveHost = (store: Store, options: ArchiveStoreOptions = {}): ArchiveHost => {
  const lockShown = options.lockShown ?? "lading.lock";
  const filesDir = path.join(store.root, "archives", "files");
  const contentPath = (d: Digest): string => path.join(filesDir, digestHex(d));

  /** Reads an archive the first time, checking it is still the one hashed. */
  const read = async (file: string, digest: Digest, shown: string): Promise<ReadonlyArray<TarEntry>> => {
    const writes: Promise<unknown>[] = [];
    const hashing = createDigestingStream();
    let entries: ReadonlyArray<TarEntry>;
    try {
      const source = createReadStream(file, { highWaterMark: 1 << 20 }).pipe(hashing.stream);
      await fs.mkdir(filesDir, { recursive: true });
      entries = await listTarArchive(decompressedTar(source, headOf(file)), (d, bytes) => writes.push(writeContentOnce(contentPath(d), bytes)));
    } catch (e) {
      await Promise.allSettled(writes);
      if (e instanceof TarError) fail(`archive ${shown}${e.member === undefined ? "" : `: member ${JSON.stringify(e.member)}`} ${e.message}: refused`, "nothing of it was stored in a layer");
      if (e instanceof DiagnosticError) throw e;
      fail(`archive ${shown} cannot be read as a tar archive: ${(e as Error).message}`);
    }
    await Promise.all(writes);
    // The tar may end before the file does (padding, a compressor's trailer): what is
    // left is hashed too.
    hashing.stream.unpipe();
    hashing.stream.resume();
    await finished(hashing.stream);
    if (hashing.digest() !== digest) fail(`archive ${shown} changed while it was read`, "run the build again");
    return entries!;
  };
  return {
    fetch: async (url, sha256) => {
      const pinned = options.pins?.get(url);
      if (options.frozen === true && pinned !== sha256) {
        fail(
          pinned === undefined ? `${url} is not in ${lockShown}: the lock file is stale` : `${lockShown} pins ${url} at ${pinned}, and the spec asks for ${sha256}: the lock file is stale`,
          "run 'lading lock' and commit the lock file",
        );
      }
      try {
        await fetchVerified(store, new URL(url), sha256, undefined, `the download of ${url}`, "the spec");
      } catch (e) {
        // Named in the message, so that the diagnostic keeps the spec's place.
        if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map(({ file: _url, ...d }) => ({ ...d, message: d.message.includes(url) ? d.message : `${url}: ${d.message}` })));
        throw e;
      }
      // Kept beside an archive's files too, where the build reads it: a second name of
      // the blob, or a copy where the store's file system has no hard links.
      const kept = contentPath(sha256);
      if (!(await pathExists(kept))) {
        await fs.mkdir(filesDir, { recursive: true });
        const tmp = tempNameFor(kept);
        await fs.link(store.blobPath(sha256), tmp).catch(() => fs.copyFile(store.blobPath(sha256), tmp));
        await fs.rename(tmp, kept);
      }
      return store.blobPath(sha256);
    },
    list: async (file, digest, shown) => {
      const listing = path.join(store.root, "archives", `${digestHex(digest)}.json`);
      const text = await fs.readFile(listing, "utf8").catch(() => undefined);
      if (text !== undefined) {
        const r = decodeJson(ListingC, text, listing);
        // A listing whose files are gone or cut short (a store cleaned by hand, a crash)
        // is read again, which writes them anew.
        const whole = async (e: TarEntry): Promise<boolean> => e.type !== "file" || (await fs.stat(contentPath(e.digest)).then((st) => st.size === e.size, () => false));
        if (E.isRight(r) && (await Promise.all((r.right as ReadonlyArray<TarEntry>).map(whole))).every(Boolean)) {
          return r.right as ReadonlyArray<TarEntry>;
        }
      }
      const entries = await read(file, digest, shown);
      await fs.mkdir(path.dirname(listing), { recursive: true });
      await writeFileAtomic(listing, JSON.stringify(entries));
      return entries;
    },
    contentPath,
  };
};
