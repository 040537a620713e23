/**
 * eval of Debian package sets and package files: archives checked and defaulted, the
 * architecture taken from the image's platform when the spec leaves it out.
 */
import type { Diagnostic, Place } from "../core/index.ts";
import { error } from "../core/index.ts";
import type { Archive, PackageName, PackageSet } from "../spec/Debian.ts";
import type { Platform } from "../spec/Platform.ts";
import type { ArchiveIR, PackageNameIR, PackageSetIR } from "./IR.ts";

/** Debian's names of the OCI architectures (and variants) it builds for. */
const DEBIAN_ARCH: Readonly<Record<string, string>> = {
  amd64: "amd64",
  arm64: "arm64",
  arm: "armhf",
  "arm/v5": "armel",
  "arm/v6": "armel",
  "386": "i386",
  ppc64le: "ppc64el",
  s390x: "s390x",
  riscv64: "riscv64",
  mips64le: "mips64el",
  loong64: "loong64",
};

/**
 * The Debian architecture of a platform, such as `armhf` for linux/arm/v7.
 *
 * @category destructors
 */
export const debianArchitecture = (p: Pick<Platform, "architecture" | "variant">): string | undefined =>
  DEBIAN_ARCH[`${p.architecture}/${p.variant ?? ""}`] ?? DEBIAN_ARCH[p.architecture];

const NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const VERSION = /^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$/;
const WORD = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/**
 * Checks an archive and fills in its defaults: `main`, and the platform's architecture.
 *
 * @category constructors
 */
export const evalArchive = (a: Archive, arch: string | undefined, place: Place, out: Diagnostic[]): ArchiveIR | undefined => {
  if (typeof a !== "object" || a === null || typeof a.suite !== "string" || !WORD.test(a.suite)) {
    out.push(error(place, "a Debian archive needs a suite, such as \"bookworm\"", "use Debian.bookworm, or { suite: ... }"));
    return undefined;
  }
  const components = a.components ?? ["main"];
  if (!Array.isArray(components) || components.length === 0 || components.some((c) => typeof c !== "string" || !WORD.test(c))) {
    out.push(error(place, `invalid components of the archive ${a.suite}`, 'e.g. ["main"]'));
    return undefined;
  }
  const architecture = a.architecture ?? arch;
  if (architecture === undefined || !WORD.test(architecture)) {
    out.push(error(place, `no Debian architecture for this platform`, "give the archive an architecture"));
    return undefined;
  }
  if (a.location !== undefined && !/^https?:\/\/[^\s]+$/.test(a.location)) {
    out.push(error(place, `invalid archive location ${JSON.stringify(a.location)}`, "an http:// or https:// URI of the archive's root, or leave it out to use the host's apt sources"));
    return undefined;
  }
  if (a.keyring !== undefined && (typeof a.keyring !== "string" || a.keyring === "")) {
    out.push(error(place, "an archive's keyring must be a host path"));
    return undefined;
  }
  return {
    suite: a.suite,
    components: [...components],
    architecture,
    ...(a.location === undefined ? {} : { location: a.location }),
    ...(a.keyring === undefined ? {} : { keyring: a.keyring }),
  };
};

/**
 * Checks a package name and optional version.
 *
 * @category constructors
 */
export const evalPackageName = (p: PackageName, place: Place, out: Diagnostic[]): PackageNameIR | undefined => {
  if (typeof p !== "object" || p === null || typeof p.name !== "string" || !NAME.test(p.name)) {
    out.push(error(place, `invalid package name ${JSON.stringify((p as { name?: unknown } | null)?.name ?? p)}`, "Debian names are lower case letters, digits, + - ."));
    return undefined;
  }
  if (p.version !== undefined && (typeof p.version !== "string" || !VERSION.test(p.version))) {
    out.push(error(place, `invalid version ${JSON.stringify(p.version)} of ${p.name}`));
    return undefined;
  }
  return p.version === undefined ? { name: p.name } : { name: p.name, version: p.version };
};

/**
 * Checks a package set.
 *
 * @category constructors
 */
export const evalPackageSet = (set: PackageSet, arch: string | undefined, place: Place, out: Diagnostic[]): PackageSetIR | undefined => {
  const archive = evalArchive(set.archive, arch, place, out);
  if (!Array.isArray(set.packages) || set.packages.length === 0) {
    out.push(error(place, "a package set needs at least one package name"));
    return undefined;
  }
  const names = set.packages.map((p) => evalPackageName(p, place, out));
  if (archive === undefined || names.some((n) => n === undefined)) return undefined;
  return { archive, packages: names as PackageNameIR[], essential: set.essential === true };
};
