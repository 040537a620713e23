/**
 * What every spec value carries: a `_tag` naming its kind, by which eval and the CLI tell
 * values apart (a spec's exports, an image's layers) without classes or prototypes.
 */

/**
 * Whether `u` is an object tagged `tag`.
 *
 * @category refinements
 */
export const hasTag = (u: unknown, tag: string): boolean => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === tag;
