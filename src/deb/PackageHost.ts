/**
 * The package host plan uses for Debian archives: it finds each archive (the spec's
 * location, else the host's apt sources), verifies and reads its index once per process,
 * resolves package sets through lading.lock when it pins them (only through it when
 * frozen), and unpacks each verified `.deb` into the store once: a listing by the
 * `.deb`'s sha256, and its files by their own sha256, which the build reads.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestHex, error } from "../core/index.ts";
import type { ArchiveIR, PackageNameIR, PackageSetIR } from "../eval/index.ts";
import { decodeJson } from "../oci/index.ts";
import { TarEntryC } from "../archive/index.ts";
import type { PackageContents, PackageHost, PlannedPackage } from "../plan/index.ts";
import type { PackagePins } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import { writeContentOnce, writeFileAtomic } from "../store/index.ts";
import type { ArchiveLocation } from "./Archive.ts";
import { fetchDeb, fetchIndex, fetchRelease } from "./Archive.ts";
import { DebError, readDeb } from "./DebFile.ts";
import type { PackageIndex, PackageRecord } from "./PackageIndex.ts";
import { resolve } from "./Resolve.ts";
import type { AptSource } from "./Sources.ts";
import { readAptSources, sourceForSuite } from "./Sources.ts";

/**
 * The keyring apt uses for Debian's archive when a source names none.
 *
 * @category constants
 */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/**
 * Options of {@link debianPackageHost}.
 *
 * @category model
 */
export interface DebianHostOptions {
  /** The spec's directory: a keyring path in the spec is relative to it. */
  readonly specDir: string;
  /** Pins from lading.lock, by package set key. */
  readonly pins?: PackagePins;
  /** Resolve only through `pins`: a set they lack is an error. */
  readonly frozen?: boolean;
  /** apt's configuration directory, default `/etc/apt`. */
  readonly aptDir?: string;
  /** The lock file, for diagnostics. */
  readonly lockShown?: string;
}

/**
 * A package host that also reports what it resolved, for `lading lock`.
 *
 * @category model
 */
export interface DebianPackageHost extends PackageHost {
  /** Every package set resolved or read from the pins so far, by key. */
  readonly resolved: ReadonlyMap<string, ReadonlyArray<Omit<PlannedPackage, "installed">>>;
}

const archiveKey = (a: ArchiveIR): string => `${a.location === undefined ? "" : `${a.location} `}${a.suite}/${a.components.join(",")}/${a.architecture}`;

/**
 * The key of a package set in lading.lock: the archive, the request, and a digest of
 * the packages installed below it (which change what it adds).
 *
 * @category destructors
 */
export const packageSetKey = (set: PackageSetIR, installed: ReadonlyArray<Pick<PlannedPackage, "name" | "version">>): string => {
  const names = set.packages.map((p) => (p.version === undefined ? p.name : `${p.name}=${p.version}`)).join(" ");
  const over = installed.length === 0 ? "" : ` over ${createHash("sha256").update(installed.map((p) => `${p.name}=${p.version}`).sort().join("\n")).digest("hex").slice(0, 16)}`;
  return `${archiveKey(set.archive)}: ${names}${set.essential ? " +essential" : ""}${over}`;
};

const fileKey = (archive: ArchiveIR, pkg: PackageNameIR): string => `${archiveKey(archive)}: file of ${pkg.version === undefined ? pkg.name : `${pkg.name}=${pkg.version}`}`;

const toPlanned = (r: PackageRecord): PlannedPackage => ({
  name: r.name,
  version: r.version,
  architecture: r.architecture,
  sha256: r.sha256,
  size: r.size,
  filename: r.filename,
  source: r.source.replace(/\s*\(.*\)$/, ""),
  installed: true,
});

const ListingC = t.type({ control: t.string, md5sums: t.string, entries: t.array(TarEntryC) });

/**
 * The package host over the archives a spec names.
 *
 * @category constructors
 */
export const debianPackageHost = (store: Store, options: DebianHostOptions): DebianPackageHost => {
  const resolved = new Map<string, ReadonlyArray<Omit<PlannedPackage, "installed">>>();
  let sources: Promise<ReadonlyArray<AptSource>> | undefined;
  const indexes = new Map<string, Promise<PackageIndex>>();
  const lockShown = options.lockShown ?? "lading.lock";

  const location = async (a: ArchiveIR): Promise<ArchiveLocation> => {
    const fromHost = a.location === undefined ? sourceForSuite(await (sources ??= readAptSources(options.aptDir)), a.suite) : undefined;
    const keyring = a.keyring !== undefined ? path.resolve(options.specDir, a.keyring) : (fromHost?.signedBy ?? DEBIAN_KEYRING);
    return { uri: a.location ?? fromHost!.uri, suite: a.suite, components: a.components, architecture: a.architecture, keyring };
  };
  const index = (a: ArchiveIR): Promise<PackageIndex> => {
    const key = archiveKey(a);
    let p = indexes.get(key);
    if (p === undefined) {
      p = location(a).then(async (loc) => fetchIndex(store, loc, await fetchRelease(loc)));
      indexes.set(key, p);
    }
    return p;
  };
  const pinned = (key: string, what: string): ReadonlyArray<Omit<PlannedPackage, "installed">> | undefined => {
    const pins = options.pins?.get(key);
    if (pins !== undefined) {
      resolved.set(key, pins);
      return pins;
    }
    if (options.frozen === true) {
      throw new DiagnosticError([
        error({ file: lockShown }, `${what} is not pinned (${key}): the lock file is stale`, "run 'lading lock' and commit the lock file"),
      ]);
    }
    return undefined;
  };

  const filesDir = path.join(store.root, "debs", "files");
  const contentPath = (d: Digest): string => path.join(filesDir, digestHex(d));

  /** Unpacks a verified .deb of the store: its files by digest, then its listing. */
  const unpack = async (pkg: PlannedPackage, listing: string): Promise<PackageContents> => {
    await fs.mkdir(filesDir, { recursive: true });
    const bytes = await fs.readFile(store.blobPath(pkg.sha256));
    const writes: Promise<void>[] = [];
    let contents;
    try {
      contents = await readDeb(bytes, (digest, body) => {
        writes.push(writeContentOnce(contentPath(digest), body));
      });
    } catch (e) {
      if (e instanceof DebError) throw new DiagnosticError([error({ file: pkg.filename }, `package ${pkg.name} ${pkg.version} is refused: ${e.message}`, "nothing of it was stored in a layer")]);
      throw e;
    }
    await Promise.all(writes);
    const out: PackageContents = { control: contents.control, md5sums: contents.md5sums, entries: contents.entries };
    await writeFileAtomic(listing, JSON.stringify(out));
    return out;
  };

  return {
    resolved,
    contentPath,
    resolve: async (set, installed) => {
      const key = packageSetKey(set, installed);
      const pins = pinned(key, `the package set ${set.packages.map((p) => p.name).join(" ")}`);
      if (pins !== undefined) return pins.map((p) => ({ ...p, installed: true }));
      const idx = await index(set.archive);
      const below = installed.map((p) => (idx.byName.get(p.name) ?? []).find((r) => r.version === p.version) ?? { ...p, multiArch: "no" as const, essential: false, priority: "optional", depends: "", preDepends: "", provides: "" });
      const r = resolve(idx, set.packages, { installed: below, essential: set.essential });
      if (E.isLeft(r)) throw new DiagnosticError([error({}, `package ${r.left.package}: ${r.left.message}`)]);
      const planned = r.right.packages.map(toPlanned);
      resolved.set(key, planned.map(({ installed: _i, ...p }) => p));
      return planned;
    },
    find: async (archive, pkg) => {
      const key = fileKey(archive, pkg);
      const pins = pinned(key, `the package ${pkg.name}`);
      if (pins !== undefined && pins[0] !== undefined) return { ...pins[0], installed: false };
      const idx = await index(archive);
      const list = idx.byName.get(pkg.name) ?? [];
      const r = pkg.version === undefined ? list[0] : list.find((x) => x.version === pkg.version);
      if (r === undefined) throw new DiagnosticError([error({}, `package ${pkg.name}: no ${pkg.version === undefined ? "such package" : `version ${pkg.version}`} in ${archive.suite} for ${archive.architecture}`)]);
      const planned = { ...toPlanned(r), installed: false };
      const { installed: _i, ...pin } = planned;
      resolved.set(key, [pin]);
      return planned;
    },
    contents: async (archive, pkg) => {
      const listing = path.join(store.root, "debs", `${digestHex(pkg.sha256)}.json`);
      const text = await fs.readFile(listing, "utf8").catch(() => undefined);
      if (text !== undefined) {
        const r = decodeJson(ListingC, text, listing);
        if (E.isRight(r)) return r.right as PackageContents;
      }
      if (!(await store.hasBlob(pkg.sha256, pkg.size))) await fetchDeb(store, (await location(archive)).uri, pkg);
      return unpack(pkg, listing);
    },
  };
};
