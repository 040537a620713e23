/**
 * Entries: what a layer holds at one path. Plain frozen data; constructing an entry
 * never touches the file system, even one that copies from the host.
 */
import type { ImagePath } from "../core/ImagePath.ts";
import type { PackageFile } from "./Debian.ts";
import type { Image } from "./Image.ts";

export type { ImagePath };

/**
 * Owner and permission bits of an entry. Modes are numbers (`0o755`), so a string such
 * as `"755"` is a type error.
 *
 * @category model
 */
export interface Attributes {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * A regular file with inline content: UTF-8 text or bytes.
 *
 * @category model
 */
export interface File extends Attributes {
  readonly _tag: "File";
  readonly path: ImagePath;
  readonly content: string | Uint8Array;
}

/**
 * An empty directory (or the attributes of one that other entries fill).
 *
 * @category model
 */
export interface Directory extends Attributes {
  readonly _tag: "Directory";
  readonly path: ImagePath;
}

/**
 * A symbolic link; its target is stored as written, absolute or relative.
 *
 * @category model
 */
export interface Symlink extends Omit<Attributes, "mode"> {
  readonly _tag: "Symlink";
  readonly path: ImagePath;
  readonly target: string;
}

/**
 * A hard link to a regular file of the same layer.
 *
 * @category model
 */
export interface Hardlink extends Omit<Attributes, "mode"> {
  readonly _tag: "Hardlink";
  readonly path: ImagePath;
  readonly target: ImagePath;
}

/**
 * A file or directory tree copied from the host. A relative `source` is relative to the
 * spec file's directory, never to the working directory; an absolute one names a system
 * file (such as `/bin/busybox` from a distribution package). `exclude` holds glob patterns
 * matched against paths relative to `source`. When `mode` is set it applies to files;
 * otherwise files are 0644, or 0755 when the host file is executable by its owner.
 *
 * @category model
 */
export interface HostCopy extends Attributes {
  readonly _tag: "HostCopy";
  readonly path: ImagePath;
  readonly source: string;
  readonly exclude: ReadonlyArray<string>;
}

/**
 * The removal of what lower layers (a base's included) hold at a path, a directory with
 * everything in it: an OCI whiteout, shown in `lading plan` and `lading diff`.
 *
 * @category model
 */
export interface Remove {
  readonly _tag: "Remove";
  readonly path: ImagePath;
}

/**
 * A directory that replaces the one lower layers hold there, rather than merging with
 * it: nothing of theirs below it is seen (an OCI opaque directory). Entries of its own
 * layer under it are kept.
 *
 * @category model
 */
export interface Opaque extends Attributes {
  readonly _tag: "Opaque";
  readonly path: ImagePath;
}

/**
 * Files taken from another image's file system (Dockerfile's `COPY --from`): `source`
 * in `image`, copied to `path`. Only that image's layers are built, and only when an
 * image holding this entry is.
 *
 * @category model
 */
export interface FromImage extends Attributes {
  readonly _tag: "FromImage";
  readonly path: ImagePath;
  readonly image: Image;
  readonly source: ImagePath;
}

/**
 * A tar archive of the host (plain, gzip, xz or zstd), extracted at `path` as Dockerfile's
 * `ADD archive.tar.gz /dst` does: the archive's owners and modes are kept unless `uid`,
 * `gid` or `mode` (files only) say otherwise; its mtimes are not, as for every entry.
 * `source` is relative to the spec file's directory.
 *
 * @category model
 */
export interface Archive extends Attributes {
  readonly _tag: "Archive";
  readonly path: ImagePath;
  readonly source: string;
}

/**
 * A file downloaded from `url` and verified against `sha256` (Dockerfile's
 * `ADD --checksum=sha256:... URL`): fetched once into the store, then reused offline.
 * With `extract`, the download is a tar archive extracted at `path` as {@link Archive}.
 *
 * @category model
 */
export interface Fetch extends Attributes {
  readonly _tag: "Fetch";
  readonly path: ImagePath;
  readonly url: string;
  /** `sha256:<hex>` or the bare hex. */
  readonly sha256: string;
  readonly extract: boolean;
}

/**
 * What a layer holds at one path: one of the kinds above or a file of a Debian package
 * (`Debian.file`), told apart by `_tag`.
 *
 * @category model
 */
export type Entry = File | Directory | Symlink | Hardlink | HostCopy | PackageFile | Remove | Opaque | FromImage | Archive | Fetch;

const freeze = <A extends object>(a: A): A => Object.freeze(a);

/**
 * A file with inline content, mode 0644 unless given.
 *
 * @category constructors
 */
export const file = (path: ImagePath, content: string | Uint8Array, attributes: Attributes = {}): File =>
  freeze({ _tag: "File", path, content, ...attributes });

/**
 * An executable file with inline content (mode 0755 unless given).
 *
 * @category constructors
 */
export const executable = (path: ImagePath, content: string | Uint8Array, attributes: Attributes = {}): File =>
  freeze({ _tag: "File", path, content, mode: 0o755, ...attributes });

/**
 * A directory, mode 0755 unless given.
 *
 * @category constructors
 */
export const directory = (path: ImagePath, attributes: Attributes = {}): Directory =>
  freeze({ _tag: "Directory", path, ...attributes });

/**
 * A symbolic link at `path` pointing to `target`, which is stored as written and need
 * not exist.
 *
 * @category constructors
 */
export const symlink = (path: ImagePath, target: string, owner: Omit<Attributes, "mode"> = {}): Symlink =>
  freeze({ _tag: "Symlink", path, target, ...owner });

/**
 * A hard link at `path` to the regular file `target` of the same layer.
 *
 * @category constructors
 */
export const hardlink = (path: ImagePath, target: ImagePath, owner: Omit<Attributes, "mode"> = {}): Hardlink =>
  freeze({ _tag: "Hardlink", path, target, ...owner });

/**
 * Removes `path` (a directory with all it holds) from what the layers below have, as a
 * Dockerfile's `RUN rm -rf path` would, but declared: an OCI whiteout.
 *
 * @category constructors
 */
export const remove = (path: ImagePath): Remove => freeze({ _tag: "Remove", path });

/**
 * A directory at `path` that hides whatever the layers below hold there (mode 0755
 * unless given): the layer's own entries under it are all that is seen.
 *
 * @category constructors
 */
export const opaque = (path: ImagePath, attributes: Attributes = {}): Opaque => freeze({ _tag: "Opaque", path, ...attributes });

/**
 * Options of {@link copy}.
 *
 * @category model
 */
export interface CopyOptions extends Attributes {
  readonly exclude?: ReadonlyArray<string>;
}

/**
 * Copies the host file or directory `source` (relative to the spec file) to `path`.
 *
 * @category constructors
 */
export const copy = (source: string, path: ImagePath, options: CopyOptions = {}): HostCopy => {
  const { exclude = [], ...attributes } = options;
  // A non-array exclude (only a skipped type check lets one through) is kept for eval to
  // report, rather than spread into one pattern per character.
  return freeze({ _tag: "HostCopy", path, source, exclude: Array.isArray(exclude) ? Object.freeze([...exclude]) : exclude, ...attributes });
};

/**
 * Sets the permission bits (such as `0o755`) of an entry that has them, replacing any
 * previous mode; links have none. On a host copy or an archive they apply to its files.
 *
 * @category combinators
 */
export const withMode =
  (mode: number) =>
  <E extends File | Directory | HostCopy | PackageFile | Opaque | Archive | Fetch>(entry: E): E =>
    freeze({ ...entry, mode });

/**
 * Sets the numeric uid and gid of an entry (gid defaults to uid), replacing any
 * previous owner; on a host copy, of everything copied.
 *
 * @category combinators
 */
export const withOwner =
  (uid: number, gid: number = uid) =>
  <E extends Exclude<Entry, Remove>>(entry: E): E =>
    freeze({ ...entry, uid, gid });

/**
 * Files from another image's file system, as Dockerfile's `COPY --from`: `from` (a file
 * or a directory, whose contents are copied) in `image`, to `to` in this layer. Lazy:
 * `image` is built (its steps run) only when an image holding this entry is planned, and
 * none of its layers becomes part of this image. Files keep 0755 when executable, else
 * 0644, unless `mode` says otherwise; owners are 0 unless given.
 *
 * @category constructors
 */
export const fromImage = (image: Image, from: ImagePath, to: ImagePath, attributes: Attributes = {}): FromImage =>
  freeze({ _tag: "FromImage", path: to, image, source: from, ...attributes });

/**
 * Extracts the host tar archive `source` (plain, gzip, xz or zstd, told by its first bytes;
 * relative to the spec file) into `path`, reproducibly: its entries sorted and their
 * mtimes set as every entry's are. Owners and modes are the archive's unless
 * `attributes` give them (`mode` applies to its files). An absolute name, a `..`, a
 * `.wh.` name, a link leading out of it or a device file is refused.
 *
 * @category constructors
 */
export const archive = (source: string, path: ImagePath, attributes: Attributes = {}): Archive =>
  freeze({ _tag: "Archive", path, source, ...attributes });

/**
 * Options of {@link fetch}: the download's sha256 (required), whether to extract it as
 * a tar archive, and its attributes.
 *
 * @category model
 */
export interface FetchOptions extends Attributes {
  readonly sha256: string;
  readonly extract?: boolean;
}

/**
 * A file downloaded from `url` to `path`, checked against `sha256`: fetched once into
 * the store, reused offline after, and pinned in lading.lock by `lading lock`. A plain
 * file is 0644 unless `mode` says otherwise (Docker's `ADD` of a URL gives 0600, which
 * no one but root can read; lading treats it as any other file). With `extract: true`
 * it is a tar archive, extracted at `path` as {@link archive} does.
 *
 * @category constructors
 */
export const fetch = (url: string, path: ImagePath, options: FetchOptions): Fetch => {
  const { sha256, extract = false, ...attributes } = options;
  return freeze({ _tag: "Fetch", path, url, sha256, extract, ...attributes });
};
