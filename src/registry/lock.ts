/**
 * lading.lock: the digest every pulled reference named when it was locked, so a build
 * months later (or `--frozen` in CI) gets the same base whatever the tag says now; the
 * Debian packages resolved; and the URLs specs fetch with their sha256, so that
 * `--frozen` fetches nothing the lock does not list. It lives beside the spec, as JSON
 * with sorted keys and one reference a line, so a review shows exactly which base moved.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import type { PlannedPackage } from "../plan/index.ts";
import { PinnedPackageC } from "../plan/index.ts";
import type { ImageIR } from "../eval/index.ts";
import { DiagnosticError, error, isDigest, parseReference, sortBytewise } from "../core/index.ts";
import { DigestC, decodeJson } from "../oci/index.ts";

/**
 * The lock file's name, in the spec's directory.
 *
 * @category constants
 */
export const LOCK_FILE = "lading.lock";

/**
 * The lock format's version, written as `lockVersion`.
 *
 * @category constants
 */
export const LOCK_VERSION = 1;

const LockedPackageC = PinnedPackageC;

const LockC = t.intersection([
  t.type({ lockVersion: t.literal(LOCK_VERSION), pins: t.record(t.string, t.string) }),
  // Debian package sets, by a key naming the archive and the request: their closure;
  // and the URLs specs fetch, with the sha256 each was fetched at.
  t.partial({ packages: t.record(t.string, t.array(LockedPackageC)), fetched: t.record(t.string, DigestC) }),
]);

/**
 * The packages a lock file pins, by package set key; each as a planned package would
 * name it.
 *
 * @category model
 */
export type PackagePins = ReadonlyMap<string, ReadonlyArray<Omit<PlannedPackage, "installed">>>;

/**
 * Reads the package pins of a lock file: empty when there is none or it pins no package.
 *
 * @category destructors
 */
export const readPackagePins = async (file: string, shown: string): Promise<PackagePins | undefined> => {
  const lock = await readLockFile(file, shown);
  return lock === undefined ? undefined : new Map(Object.entries(lock.packages ?? {}));
};

/**
 * The downloads a lock file pins, URL to sha256: empty when it pins none, undefined when
 * there is no lock file.
 *
 * @category destructors
 */
export const readFetchPins = async (file: string, shown: string): Promise<ReadonlyMap<string, Digest> | undefined> => {
  const lock = await readLockFile(file, shown);
  return lock === undefined ? undefined : new Map(Object.entries(lock.fetched ?? {}));
};

/**
 * Adds the URLs an evaluated image fetches (`Entry.fetch`), with their sha256, to
 * `into`: what `lading lock` pins. Reads nothing: the spec names both.
 *
 * @category destructors
 */
export const addFetchedUrls = (into: Map<string, Digest>, image: ImageIR): void => {
  const add = (url: string, sha256: Digest): void => {
    const pinned = into.get(url);
    // One URL, two contents: a lock could pin only one, and a frozen build of the other would fail.
    if (pinned !== undefined && pinned !== sha256) throw new DiagnosticError([error({ exportName: image.exportName }, `${url} is fetched with two sha256s, ${pinned} and ${sha256}: a lock pins one a URL`, "give every fetch of the URL the same sha256")]);
    into.set(url, sha256);
  };
  for (const layer of image.layers) {
    if (layer._tag !== "Layer") continue;
    for (const e of layer.entries) {
      if (e._tag === "Fetch") add(e.url, e.sha256);
      else if (e._tag === "Archive" && e.from._tag === "Url") add(e.from.url, e.from.sha256);
    }
  }
};

/** A lock file decoded, or undefined when there is none; one that is not a lading lock is an error naming it. */
const readLockFile = async (file: string, shown: string): Promise<t.TypeOf<typeof LockC> | undefined> => {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const r = decodeJson(LockC, text, shown);
  if (E.isLeft(r)) throw new DiagnosticError([{ ...r.left, hint: "it is written by 'lading lock': run it again" }]);
  return r.right;
};

/**
 * The lock file of the spec at `specFile`.
 *
 * @category constructors
 */
export const lockPathFor = (specFile: string): string => path.join(path.dirname(path.resolve(specFile)), LOCK_FILE);

/**
 * Reads a lock file: its pins by reference, or undefined when there is none. A file
 * that is not a lading lock is an error naming it.
 *
 * @category destructors
 */
export const readLock = async (file: string, shown: string): Promise<ReadonlyMap<string, Digest> | undefined> => {
  const lock = await readLockFile(file, shown);
  if (lock === undefined) return undefined;
  const pins = new Map<string, Digest>();
  for (const [ref, digest] of Object.entries(lock.pins)) {
    if (E.isLeft(parseReference(ref)) || !isDigest(digest)) throw new DiagnosticError([error({ file: shown }, `invalid pin ${JSON.stringify(ref)}: ${JSON.stringify(digest)}`, "it is written by 'lading lock': run it again")]);
    pins.set(ref, digest);
  }
  return pins;
};

/**
 * The lock file's text: sorted keys, one pin a line, a final newline.
 *
 * @category destructors
 */
export const formatLock = (pins: ReadonlyMap<string, Digest>, packages: PackagePins = new Map(), fetched: ReadonlyMap<string, Digest> = new Map()): string => {
  const record = (m: ReadonlyMap<string, Digest>): string => {
    const sorted = sortBytewise([...m], ([key]) => key);
    const lines = sorted.map(([key, digest], i) => `    ${JSON.stringify(key)}: ${JSON.stringify(digest)}${i < sorted.length - 1 ? "," : ""}`);
    return `{${lines.length === 0 ? "}" : `\n${lines.join("\n")}\n  }`}`;
  };
  const pinned = `{\n  "lockVersion": ${LOCK_VERSION},\n  "pins": ${record(pins)}`;
  // One URL a line, after the rest: a lock without downloads reads as it always did.
  const tail = fetched.size === 0 ? "" : `,\n  "fetched": ${record(fetched)}`;
  if (packages.size === 0) return `${pinned}${tail}\n}\n`;
  const head = pinned;
  // One package a line, sorted by name within its set: a review shows which package moved.
  const sets = sortBytewise([...packages], ([key]) => key).map(([key, list], i, all) => {
    const pkgs = sortBytewise([...list], (p) => p.name).map((p, j) => {
      const ordered = { name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256, size: p.size, filename: p.filename, source: p.source };
      return `      ${JSON.stringify(ordered)}${j < list.length - 1 ? "," : ""}`;
    });
    return `    ${JSON.stringify(key)}: [\n${pkgs.join("\n")}\n    ]${i < all.length - 1 ? "," : ""}`;
  });
  return `${head},\n  "packages": {\n${sets.join("\n")}\n  }${tail}\n}\n`;
};
