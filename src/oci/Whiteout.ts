/**
 * The names of a layer's tar entries, as the OCI layer format defines them: where an
 * entry lands in the root, and which names are whiteouts (`.wh.NAME` deletes NAME of
 * the layers below, `.wh..wh..opq` empties its directory). One set of rules for every
 * stage: eval refuses whiteout names in specs, and inspect, diff and the bundle sink read
 * layers from elsewhere through {@link classifyLayerEntry}, so no stage can be talked
 * into deleting the root, its parent, or a name its peers read differently.
 */
import * as E from "fp-ts/lib/Either.js";

/**
 * The prefix the OCI layer format reserves for whiteouts.
 *
 * @category model
 */
export const WHITEOUT_PREFIX = ".wh.";

/**
 * The name of an opaque whiteout: the directory holding it keeps nothing from below.
 *
 * @category model
 */
export const OPAQUE_WHITEOUT = ".wh..wh..opq";

/**
 * What a tar entry's name means in a layer: the root itself, a path below it (its
 * segments, none of them empty, `.` or `..`), a whiteout of `name` in `dir`, or an
 * opaque whiteout of `dir`.
 *
 * @category model
 */
export type LayerEntryName =
  | { readonly _tag: "Root" }
  | { readonly _tag: "Path"; readonly segments: ReadonlyArray<string> }
  | { readonly _tag: "Whiteout"; readonly dir: ReadonlyArray<string>; readonly name: string }
  | { readonly _tag: "Opaque"; readonly dir: ReadonlyArray<string> };

/**
 * Whether one name (a path component) is reserved for whiteouts.
 *
 * @category refinements
 */
export const isWhiteoutName = (name: string): boolean => name.startsWith(WHITEOUT_PREFIX);

/**
 * The first component of a `/`-separated path that is a whiteout name, if any: a spec
 * path with one anywhere would delete files of lower layers in some runtime.
 *
 * @category destructors
 */
export const whiteoutComponent = (p: string): string | undefined => p.split("/").find(isWhiteoutName);

/**
 * Reads a tar entry name as the OCI layer format means it. A leading `/` or `./` and
 * repeated or trailing slashes mean nothing; `..` anywhere is refused (it would climb
 * out of the root), as are whiteout names before the last component (runtimes disagree
 * on them), whiteouts that name nothing, `.` or `..` (they would delete the directory
 * or its parent), and the other `.wh..wh.` names, which are aufs' private metadata.
 *
 * @category constructors
 */
export const classifyLayerEntry = (name: string): E.Either<string, LayerEntryName> => {
  const segments = name.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) return E.left("climbs out of the root with ..");
  if (segments.length === 0) return E.right({ _tag: "Root" });
  const last = segments[segments.length - 1]!;
  const dir = segments.slice(0, -1);
  const inner = dir.find(isWhiteoutName);
  if (inner !== undefined) return E.left(`has the whiteout name ${inner} as a directory`);
  if (!isWhiteoutName(last)) return E.right({ _tag: "Path", segments });
  if (last === OPAQUE_WHITEOUT) return E.right({ _tag: "Opaque", dir });
  const target = last.slice(WHITEOUT_PREFIX.length);
  if (target === "" || target === "." || target === "..") return E.left(`is a whiteout of ${JSON.stringify(target)}, which would delete ${target === ".." ? "the parent directory" : "the directory itself"}`);
  if (isWhiteoutName(target)) return E.left(`is a whiteout of ${target}, a name reserved for whiteouts`);
  return E.right({ _tag: "Whiteout", dir, name: target });
};

/**
 * The in-image path (`/a/b`, or `/` for the root) of a layer entry name, the same way
 * {@link classifyLayerEntry} reads it; undefined when it climbs out with `..`.
 *
 * @category destructors
 */
export const layerEntryPath = (name: string): `/${string}` | undefined => {
  const segments = name.split("/").filter((s) => s !== "" && s !== ".");
  return segments.includes("..") ? undefined : `/${segments.join("/")}`;
};
