/**
 * Layers: named sets of entries. A layer's entries may be given directly or computed
 * lazily by a pure function, forced only when the layer's image is evaluated.
 */
import type { PackageSet } from "./Debian.ts";
import type { Entry } from "./Entry.ts";

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
 * One source of a layer's entries: an entry given directly, a generator forced when
 * the image is evaluated, or a Debian package set resolved when it is planned.
 *
 * @category model
 */
export type EntrySource = Entry | Generated | PackageSet;

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
export const isLayer = (u: unknown): u is Layer =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Layer";
