import * as E from "fp-ts/lib/Either.js";

/**
 * An absolute path inside an image. The template type rejects relative paths at
 * compile time; eval normalizes the rest.
 *
 * @category model
 */
export type ImagePath = `/${string}`;

/**
 * Normalizes an in-image path: collapses `//` and `.`, resolves `..`, drops a trailing
 * slash. Fails when the path is not absolute, holds a NUL byte, or climbs above `/`.
 *
 * @category constructors
 */
export const normalizeImagePath = (p: string): E.Either<string, ImagePath> => {
  if (typeof p !== "string" || !p.startsWith("/")) return E.left("path must be absolute (start with /)");
  if (p.includes("\0")) return E.left("path must not contain a NUL byte");
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
 * The parent directories of a normalized path, outermost first, without `/`.
 *
 * @category destructors
 */
export const parentsOf = (p: ImagePath): ReadonlyArray<ImagePath> => {
  const segs = p.split("/").filter((s) => s !== "");
  const out: ImagePath[] = [];
  for (let i = 1; i < segs.length; i++) out.push(`/${segs.slice(0, i).join("/")}`);
  return out;
};

/**
 * Bytewise order of paths as UTF-8, the order of entries in every layer.
 *
 * @category instances
 */
export const compareBytewise = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
