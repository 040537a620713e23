/**
 * Debian packages as values. An archive names a suite (and optionally its components,
 * architecture, location and keyring); a package set asks for packages of it; a layer
 * made from a set holds every package of its dependency closure, unpacked, with its
 * dpkg database entry. Constructing any of these reads nothing: the set is resolved,
 * fetched and verified when an image that holds it is planned.
 */
import type { ImagePath } from "../core/ImagePath.ts";
import type { Attributes } from "./Entry.ts";
import type { Layer } from "./Layer.ts";
import { hasTag } from "./Tagged.ts";

/**
 * A Debian archive. `location` is the archive's root URI; left out, it comes from the
 * host's apt sources for the suite, so a spec names no mirror. `keyring` is a host path
 * (relative to the spec file) of the OpenPGP keyring the release is signed with; default
 * the host's `/usr/share/keyrings/debian-archive-keyring.gpg`. `architecture` is the
 * Debian name (`amd64`, `arm64`, `armhf`); default from the image's platform.
 *
 * @category model
 */
export interface Archive {
  readonly suite: string;
  readonly components?: ReadonlyArray<string>;
  readonly architecture?: string;
  readonly location?: string;
  readonly keyring?: string;
}

/**
 * A package asked for: its name, and optionally an exact version.
 *
 * @category model
 */
export interface PackageName {
  readonly name: string;
  readonly version?: string;
}

/**
 * A set of packages of an archive, resolved to its closure when planned. With
 * `essential`, every Essential package of the suite is added, as a full system has them.
 *
 * @category model
 */
export interface PackageSet {
  readonly _tag: "DebianPackages";
  readonly archive: Archive;
  readonly packages: ReadonlyArray<PackageName>;
  readonly essential: boolean;
}

/**
 * One file of a package, copied into a layer without installing the package: for a
 * single static binary such as BusyBox's.
 *
 * @category model
 */
export interface PackageFile extends Attributes {
  readonly _tag: "PackageFile";
  readonly path: ImagePath;
  readonly archive: Archive;
  readonly package: PackageName;
  /** The file's path in the package's data. */
  readonly from: ImagePath;
}

/**
 * Debian 12, main.
 *
 * @category constructors
 */
export const bookworm: Archive = Object.freeze({ suite: "bookworm", components: Object.freeze(["main"]) });

/** `name` or `name=version`, as apt-get takes them. */
const parseName = (spec: string | PackageName): PackageName => {
  if (typeof spec !== "string") return Object.freeze({ ...spec });
  const i = spec.indexOf("=");
  return Object.freeze(i < 0 ? { name: spec } : { name: spec.slice(0, i), version: spec.slice(i + 1) });
};

/**
 * A package set: `Debian.packages(Debian.bookworm, ["nginx", "tzdata=2024a-0+deb12u1"])`.
 * Names may carry an exact version after `=`, as apt-get takes them.
 *
 * @category constructors
 */
export const packages = (archive: Archive, names: ReadonlyArray<string | PackageName>, options: { readonly essential?: boolean } = {}): PackageSet =>
  Object.freeze({
    _tag: "DebianPackages",
    archive: Object.freeze({ ...archive }),
    packages: Object.freeze(Array.isArray(names) ? names.map(parseName) : (names as unknown as ReadonlyArray<PackageName>)),
    essential: options.essential === true,
  });

/**
 * A layer holding a package set: every package of its closure not already in a layer
 * below, unpacked, with the dpkg database that lists them (`/var/lib/dpkg/status`).
 * Maintainer scripts are not run.
 *
 * @category constructors
 */
export const layer = (name: string, set: PackageSet): Layer =>
  Object.freeze({ _tag: "Layer", name, sources: Object.freeze([set]) });

/**
 * A file of a package at `path`: `Debian.file("/bin/busybox", Debian.bookworm,
 * "busybox-static", "/bin/busybox")`. The package is fetched and verified, but not
 * installed: only this file goes into the layer, with the package's mode unless given.
 *
 * @category constructors
 */
export const file = (path: ImagePath, archive: Archive, pkg: string | PackageName, from: ImagePath, attributes: Attributes = {}): PackageFile =>
  Object.freeze({ _tag: "PackageFile", path, archive: Object.freeze({ ...archive }), package: parseName(pkg), from, ...attributes });

/**
 * Whether a value is a package set, by its `_tag`.
 *
 * @category refinements
 */
export const isPackageSet = (u: unknown): u is PackageSet => hasTag(u, "DebianPackages");
