/**
 * Layers: named sets of entries. A layer's entries may be given directly or computed
 * lazily by a pure function, forced only when the layer's image is evaluated.
 */
import type { ImagePath } from "../core/index.ts";
import type { PackageSet } from "./Debian.ts";
import type { Entry } from "./Entry.ts";
import { hasTag } from "./Tagged.ts";

/**
 * Entries computed on demand, for generated content.
 *
 * @category model
 */
export interface Generated {
  readonly _tag: "Generated";
  readonly generate: () => ReadonlyArray<Entry>;
}

/**
 * What {@link Below.stat} tells of a path, symlinks followed: its kind (a hard link is a
 * file), mode, owner and (files) size.
 *
 * @category model
 */
export interface FileStat {
  readonly type: "file" | "dir" | "other";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
}

/**
 * A read-only view of the image below a derived layer: the base image's layers, then
 * the spec's layers before it, whiteouts honoured. Symlinks are followed inside the
 * image's root, as a process in the container would see them. Every path read is
 * recorded by the plan, with what it found, and goes into the layer's cache key.
 *
 * @category model
 */
export interface Below {
  /** The bytes of a regular file; undefined when there is none at `path`. */
  readFile(path: ImagePath): Uint8Array | undefined;
  /** A regular file's content as UTF-8 text; undefined when there is none at `path`. */
  readText(path: ImagePath): string | undefined;
  /** Whether anything is at `path`. */
  exists(path: ImagePath): boolean;
  /** What is at `path` (symlinks followed), or undefined. */
  stat(path: ImagePath): FileStat | undefined;
}

/**
 * Entries computed from the image below the layer, when the image is planned.
 *
 * @category model
 */
export interface Derived {
  readonly _tag: "Derived";
  readonly derive: (below: Below) => ReadonlyArray<Entry>;
}

/**
 * One source of a layer's entries: an entry given directly, a generator forced when
 * the image is evaluated, entries derived from the image below when it is planned, or a
 * Debian package set resolved when it is planned.
 *
 * @category model
 */
export type EntrySource = Entry | Generated | Derived | PackageSet;

/**
 * A named layer. The name appears in diagnostics, in `lading plan` and in the image
 * history; it must be unique within an image.
 *
 * @category model
 */
export interface Layer {
  readonly _tag: "Layer";
  readonly name: string;
  readonly sources: ReadonlyArray<EntrySource>;
  readonly comment?: string;
}

/**
 * A layer with the given entries.
 *
 * @category constructors
 */
export const make = (name: string, entries: ReadonlyArray<Entry> = []): Layer =>
  Object.freeze({ _tag: "Layer", name, sources: Object.freeze([...entries]) });

/**
 * A layer whose entries are computed by `generate`, called only when an image that
 * holds the layer is evaluated. `generate` must be pure: same entries every call.
 *
 * @category constructors
 */
export const generated = (name: string, generate: () => ReadonlyArray<Entry>): Layer =>
  Object.freeze({ _tag: "Layer", name, sources: Object.freeze([Object.freeze({ _tag: "Generated", generate })]) });

/**
 * A layer whose entries are computed from the files of the image below it: the functional
 * form of a Dockerfile's `RUN adduser`, which edits what the base holds. `derive` is
 * called when the image is planned, with a read-only view of the base and the layers
 * before this one; it must be pure, reading files only through that view. The paths it
 * reads and what it found there are part of the layer's cache key and of `lading plan`.
 * A derived layer cannot come after a run step, whose files are known only once it ran.
 *
 * @category constructors
 */
export const derived = (name: string, derive: (below: Below) => ReadonlyArray<Entry>): Layer =>
  Object.freeze({ _tag: "Layer", name, sources: Object.freeze([Object.freeze({ _tag: "Derived", derive })]) });

/**
 * Adds entries after the layer's existing ones.
 *
 * @category combinators
 */
export const withEntries =
  (...entries: ReadonlyArray<Entry>) =>
  (layer: Layer): Layer =>
    Object.freeze({ ...layer, sources: Object.freeze([...layer.sources, ...entries]) });

/**
 * Adds a generator after the layer's existing sources; like {@link generated}, it is
 * called only when the image is evaluated and must be pure.
 *
 * @category combinators
 */
export const withGenerated =
  (generate: () => ReadonlyArray<Entry>) =>
  (layer: Layer): Layer =>
    Object.freeze({ ...layer, sources: Object.freeze([...layer.sources, Object.freeze({ _tag: "Generated" as const, generate })]) });

/**
 * Sets the layer's comment in the image config's history, replacing any previous one.
 *
 * @category combinators
 */
export const withComment =
  (comment: string) =>
  (layer: Layer): Layer =>
    Object.freeze({ ...layer, comment });

/**
 * Whether a value is a Layer, by its `_tag`; eval rejects anything else in an image's
 * layers.
 *
 * @category refinements
 */
export const isLayer = (u: unknown): u is Layer => hasTag(u, "Layer");
