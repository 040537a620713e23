import * as E from "fp-ts/lib/Either.js";

/**
 * An absolute path inside an image. The template type rejects relative paths at
 * compile time; eval normalizes the rest.
 *
 * @category model
 */
export type ImagePath = `/${string}`;

/** A UTF-16 surrogate without its pair: no UTF-8 encodes it, so two such paths would collide. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Whether a string has an unpaired surrogate, which UTF-8 cannot encode: written to a
 * tar header it would become U+FFFD, and two different names one.
 *
 * @category refinements
 */
export const hasLoneSurrogate = (s: string): boolean => s.search(LONE_SURROGATE) >= 0;

/**
 * A path as a diagnostic shows it: unpaired surrogates written as `\uD800`, so the
 * message names the path the spec wrote rather than a replacement character.
 *
 * @category destructors
 */
export const showPath = (p: string): string =>
  p.replace(LONE_SURROGATE, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/\0/g, "\\0");

/**
 * Normalizes an in-image path: collapses `//` and `.`, resolves `..`, drops a trailing
 * slash. Fails when the path is not absolute, holds a NUL byte or an unpaired surrogate,
 * or climbs above `/`.
 *
 * @category constructors
 */
export const normalizeImagePath = (p: string): E.Either<string, ImagePath> => {
  if (typeof p !== "string" || !p.startsWith("/")) return E.left("path must be absolute (start with /)");
  if (p.includes("\0")) return E.left("path must not contain a NUL byte");
  if (hasLoneSurrogate(p)) return E.left("path has an unpaired UTF-16 surrogate, which UTF-8 cannot encode");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length === 0) return E.left("path escapes the image root");
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const normalized: ImagePath = `/${out.join("/")}`;
  return E.right(normalized);
};

/**
 * Bytewise order of paths as UTF-8, the order of entries in every layer.
 *
 * @category instances
 */
export const compareBytewise = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** Code units where UTF-16 order and UTF-8 byte order part ways (surrogates and above). */
const BEYOND_SURROGATES = /[\uD800-\uFFFF]/;

/**
 * Sorts items by a string key in bytewise UTF-8 order. Below U+D800, UTF-16 code unit
 * order is the same order, so the common case compares strings directly and encodes
 * nothing; otherwise each key is encoded once, not once per comparison.
 *
 * @category destructors
 */
export const sortBytewise = <A>(items: ReadonlyArray<A>, key: (a: A) => string): A[] => {
  if (!items.some((a) => BEYOND_SURROGATES.test(key(a)))) {
    return [...items].sort((x, y) => {
      const a = key(x);
      const b = key(y);
      return a < b ? -1 : a > b ? 1 : 0;
    });
  }
  return items
    .map((a) => ({ a, k: Buffer.from(key(a), "utf8") }))
    .sort((x, y) => Buffer.compare(x.k, y.k))
    .map(({ a }) => a);
};

/**
 * {@link compareBytewise} without encoding either string where UTF-16 order is the same
 * order: for comparing many paths one pair at a time.
 *
 * @category instances
 */
export const compareBytewiseQuick = (a: string, b: string): number =>
  BEYOND_SURROGATES.test(a) || BEYOND_SURROGATES.test(b) ? compareBytewise(a, b) : a < b ? -1 : a > b ? 1 : 0;

/**
 * The item whose key is `k` in items sorted by {@link sortBytewise}, found by halving:
 * a sorted layer is its own index, with no map of its paths beside it.
 *
 * @category destructors
 */
export const findBytewise = <A>(sorted: ReadonlyArray<A>, key: (a: A) => string, k: string): A | undefined => {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const item = sorted[mid]!;
    const c = compareBytewiseQuick(key(item), k);
    if (c === 0) return item;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
};
