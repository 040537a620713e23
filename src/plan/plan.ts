/**
 * plan: an evaluated image plus the host gives the BuildPlan. Host copies and archives
 * are expanded to files, every file gets its content digest, implied parent directories
 * are added, entries are sorted, and each layer gets its cache key.
 */
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import picomatch from "picomatch";
import type { Diagnostic, Digest, ImagePath, Place } from "../core/index.ts";
import { canonicalJson, DiagnosticError, digestOf, digestOfLines, error, expandTemplate, sortBytewise, warning } from "../core/index.ts";
import type { EntryIR, ImageIR, LayerIR, RunIR } from "../eval/index.ts";
import { debianArchitecture } from "../eval/index.ts";
import { isWhiteoutName, OPAQUE_WHITEOUT } from "../oci/index.ts";
import type { ConfigIR } from "../eval/index.ts";
import type { BuildPlan, LayerFormat, PlanInputs, PlannedBase, PlannedArchive, PlannedDirectory, PlannedEntry, PlannedLayer, PlannedMount, PlannedFetch, PlannedPackage, PlannedRead, PlannedRun } from "./BuildPlan.ts";
import { entryDigest, entrySize, entryTarget } from "./BuildPlan.ts";
import type { EntryList } from "./PackedEntries.ts";
import { PackedEntries } from "./PackedEntries.ts";
import type { BaseListings, SpecLayers } from "./below.ts";
import { forceDerived, imageBelow, lookBelow, sortedByPath } from "./below.ts";
import type { Host, HostStat } from "./Host.ts";
import { hostFileIdentity } from "./Host.ts";
import type { PackageHost } from "./PackageHost.ts";
import type { ArchiveHost } from "./ArchiveHost.ts";
import { planArchive, planFetch } from "./archives.ts";
import type { DpkgState } from "./packages.ts";
import { emptyDpkgState, planPackageFile, planPackageSets } from "./packages.ts";
import type { AccountFile } from "./accounts.ts";
import { checkUser } from "./accounts.ts";

/**
 * What plan needs besides the image and the host: where the spec is, the `created` time
 * and the layer format.
 *
 * @category model
 */
export interface PlanOptions {
  /** The spec file as shown in diagnostics. */
  readonly file: string;
  /** The directory host paths are relative to: the spec file's directory. */
  readonly specDir: string;
  /** SOURCE_DATE_EPOCH, or 0. */
  readonly created: number;
  readonly format: LayerFormat;
  /** The resolved base, when the image pulls one. */
  readonly base?: PlannedBase;
  /** The run step sandbox's version: part of every run step's cache key. */
  readonly sandbox?: string;
  /** The environment secrets are read from: plan checks that each one named is there. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Debian archives, for images that hold packages. */
  readonly packages?: PackageHost;
  /** Tar archives and downloads, for images that hold them. */
  readonly archives?: ArchiveHost;
  /** The arguments a parameterized export was given, recorded in the plan. */
  readonly arguments?: Readonly<Record<string, string>>;
  /**
   * Builds `image` (lazily, from the cache when it can) and gives the host path where
   * its file or directory `source` has been taken out, for `Entry.fromImage`.
   */
  readonly takeFromImage?: (image: ImageIR, source: ImagePath, place: Place) => Promise<string>;
  /**
   * How a copied host file's digest is known: `hashed` (the default) reads its bytes;
   * `identified` gives its {@link hostFileIdentity} instead, reading nothing, for a plan
   * that is only compared (`lading diff`): equal stand-ins mean the same bytes, different
   * ones must be hashed to be told apart. Its cache keys are stand-ins too; such a plan
   * is never built.
   */
  readonly hostFiles?: "hashed" | "identified";
  /**
   * Layers planned before in this process, given again and added to: a layer of host
   * copies and inline entries, on the same layers below, from the same spec directory and
   * options, is the same plan (of the host as it was then). For the two sides of a diff,
   * which often share most of their layers.
   */
  readonly planned?: PlannedLayers;
}

/**
 * Planned layers by what makes them: see {@link PlanOptions} `planned`.
 *
 * @category model
 */
export type PlannedLayers = Map<string, PlannedLayer>;

/** Entries whose plan reads no host but the files they copy: no archive, download or image. */
const REUSABLE_ENTRIES: ReadonlySet<EntryIR["_tag"]> = new Set(["HostCopy", "File", "Directory", "Symlink", "Hardlink", "Whiteout"]);

/**
 * What makes a layer's plan, given what made the layers below (`below`): undefined for
 * a layer not given again (packages, derived entries, or entries that read more than
 * the host's files). An inline file counts by its digest.
 */
const layerMaking = (below: string, layer: LayerIR): string | undefined => {
  if (layer.packages !== undefined || layer.derive !== undefined || layer.entries.some((e) => !REUSABLE_ENTRIES.has(e._tag))) return undefined;
  const entries = layer.entries.map((e) => (e._tag === "File" ? { ...e, content: digestOf(e.content) } : e));
  return digestOf(`${below}\n${canonicalJson({ name: layer.name, comment: layer.comment ?? null, entries })}`);
};

/**
 * Every problem plan found, or the plan with the inputs its build reads.
 *
 * @category model
 */
export type PlanResult = E.Either<
  ReadonlyArray<Diagnostic>,
  { readonly plan: BuildPlan; readonly inputs: PlanInputs; /** What looks wrong but builds: printed, never fatal. */ readonly warnings?: ReadonlyArray<Diagnostic> }
>;

type Mutable<A> = { -readonly [K in keyof A]: A[K] };

const HASH_CONCURRENCY = 16;

/**
 * Hashes host files while the walk goes on, at most 16 at once: a file's host path and
 * stat are held only while it is hashed, not for every file of a tree until the walk ends.
 */
interface Hashing {
  /** Hashes `abs`, and hands its digest to `got` (a file's packed entry). */
  add(got: (digest: Digest) => void, abs: string, stat: HostStat): Promise<void>;
  /** Waits for the hashes still running; the first failure, if any, is thrown. */
  done(): Promise<void>;
}

const startHashing = (host: Host): Hashing => {
  const running = new Set<Promise<void>>();
  return {
    add: async (got, abs, stat) => {
      while (running.size >= HASH_CONCURRENCY) await Promise.race(running);
      const p: Promise<void> = host.hashFile(abs, stat).then(
        (digest) => {
          got(digest);
          running.delete(p);
        },
        (e: unknown) => {
          running.delete(p);
          throw e;
        },
      );
      // Awaited by a later add or by done(); marked handled so that a failure is not
      // also reported as unhandled before then.
      p.catch(() => undefined);
      running.add(p);
    },
    done: async () => {
      await Promise.all(running);
    },
  };
};

const toPosix = (p: string): string => p.split(path.sep).join("/");

/**
 * Expands a host copy into entries; hashing is left to the caller, batched. A symlink,
 * the copied path itself or one inside it, is copied as the link it is, never as what it
 * points to: the image gets the same tree whatever the link leads to on this machine.
 */
const expandHostCopy = async (
  host: Host,
  e: Extract<EntryIR, { _tag: "HostCopy" }>,
  opts: PlanOptions,
  place: Place,
  out: Diagnostic[],
  pending: PackedEntries,
  hashing: Hashing,
): Promise<void> => {
  const root = path.resolve(opts.specDir, e.source);
  const rootStat = await host.stat(root);
  if (rootStat === undefined) {
    out.push(error(place, `host path not found: ${e.source}`, `host paths are relative to the spec file's directory`));
    return;
  }
  if (e.path === "/" && rootStat.kind !== "dir") {
    out.push(error(place, `host path ${e.source} is not a directory, so it cannot be copied to /`));
    return;
  }
  const excluded = e.exclude.length === 0 ? () => false : picomatch([...e.exclude], { dot: true });
  const { uid, gid } = e;
  // As written when absolute (a system file), else relative to the spec: never a path
  // that depends on where the checkout lives. Worked out once for the root; a file below
  // it adds its own relative path.
  const rootSource = path.isAbsolute(e.source) ? toPosix(root) : toPosix(path.relative(opts.specDir, root));
  const sourceOf = (rel: string): string => (rel === "" ? rootSource || "." : rootSource === "" ? rel : rootSource === "/" ? `/${rel}` : `${rootSource}/${rel}`);
  const visit = async (abs: string, st: HostStat, dest: ImagePath, rel: string): Promise<void> => {
    switch (st.kind) {
      case "file": {
        // Packed at once, its digest in its place until the hash comes: no object is kept
        // for the whole command, 400,000 of them for as many files.
        const mode = e.mode ?? (st.executable ? 0o755 : 0o644);
        if (opts.hostFiles === "identified") {
          pending.push({ path: dest, type: "file", mode, uid, gid, size: st.size, source: sourceOf(rel), digest: hostFileIdentity(abs, st) });
          return;
        }
        const i = pending.push({ path: dest, type: "file", mode, uid, gid, size: st.size, source: sourceOf(rel), digest: undefined });
        await hashing.add((digest) => pending.setDigest(i, digest), abs, st);
        return;
      }
      case "symlink":
        pending.push({ path: dest, type: "symlink", mode: 0o777, uid, gid, target: await host.readlink(abs) });
        return;
      case "dir": {
        pending.push({ path: dest, type: "dir", mode: e.dirMode, uid, gid });
        const listed = await host.readdir(abs);
        for (const raw of listed) {
          if (typeof raw === "string") continue;
          const shown = `${rel === "" ? "" : `${rel}/`}${[...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("")}`;
          out.push(error({ ...place, path: dest }, `host file ${shown} has a name that is not valid UTF-8, which an image path cannot hold`, "rename it, or exclude its directory"));
        }
        const names = sortBytewise(listed.filter((n): n is string => typeof n === "string"), (n) => n);
        for (const name of names) {
          const childRel = rel === "" ? name : `${rel}/${name}`;
          if (excluded(childRel)) continue;
          if (isWhiteoutName(name)) {
            out.push(error({ ...place, path: `${dest}/${name}` }, `host file ${childRel} has a name starting with .wh., an OCI whiteout that would delete files of lower layers`, "exclude it, or rename it"));
            continue;
          }
          const childAbs = path.join(abs, name);
          const childStat = await host.stat(childAbs);
          if (childStat === undefined) continue;
          const childDest: ImagePath = dest === "/" ? `/${name}` : `${dest}/${name}`;
          await visit(childAbs, childStat, childDest, childRel);
        }
        return;
      }
      case "other":
        out.push(error({ ...place, path: dest }, `host path ${sourceOf(rel)} is not a file, directory or symlink`));
        return;
    }
  };
  await visit(root, rootStat, e.path, "");
};

/** The parent of a normalized path, or undefined for a top-level one. */
const parentOf = (p: ImagePath): ImagePath | undefined => {
  const i = p.lastIndexOf("/");
  return i <= 0 ? undefined : (p.slice(0, i) as ImagePath);
};

const entryKind: Record<PlannedEntry["type"], string> = { file: "file", dir: "directory", symlink: "symlink", hardlink: "hardlink" };

/**
 * Orders entries, rejects collisions, adds implied parent directories. The packed
 * entries are sorted as record indices and searched by halving: no map of every path,
 * no object an entry; the implied parents, a few, are packed after them.
 */
const finishLayer = (
  entries: PackedEntries,
  below: SpecLayers,
  onBase: boolean,
  place: Place,
  out: Diagnostic[],
): EntryList<PlannedEntry> => {
  const sorted = entries.sortedRecords();
  // One record a path: of two directories the later wins; anything else is a collision.
  // Each is then visited where the first entry at its path was made, as a map would.
  const kept: number[] = [];
  const visitAt = new Int32Array(entries.length).fill(-1);
  let first = -1;
  // Collisions are found in path order and told in the spec's order, as written.
  const collisions: Array<readonly [number, Diagnostic]> = [];
  for (const i of sorted) {
    const last = kept.length - 1;
    if (last >= 0 && entries.comparePaths(kept[last]!, i) === 0) {
      const prev = entries.record(kept[last]!);
      const e = entries.record(i);
      if (prev.type === "dir" && e.type === "dir") {
        kept[last] = i;
        visitAt[first] = i;
      } else collisions.push([i, error({ ...place, path: e.path }, `two entries at one path (${entryKind[prev.type]} and ${entryKind[e.type]})`)]);
      continue;
    }
    kept.push(i);
    first = i;
    visitAt[i] = i;
  }
  out.push(...collisions.sort((a, b) => a[0] - b[0]).map(([, d]) => d));
  const keptView = entries.ordered(kept);
  const added = new Map<string, PlannedDirectory>();
  const at = (p: string): PlannedEntry | undefined => {
    const i = keptView.findSorted(p);
    return i >= 0 ? keptView.at(i) : added.get(p);
  };
  // The parent last found to be a directory: the entries of one directory come together,
  // and each need not look it up again. Read by path and type, no entry made an object.
  let knownDir: string | undefined;
  for (const i of visitAt) {
    if (i < 0) continue;
    const e = { path: entries.pathOf(i) as ImagePath, type: entries.typeOf(i) };
    // Inside out, stopping at the first parent already known: its own ancestors were
    // added with it, or are checked when its own entry comes round.
    for (let parent = parentOf(e.path); parent !== undefined; parent = parentOf(parent)) {
      if (parent === knownDir) break;
      const p = at(parent);
      if (p === undefined) {
        // An implied parent keeps what a lower layer made of it: its owner and mode, or,
        // if it is a symlink there, an error (the layer would replace the link).
        const lower = lookBelow(below, parent);
        // On a base image, a parent no layer of the spec makes is left to the base: an
        // entry for it would replace the base's owner and mode. A runtime makes one
        // the base lacks (0755, root), as it would from this entry.
        if ((lower === undefined && onBase) || lower === "unknown") continue;
        if (lower !== undefined && lower.type !== "dir") {
          out.push(
            error({ ...place, path: e.path }, `parent ${parent} is a ${entryKind[lower.type]} in layer "${lower.layer}"`, lower.type === "symlink" ? `write to the path it points to (${lower.target})` : undefined),
          );
          break;
        }
        added.set(parent, lower === undefined ? { path: parent, type: "dir", mode: 0o755, uid: 0, gid: 0 } : { path: parent, type: "dir", mode: lower.mode, uid: lower.uid, gid: lower.gid });
        continue;
      }
      if (p.type !== "dir") out.push(error({ ...place, path: e.path }, `parent ${parent} is a ${entryKind[p.type]}, not a directory`));
      else knownDir = parent;
      break;
    }
    if (e.type === "hardlink") {
      const { target } = entries.record(i) as Extract<PlannedEntry, { type: "hardlink" }>;
      const t = at(target);
      if (t === undefined || t.type !== "file") {
        out.push(error({ ...place, path: e.path }, `hardlink target ${target} is not a regular file of this layer`));
      }
    }
  }
  // The implied parents packed after the entries, and the two sorted lists merged.
  const parents = sortBytewise([...added.values()], (d) => d.path).map((d) => entries.push(d));
  const merged: number[] = [];
  let hardlinks = false;
  for (let i = 0, j = 0; i < kept.length || j < parents.length; ) {
    const r = j >= parents.length || (i < kept.length && entries.comparePaths(kept[i]!, parents[j]!) < 0) ? kept[i++]! : parents[j++]!;
    // "/" sorts before any other path: it can only come first.
    if (merged.length === 0 && entries.pathOf(r) === "/") continue;
    merged.push(r);
  }
  for (const r of merged) if (entries.typeOf(r) === "hardlink") hardlinks = true;
  const result = entries.ordered(merged);
  // Rare, and small where it happens: done on objects.
  return hardlinks ? PackedEntries.of(linkToFirstName([...result])) : result;
};

/**
 * A hard link must come after the file it links to, or no tar reader can make it. For
 * each set of names of one file, the name that sorts first carries the content and the
 * others link to it: the same file, in an order every reader follows.
 */
const linkToFirstName = (sorted: PlannedEntry[]): PlannedEntry[] => {
  const names = new Map<ImagePath, ImagePath[]>();
  for (const e of sorted) {
    if (e.type !== "hardlink") continue;
    // Hard link targets are in-image paths: eval normalized them.
    const target = e.target as ImagePath;
    names.set(target, [...(names.get(target) ?? [target]), e.path]);
  }
  if (names.size === 0) return sorted;
  const replaced = new Map<string, PlannedEntry>();
  const index = new Map(sorted.map((e, i) => [e.path, i]));
  for (const [target, group] of names) {
    const first = group.reduce((a, b) => ((index.get(a) ?? 0) <= (index.get(b) ?? 0) ? a : b));
    if (first === target) continue;
    const file = sorted[index.get(target)!]!;
    for (const name of group) {
      const own = sorted[index.get(name)!]!;
      replaced.set(name, name === first ? { ...file, path: name } : { path: name, type: "hardlink", mode: own.mode, uid: own.uid, gid: own.gid, target: first });
    }
  }
  return sorted.map((e) => replaced.get(e.path) ?? e);
};

/**
 * An OCI whiteout beside `path`: the empty file `name` in its directory, which takes
 * away `path` (`.wh.NAME`) or everything lower layers hold there (the opaque marker).
 */
const whiteoutEntry = (path: ImagePath, name: string, inline: Map<Digest, Uint8Array>): Mutable<PlannedEntry> => {
  const empty = new Uint8Array(0);
  const digest = digestOf(empty);
  inline.set(digest, empty);
  const dir = path.slice(0, path.lastIndexOf("/"));
  return { path: `${dir}/${name}` as ImagePath, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, digest, source: "inline" };
};

/**
 * The cache key of a layer: the hash of its entries (without host paths, which do not
 * shape the bytes), the mtime, the tar and compression formats, and, for a derived
 * layer, what it read from the image below.
 *
 * @category destructors
 */
export const computeLayerCacheKey = (entries: Iterable<PlannedEntry>, created: number, format: LayerFormat, reads: ReadonlyArray<PlannedRead> = []): Digest =>
  digestOfLines(
    (function* () {
      yield canonicalJson({ created, format });
      if (reads.length > 0) yield canonicalJson({ reads });
      // One fixed-order array a line: unambiguous, and far cheaper than canonical JSON
      // of twenty thousand objects.
      for (const e of entries) yield JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, entrySize(e) ?? null, entryDigest(e) ?? null, entryTarget(e) ?? null]);
    })(),
  );

const planLayer = async (
  host: Host,
  layer: LayerIR,
  opts: PlanOptions,
  place: Place,
  inline: Map<Digest, Uint8Array>,
  below: SpecLayers,
  out: Diagnostic[],
  dpkg: { state: DpkgState },
  reads: ReadonlyArray<PlannedRead> = [],
): Promise<PlannedLayer> => {
  const at: Place = { ...place, layer: layer.name };
  const pending = PackedEntries.empty();
  const packages: PlannedPackage[] = [];
  const fetched: PlannedFetch[] = [];
  const archives: PlannedArchive[] = [];
  /** Runs a call of a host plan may have been given; its diagnostics get this layer's place. */
  const via = async <H, A>(h: H | undefined, missing: string, where: Place, f: (host: H) => Promise<A>): Promise<A | undefined> => {
    if (h === undefined) {
      out.push(error(where, missing));
      return undefined;
    }
    try {
      return await f(h);
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      out.push(...e.diagnostics.map((d) => ({ ...where, ...d })));
      return undefined;
    }
  };
  const viaPackageHost = <A>(where: Place, f: (host: PackageHost) => Promise<A>): Promise<A | undefined> =>
    via(opts.packages, "this image holds Debian packages, and plan was given no package host", where, f);
  const viaArchiveHost = <A>(where: Place, f: (host: ArchiveHost) => Promise<A>): Promise<A | undefined> =>
    via(opts.archives, "this image holds archives or downloads, and plan was given no archive host", where, f);
  const addFetched = (f: PlannedFetch): void => {
    if (!fetched.some((x) => x.url === f.url && x.sha256 === f.sha256)) fetched.push(f);
  };
  if (layer.packages !== undefined) {
    const planned = await viaPackageHost(at, (host) => planPackageSets(host, layer.packages!, dpkg.state, inline));
    if (planned !== undefined) {
      for (const entry of planned.entries) pending.push({ ...entry });
      packages.push(...planned.packages);
      dpkg.state = planned.state;
    }
  }
  const hashing = startHashing(host);
  for (const e of layer.entries) {
    if (e._tag === "Whiteout") {
      // The OCI form, as it goes into the tar: an empty file named .wh.NAME beside it.
      pending.push(whiteoutEntry(e.path, `.wh.${e.path.slice(e.path.lastIndexOf("/") + 1)}`, inline));
      continue;
    }
    // Before the owner below: an archive's owners are its own unless the spec gives one.
    if (e._tag === "Archive") {
      const planned = await viaArchiveHost({ ...at, path: e.path }, (h) => planArchive(host, h, e, opts.specDir));
      if (planned !== undefined) {
        for (const entry of planned.entries) pending.push({ ...entry });
        archives.push(planned.archive);
        if (planned.fetched !== undefined) addFetched(planned.fetched);
      }
      continue;
    }
    const owner = { uid: e.uid, gid: e.gid };
    switch (e._tag) {
      case "File": {
        const digest = digestOf(e.content);
        inline.set(digest, e.content);
        pending.push({ path: e.path, type: "file", mode: e.mode, ...owner, size: e.content.byteLength, digest, source: "inline" });
        break;
      }
      case "Directory":
        pending.push({ path: e.path, type: "dir", mode: e.mode, ...owner });
        if (e.opaque === true) pending.push(whiteoutEntry(`${e.path}/x` as ImagePath, OPAQUE_WHITEOUT, inline));
        break;
      case "Symlink":
        pending.push({ path: e.path, type: "symlink", mode: 0o777, ...owner, target: e.target });
        break;
      case "Hardlink":
        pending.push({ path: e.path, type: "hardlink", mode: 0o644, ...owner, target: e.target });
        break;
      case "HostCopy":
        await expandHostCopy(host, e, opts, { ...at, path: e.path }, out, pending, hashing);
        break;
      case "PackageFile": {
        const found = await viaPackageHost({ ...at, path: e.path }, (h) => planPackageFile(h, e.archive, e.package, e.from));
        if (found === undefined) break;
        if (!packages.some((p) => p.sha256 === found.pkg.sha256)) packages.push(found.pkg);
        if (found.entry === undefined) out.push(error({ ...at, path: e.path }, `package ${found.pkg.name} ${found.pkg.version} has no file ${e.from}`));
        else pending.push({ ...found.entry, path: e.path, mode: e.mode ?? found.entry.mode, ...owner });
        break;
      }
      case "FromImage": {
        if (opts.takeFromImage === undefined) {
          out.push(error({ ...at, path: e.path }, "files from another image cannot be taken here"));
          break;
        }
        // Taken out into the store, the files are then copied as host files are.
        const taken = await opts.takeFromImage(e.image, e.source, { ...at, path: e.path });
        await expandHostCopy(host, { _tag: "HostCopy", path: e.path, source: taken, exclude: [], mode: e.mode, dirMode: 0o755, uid: e.uid, gid: e.gid }, opts, { ...at, path: e.path }, out, pending, hashing);
        break;
      }
      case "Fetch": {
        const planned = await viaArchiveHost({ ...at, path: e.path }, (h) => planFetch(host, h, e));
        if (planned === undefined) break;
        pending.push({ ...planned });
        addFetched({ url: e.url, sha256: e.sha256 });
        break;
      }
      default: {
        const never: never = e;
        throw new Error(`unhandled entry ${JSON.stringify(never)}`);
      }
    }
  }
  await hashing.done();
  const entries = finishLayer(
    // Every hash has come: a file's digest is filled in.
    pending,
    below,
    opts.base !== undefined,
    at,
    out,
  );
  let contentSize = 0;
  for (const e of entries) contentSize += entrySize(e) ?? 0;
  return {
    name: layer.name,
    ...(layer.comment === undefined ? {} : { comment: layer.comment }),
    entries,
    contentSize,
    cacheKey: computeLayerCacheKey(entries, opts.created, opts.format, reads),
    ...(packages.length === 0 ? {} : { packages }),
    ...(fetched.length === 0 ? {} : { fetched }),
    ...(archives.length === 0 ? {} : { archives }),
    ...(reads.length === 0 ? {} : { reads }),
  };
};

/**
 * The cache key of a run step: the hash of what is below it (the base's diff_ids and the
 * cache keys of the layers and steps before it), the command with all it runs with, the
 * bind mounts' content digests and the declarations of the other mounts (never a secret's
 * value or a cache's contents), the platform, the sandbox's version, the mtime and the
 * layer format. Limits are left out: they decide whether a step succeeds, not what it
 * writes.
 *
 * @category destructors
 */
export const computeRunCacheKey = (below: ReadonlyArray<Digest>, run: PlannedRun, platform: ImageIR["platform"], sandbox: string, created: number, format: LayerFormat): Digest =>
  digestOfLines(
    (function* () {
      yield canonicalJson({ created, format, platform, sandbox });
      yield canonicalJson({ argv: run.argv, env: run.env, workingDir: run.workingDir, user: run.user, mounts: run.mounts, network: run.network });
      for (const d of below) yield d;
    })(),
  );

const bindDigest = async (host: Host, m: Extract<RunIR["mounts"][number], { _tag: "Bind" }>, opts: PlanOptions, place: Place, out: Diagnostic[]): Promise<Digest> => {
  const pending = PackedEntries.empty();
  // A bind's files, as a host copy at its target would list them: one way to read a tree.
  const hashing = startHashing(host);
  await expandHostCopy(host, { _tag: "HostCopy", path: m.target, source: m.source, exclude: [], mode: undefined, dirMode: 0o755, uid: 0, gid: 0 }, opts, { ...place, path: m.target }, out, pending, hashing);
  await hashing.done();
  return digestOfLines(
    (function* () {
      for (const i of pending.sortedRecords()) {
        const e = pending.record(i);
        yield JSON.stringify([e.path, e.type, e.mode, entrySize(e) ?? null, entryDigest(e) ?? null, entryTarget(e) ?? null]);
      }
    })(),
  );
};

const planRun = async (
  host: Host,
  step: RunIR,
  image: ImageIR,
  opts: PlanOptions,
  below: ReadonlyArray<Digest>,
  place: Place,
  out: Diagnostic[],
): Promise<PlannedLayer> => {
  const at: Place = { ...place, layer: step.name };
  const config = opts.base === undefined ? step.config : mergeConfig(opts.base.config, step.config);
  const env = envMap(config.Env);
  for (const [k, v] of Object.entries(step.env)) env.set(k, v);
  const mounts: PlannedMount[] = [];
  for (const m of step.mounts) {
    switch (m._tag) {
      case "Bind":
        mounts.push({ type: "bind", target: m.target, source: m.source, digest: await bindDigest(host, m, opts, at, out) });
        break;
      case "Cache":
        mounts.push({ type: "cache", target: m.target, id: m.id });
        break;
      case "Secret":
        if (m.source._tag === "Env") {
          if (opts.env?.[m.source.name] === undefined) out.push(error({ ...at, path: m.target }, `secret from environment variable ${m.source.name}, which is not set`, `set ${m.source.name} when building`));
          mounts.push({ type: "secret", target: m.target, env: m.source.name });
        } else {
          const st = await host.stat(path.resolve(opts.specDir, m.source.path));
          if (st?.kind !== "file") out.push(error({ ...at, path: m.target }, `secret file ${m.source.path} ${st === undefined ? "does not exist" : "is not a regular file"}`, "host paths are relative to the spec file's directory"));
          mounts.push({ type: "secret", target: m.target, file: m.source.path });
        }
        break;
      default: {
        const never: never = m;
        throw new Error(`unhandled mount ${JSON.stringify(never)}`);
      }
    }
  }
  const run: PlannedRun = {
    argv: step.argv,
    ...(step.shell === undefined ? {} : { shell: step.shell }),
    env: [...env].map(([k, v]) => `${k}=${v}`).sort(),
    workingDir: step.workingDir ?? config.WorkingDir ?? "/",
    user: step.user ?? config.User ?? "",
    mounts,
    network: step.network,
    limits: step.limits,
  };
  if (opts.sandbox === undefined) out.push(error(at, "this build cannot run steps: no sandbox is available"));
  return { name: step.name, entries: [], contentSize: 0, cacheKey: computeRunCacheKey(below, run, image.platform, opts.sandbox ?? "", opts.created, opts.format), run };
};

/** The OCI annotations that name the image a manifest was built on. */
const BASE_NAME = "org.opencontainers.image.base.name";
const BASE_DIGEST = "org.opencontainers.image.base.digest";

const envMap = (env: unknown): Map<string, string> => {
  const m = new Map<string, string>();
  for (const kv of Array.isArray(env) ? env : []) {
    if (typeof kv !== "string") continue;
    const i = kv.indexOf("=");
    m.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? "" : kv.slice(i + 1));
  }
  return m;
};

/**
 * The config of an image built on a base: the base's config changed by the spec's, the
 * way Dockerfile instructions change an inherited one. Env and Labels merge (the spec
 * wins), ExposedPorts and Volumes add up, other fields the spec sets replace the base's,
 * and an Entrypoint set without a Cmd drops the base's Cmd. The base's OnBuild triggers
 * are dropped, as a Dockerfile build does; other fields lading does not know (a
 * Healthcheck) are kept.
 *
 * @category combinators
 */
export const mergeConfig = (base: Readonly<Record<string, unknown>>, spec: ConfigIR): ConfigIR => {
  const out: Record<string, unknown> = { ...base };
  for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
  // The base's ONBUILD triggers were for images built on it: this is one, so they end here.
  delete out["OnBuild"];
  const env = envMap(base["Env"]);
  for (const [k, v] of envMap(spec.Env)) env.set(k, v);
  if (env.size > 0) out["Env"] = [...env].map(([k, v]) => `${k}=${v}`).sort();
  if (spec.Entrypoint !== undefined) {
    out["Entrypoint"] = spec.Entrypoint;
    if (spec.Cmd === undefined) delete out["Cmd"];
  }
  if (spec.Cmd !== undefined) out["Cmd"] = spec.Cmd;
  for (const k of ["WorkingDir", "User", "StopSignal", "Healthcheck"] as const) if (spec[k] !== undefined) out[k] = spec[k];
  for (const k of ["ExposedPorts", "Volumes", "Labels"] as const) {
    const merged = { ...(base[k] as object | undefined), ...spec[k] };
    if (Object.keys(merged).length > 0) out[k] = merged;
  }
  return out as ConfigIR;
};

/**
 * The spec's env templates expanded against the base's env (empty on scratch), once;
 * with the names they use that neither sets, for a warning: they expand to nothing.
 *
 * @category combinators
 */
export const expandSpecEnv = (
  baseEnv: unknown,
  spec: ConfigIR,
): { readonly config: ConfigIR; readonly unset: ReadonlyArray<{ readonly variable: string; readonly name: string }> } => {
  if (spec.Env === undefined) return { config: spec, unset: [] };
  const base = envMap(baseEnv);
  const unset: { variable: string; name: string }[] = [];
  const env = [...envMap(spec.Env)].map(([k, v]) => {
    const r = expandTemplate(v, base);
    for (const name of r.unset) unset.push({ variable: k, name });
    return `${k}=${r.value}`;
  });
  return { config: { ...spec, Env: env }, unset };
};

/**
 * Plans an evaluated image, reading the machine only through `host`; on failure it
 * returns every problem found, not only the first.
 *
 * @category constructors
 */
export const planImage = async (host: Host, image: ImageIR, opts: PlanOptions): Promise<PlanResult> => {
  const place: Place = { file: opts.file, exportName: image.exportName };
  const out: Diagnostic[] = [];
  const inline = new Map<Digest, Uint8Array>();
  const layers: PlannedLayer[] = [];
  // What the layers planned so far make of each path, for the implied parents above them.
  const below: Array<SpecLayers[number]> = [];
  const baseListings: BaseListings = new Map();
  const contentSources = {
    specDir: opts.specDir,
    inline,
    ...(opts.hostFiles === "identified" ? { hostFiles: "identified" as const } : {}),
    ...(opts.packages === undefined ? {} : { packageContent: opts.packages.contentPath }),
    ...(opts.archives === undefined ? {} : { archiveContent: opts.archives.contentPath }),
  };
  // What each step runs on: the base's layers, by diff_id, then the keys of those planned.
  const keysBelow: Digest[] = (opts.base?.layers ?? []).map((l) => l.diffId);
  const dpkg = { state: emptyDpkgState };
  // What made the layers so far, while each could be given again.
  let making: string | undefined =
    opts.planned === undefined ? undefined : canonicalJson({ specDir: opts.specDir, created: opts.created, format: opts.format, hostFiles: opts.hostFiles ?? "hashed", base: opts.base?.digest ?? null });
  for (const layer of image.layers) {
    if (layer._tag === "Run") {
      making = undefined;
      const planned = await planRun(host, layer, image, opts, [...keysBelow], place, out);
      keysBelow.push(planned.cacheKey);
      below.push({ layer: layer.name, byPath: sortedByPath([]), step: true });
      layers.push(planned);
      continue;
    }
    making = making === undefined ? undefined : layerMaking(making, layer);
    const known = making === undefined ? undefined : opts.planned?.get(making);
    let planned: PlannedLayer;
    if (known !== undefined) {
      planned = known;
      // Its inline bytes, as planning it would have kept them.
      for (const e of layer.entries) {
        if (e._tag === "File") inline.set(digestOf(e.content), e.content);
        if (e._tag === "Whiteout" || (e._tag === "Directory" && e.opaque === true)) inline.set(digestOf(new Uint8Array(0)), new Uint8Array(0));
      }
    } else if (layer.derive === undefined) {
      const problems = out.length;
      planned = await planLayer(host, layer, opts, place, inline, below, out, dpkg);
      // A layer with a problem is planned again, to tell it again.
      if (making !== undefined && out.length === problems) opts.planned?.set(making, planned);
    } else {
      // Eval refused a derived layer above a run step: everything below is known here.
      const forced = await forceDerived(imageBelow(host, opts.base, below, contentSources, baseListings), layer, { ...place, layer: layer.name }, debianArchitecture(image.platform as Parameters<typeof debianArchitecture>[0]), out);
      if (forced === undefined) continue;
      planned = await planLayer(host, forced.layer, opts, place, inline, below, out, dpkg, forced.reads);
    }
    keysBelow.push(planned.cacheKey);
    below.push({ layer: layer.name, byPath: sortedByPath(planned.entries) });
    layers.push(planned);
  }
  // A run step's files are known only once it has run: what it may have made (a user, a
  // directory) is not held against the image here.
  const hasSteps = image.layers.some((l) => l._tag === "Run");
  const workingDir = image.config.WorkingDir as ImagePath | undefined;
  // What the base could not tell (its layers unreachable offline, or of an unknown type): the checks
  // below it fall back to what a spec alone says, and say so.
  const unread: Diagnostic[] = [];
  /** Whether the base has a directory at `p` (a link to one too), read as a derived layer reads it. */
  const baseHasDir = async (p: ImagePath): Promise<boolean> => {
    if (opts.base === undefined) return false;
    try {
      return (await imageBelow(host, opts.base, below, contentSources, baseListings).find(p))?.stat.type === "dir";
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      unread.push(...e.diagnostics.map((d) => warning(place, `the working directory ${p} is made by a layer of its own: whether the base has it cannot be read: ${d.message}`)));
      return false;
    }
  };
  if (workingDir !== undefined && workingDir !== "/" && lookBelow(below, workingDir) === undefined && !hasSteps && !(await baseHasDir(workingDir))) {
    // As Docker's WORKDIR does: the directory exists when the container starts, made
    // by a layer of its own so that no layer of the spec changes for it. A base that
    // has it keeps it as it is.
    const names = new Set(image.layers.map((l) => l.name));
    let name = "workdir";
    for (let i = 2; names.has(name); i++) name = `workdir-${i}`;
    const dir: EntryIR = { _tag: "Directory", path: workingDir, mode: 0o755, uid: 0, gid: 0 };
    layers.push(await planLayer(host, { _tag: "Layer", name, comment: `WORKDIR ${workingDir}`, entries: [dir] }, opts, place, inline, below, out, dpkg));
  }
  if (image.config.User !== undefined && !hasSteps) {
    // Read as a derived layer reads: through the spec's layers, then the base's.
    const view = imageBelow(host, opts.base, below, contentSources, baseListings);
    const accounts = async (p: ImagePath): Promise<AccountFile> => {
      const found = await view.find(p, new Set([p]));
      return found?.stat.type !== "file" ? undefined : new TextDecoder().decode(await found.bytes());
    };
    // A number names no account: its file is not read (on a base, that would fetch layers).
    const [userName, groupName] = image.config.User.split(":");
    const named = (n: string | undefined): boolean => n !== undefined && !/^[0-9]+$/.test(n);
    try {
      const passwd = named(userName) ? await accounts("/etc/passwd") : "unknown";
      const group = named(groupName) ? await accounts("/etc/group") : "unknown";
      out.push(...checkUser(image.config.User, passwd, group, place));
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      unread.push(...e.diagnostics.map((d) => warning(place, `user ${image.config.User} is not checked: the image's account files cannot be read: ${d.message}`)));
    }
  }
  if (out.length > 0) return E.left(out);
  const base = opts.base;
  const expanded = expandSpecEnv(base?.config["Env"], image.config);
  const warnings = expanded.unset.map(({ variable, name }) =>
    warning(
      place,
      `environment variable ${variable} refers to $${name}, which ${base === undefined ? "the spec does not set" : "neither the spec nor the base sets"}: it expands to nothing`,
      `set ${name} first, or escape the $ with a backslash for a literal one ("\\\\$" in a string literal)`,
    ),
  );
  return E.right({
    warnings: [...unread, ...warnings],
    plan: {
      exportName: image.exportName,
      ...(opts.arguments === undefined ? {} : { arguments: opts.arguments }),
      ...(base === undefined ? {} : { base }),
      platform: image.platform,
      config: base === undefined ? expanded.config : mergeConfig(base.config, expanded.config),
      annotations: base === undefined ? image.annotations : { [BASE_NAME]: base.reference, [BASE_DIGEST]: base.digest, ...image.annotations },
      created: opts.created,
      format: opts.format,
      layers,
    },
    inputs: {
      specDir: opts.specDir,
      inline,
      ...(opts.packages === undefined ? {} : { packageContent: opts.packages.contentPath }),
      ...(opts.archives === undefined ? {} : { archiveContent: opts.archives.contentPath }),
    },
  });
};
