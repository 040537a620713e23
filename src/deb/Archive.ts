/**
 * A Debian archive, fetched as apt fetches it and verified before anything lands in the
 * store: the signed `InRelease` against the keyring, each `Packages.xz` against the
 * release file's sha256, each `.deb` against the index's (or the lock's) sha256, each
 * through `fetchVerified`: nothing unverified lands in the store.
 */
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import xzDecompress from "xz-decompress";
import type { Digest } from "../core/index.ts";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { digestHex, failAt as fail } from "../core/index.ts";
import { DigestC, decodeJson } from "../oci/index.ts";
import { fetchVerified, httpGet, withRetries } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { writeFileAtomic } from "../store/index.ts";
import { paragraphSplitter } from "./Control.ts";
import type { PackageIndex, PackageRecord } from "./PackageIndex.ts";
import { INDEX_FIELDS, makeIndex, recordOf } from "./PackageIndex.ts";
import type { Release } from "./Release.ts";
import { parseRelease, readKeyring, verifyInRelease } from "./Release.ts";

const { XzReadableStream } = xzDecompress as unknown as { XzReadableStream: new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };

/**
 * Where an archive is and what of it to read: the root URI (`.../debian`), the suite,
 * its components, the architecture and the keyring file.
 *
 * @category model
 */
export interface ArchiveLocation {
  readonly uri: string;
  readonly suite: string;
  readonly components: ReadonlyArray<string>;
  readonly architecture: string;
  readonly keyring: string;
}

const join = (uri: string, rel: string): URL => new URL(rel, uri.endsWith("/") ? uri : `${uri}/`);

/**
 * Fetches the release file of a location and checks its signature.
 *
 * @category destructors
 */
export const fetchRelease = async (loc: ArchiveLocation): Promise<Release> => {
  const url = join(loc.uri, `dists/${loc.suite}/InRelease`);
  const keyringBytes = await fs.readFile(loc.keyring).catch(() => fail(loc.keyring, "cannot read the keyring", "install debian-archive-keyring, or give the package set a keyring"));
  const keys = await readKeyring(keyringBytes, loc.keyring);
  const text = await withRetries(url, async () => {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const c of await httpGet(url)) {
      parts.push(c as Buffer);
      size += (c as Buffer).byteLength;
      if (size > 16 << 20) fail(url.href, "the release file is larger than 16 MiB");
    }
    return Buffer.concat(parts).toString("utf8");
  });
  const signed = await verifyInRelease(text, keys, url.href);
  const release = parseRelease(signed, url.href);
  if (release.suite !== loc.suite && release.codename !== loc.suite) {
    fail(url.href, `the release file is for ${release.codename ?? release.suite ?? "no suite"}, not ${loc.suite}`, "a mirror must not serve one suite for another");
  }
  if (release.validUntil !== undefined && release.validUntil.getTime() < Date.now()) {
    fail(url.href, `the release file expired on ${release.validUntil.toISOString()}`, "the mirror is stale: apt refuses it too");
  }
  return release;
};

/** Decompresses an xz file of the store and hands its records to `onRecord`. */
const readIndexBlob = async (file: string, onRecord: (r: PackageRecord) => void): Promise<void> => {
  const split = paragraphSplitter(INDEX_FIELDS, (p) => {
    const r = recordOf(p);
    if (r !== undefined) onRecord(r);
  });
  const xz = Readable.fromWeb(new XzReadableStream(Readable.toWeb(createReadStream(file, { highWaterMark: 1 << 20 })) as ReadableStream<Uint8Array>) as import("node:stream/web").ReadableStream);
  await pipeline(
    xz,
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        split.push(chunk);
        cb();
      },
      flush(cb) {
        split.end();
        cb();
      },
    }),
  );
};

/** A verified index's records, as JSON beside it in the store: read far faster than xz. */
const RecordsC = t.array(
  t.type({
    name: t.string, version: t.string, architecture: t.string, multiArch: t.keyof({ same: null, foreign: null, allowed: null, no: null }), essential: t.boolean, priority: t.string,
    depends: t.string, preDepends: t.string, provides: t.string, source: t.string, filename: t.string, sha256: DigestC, size: t.number,
  }),
);

/** The records of a verified index blob: from its JSON when there is one, else decoded and saved. */
const indexRecords = async (store: Store, digest: Digest): Promise<ReadonlyArray<PackageRecord>> => {
  const cache = path.join(store.root, "debs", `index-${digestHex(digest)}.json`);
  const text = await fs.readFile(cache, "utf8").catch(() => undefined);
  if (text !== undefined) {
    const r = decodeJson(RecordsC, text, cache);
    if (E.isRight(r)) return r.right;
  }
  const records: PackageRecord[] = [];
  await readIndexBlob(store.blobPath(digest), (r) => records.push(r));
  await fs.mkdir(path.dirname(cache), { recursive: true });
  await writeFileAtomic(cache, JSON.stringify(records));
  return records;
};

/**
 * The package index of a location: each component's `Packages.xz`, from the store when
 * it holds the one the release names, else fetched and verified.
 *
 * @category destructors
 */
export const fetchIndex = async (store: Store, loc: ArchiveLocation, release: Release): Promise<PackageIndex> => {
  const records: PackageRecord[] = [];
  for (const component of loc.components) {
    const rel = `${component}/binary-${loc.architecture}/Packages.xz`;
    const entry = release.files.get(rel);
    const url = join(loc.uri, `dists/${loc.suite}/${rel}`);
    if (entry === undefined) fail(url.href, `the release file lists no ${rel}`, `is ${loc.architecture} an architecture of ${loc.suite}, and ${component} a component?`);
    await fetchVerified(store, url, entry!.sha256, entry!.size, "the index", "the release file");
    for (const r of await indexRecords(store, entry!.sha256)) records.push(r);
  }
  return makeIndex(loc.architecture, records);
};

/**
 * Fetches a package's `.deb` into the store, checked against the sha256 that the index
 * or the lock gives for it.
 *
 * @category destructors
 */
export const fetchDeb = (store: Store, uri: string, pkg: Pick<PackageRecord, "name" | "version" | "filename" | "sha256" | "size">): Promise<void> =>
  fetchVerified(store, join(uri, pkg.filename), pkg.sha256, pkg.size, `the package ${pkg.name} ${pkg.version}`, "the index (or lading.lock)");
