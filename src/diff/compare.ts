/**
 * The comparison of two image views: config, platform and annotations field by field;
 * layers matched by name (or by position when a side has no names); files compared on
 * the tree a container sees, every layer applied. Pure: views in, a diff value out.
 */
import * as E from "fp-ts/lib/Either.js";
import picomatch from "picomatch";
import type { Digest } from "../core/index.ts";
import { canonicalJson, compareBytewiseQuick, sortBytewise } from "../core/index.ts";
import { classifyLayerEntry } from "../oci/index.ts";
import type { EntryList } from "../plan/index.ts";
import { PackedEntries } from "../plan/index.ts";
import { flattenLayers } from "../sink/index.ts";
import type { FileView, ImageView, LayerEntry, PackageView, LayerView } from "./ImageView.ts";
import { toFileView } from "./ImageView.ts";

/**
 * A config, annotation or platform field that differs. Env and Labels are compared per
 * variable (`Env.PATH`, `Labels.version`).
 *
 * @category model
 */
export interface FieldChange {
  readonly field: string;
  readonly before?: unknown;
  readonly after?: unknown;
}

/**
 * What differs between two entries at one path.
 *
 * @category model
 */
export type FileAspect = "type" | "content" | "mode" | "owner" | "target";

/**
 * A path whose entry differs between the two flattened trees: added, removed, or
 * changed in the listed aspects.
 *
 * @category model
 */
export interface FileChange {
  readonly path: string;
  /** The changed Debian package the file belongs to, when it does. */
  readonly package?: string;
  readonly change: "added" | "removed" | "changed";
  readonly aspects: ReadonlyArray<FileAspect>;
  readonly before?: FileView;
  readonly after?: FileView;
}

/**
 * Counts of file changes.
 *
 * @category model
 */
export interface FileCounts {
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
}

/**
 * A layer on either side, matched with its counterpart.
 *
 * @category model
 */
export interface LayerChange {
  readonly name: string;
  readonly change: "added" | "removed" | "changed" | "unchanged";
  readonly before?: { readonly index: number; readonly key: Digest; readonly size: number };
  readonly after?: { readonly index: number; readonly key: Digest; readonly size: number };
  /** Changes to this layer's own entries. */
  readonly files: FileCounts;
  /** For spec sides: the layer's cache key changed, so a build rebuilds it. */
  readonly rebuild: boolean;
  /** Why it differs, for people: what changed in it. */
  readonly reason?: string;
}

/**
 * The whole difference; `identical` when there is none.
 *
 * @category model
 */
export interface ImageDiff {
  readonly before: { readonly source: string; readonly kind: ImageView["kind"] };
  readonly after: { readonly source: string; readonly kind: ImageView["kind"] };
  readonly identical: boolean;
  readonly platform: ReadonlyArray<FieldChange>;
  readonly config: ReadonlyArray<FieldChange>;
  readonly annotations: ReadonlyArray<FieldChange>;
  readonly layers: ReadonlyArray<LayerChange>;
  /** The layers common to both sides appear in another order. */
  readonly reordered: boolean;
  readonly files: ReadonlyArray<FileChange>;
  /** Debian package changes; present when either side holds packages. */
  readonly packages?: ReadonlyArray<PackageChange>;
  readonly summary: FileCounts & { readonly sizeBefore: number; readonly sizeAfter: number; readonly sizeDelta: number };
}

/**
 * A Debian package added, removed or at another version.
 *
 * @category model
 */
export interface PackageChange {
  readonly name: string;
  readonly architecture: string;
  readonly change: "added" | "removed" | "changed";
  readonly before?: string;
  readonly after?: string;
  /** How many of the file changes are this package's. */
  readonly files: number;
}

/**
 * What to leave out of a diff.
 *
 * @category model
 */
export interface DiffOptions {
  /** Glob patterns of in-image paths to leave out (matched with and without the leading /). */
  readonly ignore?: ReadonlyArray<string>;
}

/** Equal as data: an object's key order (which tools write differently) does not count. */
const same = (a: unknown, b: unknown): boolean => (a === undefined || b === undefined ? a === b : canonicalJson(a) === canonicalJson(b));

const PER_KEY: Readonly<Record<string, (v: unknown) => Record<string, unknown>>> = {
  Env: (v) => Object.fromEntries(((v as string[] | undefined) ?? []).map((e) => [e.slice(0, Math.max(0, e.indexOf("=")) || e.length), e.slice(e.indexOf("=") + 1)])),
  Labels: (v) => (v as Record<string, unknown> | undefined) ?? {},
  ExposedPorts: (v) => Object.fromEntries(Object.keys((v as object | undefined) ?? {}).map((k) => [k, true])),
  Volumes: (v) => Object.fromEntries(Object.keys((v as object | undefined) ?? {}).map((k) => [k, true])),
};

const compareRecords = (before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>, prefix = ""): FieldChange[] => {
  const out: FieldChange[] = [];
  for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    // null is how some tools write an unset field (buildah's Entrypoint): it is unset.
    const b = before[key] ?? undefined;
    const a = after[key] ?? undefined;
    const split = prefix === "" ? PER_KEY[key] : undefined;
    if (split !== undefined) {
      out.push(...compareRecords(split(b), split(a), `${key}.`));
      continue;
    }
    if (same(a, b)) continue;
    out.push({ field: `${prefix}${key}`, ...(b === undefined ? {} : { before: b }), ...(a === undefined ? {} : { after: a }) });
  }
  return out;
};

/** Seen as {@link toFileView} sees them, without making the views. */
const sizeOf = (f: LayerEntry): number => (f.type === "file" ? (f.size ?? 0) : 0);

const aspectsOf = (b: LayerEntry, a: LayerEntry): FileAspect[] => {
  // A new type makes every other attribute a new thing, not a change of it.
  if (b.type !== a.type) return ["type"];
  const out: FileAspect[] = [];
  if (b.digest !== a.digest || sizeOf(b) !== sizeOf(a)) out.push("content");
  if (b.mode !== a.mode && b.type !== "symlink" && a.type !== "symlink") out.push("mode");
  if (b.uid !== a.uid || b.gid !== a.gid) out.push("owner");
  if (b.target !== a.target) out.push("target");
  return out;
};

/**
 * The changes from one tree to the other. `before` is used up: what `after` also holds
 * is taken out of it as it is compared, and what is left was removed. One map, and no
 * set of both trees' paths.
 */
const compareTrees = (before: Map<string, LayerEntry>, after: ReadonlyMap<string, LayerEntry>, ignored: (p: string) => boolean): FileChange[] => {
  const out: FileChange[] = [];
  for (const [path, a] of after) {
    const b = before.get(path);
    before.delete(path);
    if (ignored(path)) continue;
    if (b === undefined) out.push({ path, change: "added", aspects: [], after: toFileView(a) });
    else {
      const aspects = aspectsOf(b, a);
      if (aspects.length > 0) out.push({ path, change: "changed", aspects, before: toFileView(b), after: toFileView(a) });
    }
  }
  for (const [path, b] of before) if (!ignored(path)) out.push({ path, change: "removed", aspects: [], before: toFileView(b) });
  return sortBytewise(out, (c) => c.path);
};

const countOf = (changes: ReadonlyArray<FileChange>): FileCounts => ({
  added: changes.filter((c) => c.change === "added").length,
  removed: changes.filter((c) => c.change === "removed").length,
  changed: changes.filter((c) => c.change === "changed").length,
});

const describeCounts = (c: FileCounts): string =>
  [c.added > 0 ? `${c.added} added` : "", c.removed > 0 ? `${c.removed} removed` : "", c.changed > 0 ? `${c.changed} changed` : ""]
    .filter((s) => s !== "")
    .join(", ");

const byPath = (files: Iterable<LayerEntry>): Map<string, LayerEntry> => {
  const m = new Map<string, LayerEntry>();
  for (const f of files) m.set(f.path, f);
  return m;
};

/** Whether each path comes after the one before it, bytewise: no path twice. A plan's packed layer always does. */
const strictlySorted = (files: EntryList<LayerEntry>): boolean => {
  if (files instanceof PackedEntries) return true;
  let prev: string | undefined;
  for (const f of files) {
    if (prev !== undefined && compareBytewiseQuick(prev, f.path) >= 0) return false;
    prev = f.path;
  }
  return true;
};

/** A tree's entries, and whether they are in bytewise order with no path twice. */
interface Tree {
  readonly files: Iterable<LayerEntry>;
  readonly sorted: boolean;
}

const treeOfList = (files: EntryList<LayerEntry>): Tree => ({ files, sorted: strictlySorted(files) });

/**
 * The changes between two lists of entries: walked side by side, one entry of each at a
 * time, when both are in bytewise order with no path twice (every plan's layers, every
 * layer lading built), else through maps of their paths.
 */
const compareEntries = (before: Tree, after: Tree, ignored: (p: string) => boolean): FileChange[] => {
  if (!before.sorted || !after.sorted) return compareTrees(byPath(before.files), byPath(after.files), ignored);
  const out: FileChange[] = [];
  const bs = before.files[Symbol.iterator]();
  const as = after.files[Symbol.iterator]();
  const next = (it: Iterator<LayerEntry>): LayerEntry | undefined => {
    const r = it.next();
    return r.done === true ? undefined : r.value;
  };
  let b = next(bs);
  let a = next(as);
  while (b !== undefined || a !== undefined) {
    const c = b === undefined ? 1 : a === undefined ? -1 : compareBytewiseQuick(b.path, a.path);
    if (c < 0) {
      if (!ignored(b!.path)) out.push({ path: b!.path, change: "removed", aspects: [], before: toFileView(b!) });
      b = next(bs);
    } else if (c > 0) {
      if (!ignored(a!.path)) out.push({ path: a!.path, change: "added", aspects: [], after: toFileView(a!) });
      a = next(as);
    } else {
      if (!ignored(a!.path)) {
        const aspects = aspectsOf(b!, a!);
        if (aspects.length > 0) out.push({ path: a!.path, change: "changed", aspects, before: toFileView(b!), after: toFileView(a!) });
      }
      b = next(bs);
      a = next(as);
    }
  }
  return out;
};

/** A layer's own entries but the whiteouts and the root, in their order, read as they are walked. */
function* ownPaths(files: Iterable<LayerEntry>): Generator<LayerEntry> {
  for (const f of files) {
    const name = classifyLayerEntry(f.path);
    if (E.isRight(name) && name.right._tag === "Path") yield f;
  }
}

/**
 * The tree a container sees, as entries: a view of one layer is its own entries but
 * the whiteouts and the root (it has nothing below to take away), kept in their order.
 */
const treeOf = (view: ImageView): Tree => {
  if (view.layers.length !== 1) {
    const flat = [...flattenLayers(view.layers.map((l) => ({ files: [...l.files] }))).values()];
    return treeOfList(flat);
  }
  const files = view.layers[0]!.files;
  return { files: { [Symbol.iterator]: () => ownPaths(files) }, sorted: strictlySorted(files) };
};

/** The file changes between two trees a container sees, and the size of each. */
interface TreeChanges {
  readonly changes: ReadonlyArray<FileChange>;
  readonly sizeBefore: number;
  readonly sizeAfter: number;
}

/** Ignored paths count nowhere: not in the changes, not in the sizes. */
const sizeOfTree = (files: Iterable<LayerEntry>, ignored: (p: string) => boolean): number => {
  let n = 0;
  for (const f of files) if (!ignored(f.path)) n += sizeOf(f);
  return n;
};

/** Both trees, each flattened, walked side by side. */
const compareWhole = (before: ImageView, after: ImageView, ignored: (p: string) => boolean): TreeChanges => {
  const treeBefore = treeOf(before);
  const treeAfter = treeOf(after);
  return { changes: compareEntries(treeBefore, treeAfter, ignored), sizeBefore: sizeOfTree(treeBefore.files, ignored), sizeAfter: sizeOfTree(treeAfter.files, ignored) };
};

/**
 * The same changes, when the two views share their lowest layers as the same entry lists
 * (layers two plans made alike) and the layers above only add or replace entries: only
 * the paths of those layers are compared, each against the shared tree below. Undefined
 * when they do not, or when a layer above holds a whiteout or puts a non-directory over a
 * directory (which take paths away).
 */
const compareOverShared = (before: ImageView, after: ImageView, ignored: (p: string) => boolean, ignoring: boolean): TreeChanges | undefined => {
  let shared = 0;
  while (shared < before.layers.length && shared < after.layers.length && before.layers[shared]!.files === after.layers[shared]!.files) shared++;
  if (shared === 0) return undefined;
  const lowest = before.layers[0]!.files;
  // A plan's one layer is its own tree, found by halving; else the layers are flattened once.
  const packed = shared === 1 && lowest instanceof PackedEntries ? lowest : undefined;
  const flat = packed !== undefined ? undefined : flattenLayers(before.layers.slice(0, shared).map((l) => ({ files: [...l.files] })));
  const sharedAt = (p: string): LayerEntry | undefined => {
    if (flat !== undefined) return flat.get(p);
    const name = classifyLayerEntry(p);
    if (E.isLeft(name) || name.right._tag !== "Path") return undefined;
    const i = packed!.findSorted(p);
    return i < 0 ? undefined : packed!.at(i);
  };
  const above = (layers: ReadonlyArray<LayerView>): Map<string, LayerEntry> | undefined => {
    const top = new Map<string, LayerEntry>();
    for (const l of layers) {
      for (const f of l.files) {
        const name = classifyLayerEntry(f.path);
        if (E.isLeft(name) || name.right._tag === "Root") continue;
        if (name.right._tag !== "Path") return undefined;
        if (f.type !== "dir" && (top.get(f.path) ?? sharedAt(f.path))?.type === "dir") return undefined;
        top.set(f.path, f);
      }
    }
    return top;
  };
  const topBefore = above(before.layers.slice(shared));
  const topAfter = topBefore === undefined ? undefined : above(after.layers.slice(shared));
  if (topBefore === undefined || topAfter === undefined) return undefined;
  // A plan's layer's size is its files' sizes: with no path ignored, that of its tree.
  const sizeShared = packed !== undefined && !ignoring ? before.layers[0]!.size : sizeOfTree(flat !== undefined ? flat.values() : ownPaths(lowest), ignored);
  const sizeOver = (top: ReadonlyMap<string, LayerEntry>): number => {
    let n = sizeShared;
    for (const [p, f] of top) if (!ignored(p)) n += sizeOf(f) - ((e) => (e === undefined ? 0 : sizeOf(e)))(sharedAt(p));
    return n;
  };
  const changes: FileChange[] = [];
  for (const p of new Set([...topBefore.keys(), ...topAfter.keys()])) {
    if (ignored(p)) continue;
    const b = topBefore.get(p) ?? sharedAt(p);
    const a = topAfter.get(p) ?? sharedAt(p);
    if (b === undefined) changes.push({ path: p, change: "added", aspects: [], after: toFileView(a!) });
    else if (a === undefined) changes.push({ path: p, change: "removed", aspects: [], before: toFileView(b) });
    else {
      const aspects = aspectsOf(b, a);
      if (aspects.length > 0) changes.push({ path: p, change: "changed", aspects, before: toFileView(b), after: toFileView(a) });
    }
  }
  return { changes, sizeBefore: sizeOver(topBefore), sizeAfter: sizeOver(topAfter) };
};

/** Pairs layers by name when every layer on both sides has a unique name, else by position. */
const pairLayers = (before: ReadonlyArray<LayerView>, after: ReadonlyArray<LayerView>): { pairs: Array<[number | undefined, number | undefined]>; reordered: boolean } => {
  const named = (ls: ReadonlyArray<LayerView>): boolean => ls.every((l) => l.name !== undefined) && new Set(ls.map((l) => l.name)).size === ls.length;
  if (!named(before) || !named(after)) {
    const n = Math.max(before.length, after.length);
    return { pairs: Array.from({ length: n }, (_, i) => [i < before.length ? i : undefined, i < after.length ? i : undefined]), reordered: false };
  }
  const indexAfter = new Map(after.map((l, i) => [l.name!, i]));
  const pairs: Array<[number | undefined, number | undefined]> = [];
  const common: number[] = [];
  before.forEach((l, i) => {
    const j = indexAfter.get(l.name!);
    pairs.push([i, j]);
    if (j !== undefined) common.push(j);
  });
  after.forEach((l, j) => {
    if (!before.some((b) => b.name === l.name)) pairs.push([undefined, j]);
  });
  const reordered = common.some((j, k) => k > 0 && j < common[k - 1]!);
  return { pairs, reordered };
};

/**
 * Compares two image views. Paths matching `options.ignore` are left out of the file
 * changes, their counts and the sizes.
 *
 * @category destructors
 */
export const diffImages = (before: ImageView, after: ImageView, options: DiffOptions = {}): ImageDiff => {
  const patterns = options.ignore ?? [];
  const matcher = patterns.length === 0 ? undefined : picomatch([...patterns], { dot: true });
  const ignored = (p: string): boolean => matcher !== undefined && (matcher(p) || matcher(p.slice(1)));
  const sameKind = before.kind === after.kind;
  const { pairs, reordered } = pairLayers(before.layers, after.layers);
  const layers: LayerChange[] = pairs.map(([i, j]) => {
    const b = i === undefined ? undefined : before.layers[i];
    const a = j === undefined ? undefined : after.layers[j];
    const name = a?.name ?? b?.name ?? `#${(j ?? i ?? 0) + 1}`;
    // One list on both sides (a layer both plans made alike) holds no change.
    const counts = b !== undefined && b.files === a?.files ? { added: 0, removed: 0, changed: 0 } : countOf(compareEntries(treeOfList(b?.files ?? []), treeOfList(a?.files ?? []), ignored));
    const filesDiffer = counts.added + counts.removed + counts.changed > 0;
    const keyDiffers = sameKind && b !== undefined && a !== undefined && b.key !== a.key;
    const change: LayerChange["change"] = b === undefined ? "added" : a === undefined ? "removed" : filesDiffer || keyDiffers ? "changed" : "unchanged";
    const reason =
      change === "changed" ? (filesDiffer ? describeCounts(counts) : "same files, other bytes (mtime, format or compressor)") : undefined;
    return {
      name,
      change,
      ...(b === undefined ? {} : { before: { index: i!, key: b.key, size: b.size } }),
      ...(a === undefined ? {} : { after: { index: j!, key: a.key, size: a.size } }),
      files: counts,
      rebuild: after.kind === "spec" && a !== undefined && (b === undefined || (sameKind ? b.key !== a.key : filesDiffer)),
      ...(reason === undefined ? {} : { reason }),
    };
  });
  const { changes, sizeBefore, sizeAfter } = compareOverShared(before, after, ignored, matcher !== undefined) ?? compareWhole(before, after, ignored);
  const files = sortBytewise(changes, (c) => c.path);
  const platform = before.platform === after.platform ? [] : [{ field: "platform", before: before.platform, after: after.platform }];
  const config = compareRecords(before.config, after.config);
  const annotations = compareRecords(before.annotations, after.annotations);
  const compared = comparePackages(before, after, files);
  const packages = compared?.changes;
  return {
    before: { source: before.source, kind: before.kind },
    after: { source: after.source, kind: after.kind },
    identical:
      platform.length + config.length + annotations.length + files.length === 0 && !reordered && layers.every((l) => l.change === "unchanged"),
    platform,
    config,
    annotations,
    layers,
    reordered,
    files: compared === undefined ? files : files.map((f) => (compared.owner.has(f.path) ? { ...f, package: compared.owner.get(f.path)! } : f)),
    ...(packages === undefined ? {} : { packages }),
    summary: { ...countOf(files), sizeBefore, sizeAfter, sizeDelta: sizeAfter - sizeBefore },
  };
};

/** The installed packages of an image view, the topmost layer's when two install one. */
const installedPackages = (view: ImageView): Map<string, PackageView> => {
  const out = new Map<string, PackageView>();
  for (const l of view.layers) for (const p of l.packages ?? []) out.set(`${p.name}:${p.architecture}`, p);
  return out;
};

/**
 * Package changes between two views, each with how many of `files` it owns; undefined
 * when neither side holds packages.
 */
const comparePackages = (
  before: ImageView,
  after: ImageView,
  files: ReadonlyArray<FileChange>,
): { readonly changes: ReadonlyArray<PackageChange>; readonly owner: ReadonlyMap<string, string> } | undefined => {
  const b = installedPackages(before);
  const a = installedPackages(after);
  if (b.size === 0 && a.size === 0) return undefined;
  const changed = new Set(files.map((f) => f.path));
  const out: PackageChange[] = [];
  const owner = new Map<string, string>();
  for (const key of [...new Set([...b.keys(), ...a.keys()])].sort()) {
    const x = b.get(key);
    const y = a.get(key);
    if (x !== undefined && y !== undefined && x.version === y.version) continue;
    const owned = new Set([...(x?.files ?? []), ...(y?.files ?? [])].filter((p) => changed.has(p)));
    const { name, architecture } = (y ?? x)!;
    for (const p of owned) owner.set(p, name);
    // The package's own dpkg database files change with it.
    for (const suffix of [".list", ".md5sums"]) for (const n of [name, `${name}:${architecture}`]) if (changed.has(`/var/lib/dpkg/info/${n}${suffix}`)) owner.set(`/var/lib/dpkg/info/${n}${suffix}`, name);
    out.push({
      name,
      architecture,
      change: x === undefined ? "added" : y === undefined ? "removed" : "changed",
      ...(x === undefined ? {} : { before: x.version }),
      ...(y === undefined ? {} : { after: y.version }),
      files: owned.size,
    });
  }
  if (out.length > 0 && changed.has("/var/lib/dpkg/status")) owner.set("/var/lib/dpkg/status", out.map((c) => c.name).join(" "));
  return { changes: out, owner };
};
