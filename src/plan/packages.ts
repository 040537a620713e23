/**
 * Planning Debian packages: a package set's closure becomes entries (each file's content
 * read from the store at build time) plus the dpkg database that lists them, and a
 * package file becomes one entry. The database is `/var/lib/dpkg/status`, the file
 * `dpkg -s` reads and trivy and syft scan, rewritten whole in each package layer with
 * every package installed so far, and `/var/lib/dpkg/info/NAME.list` and `.md5sums` per
 * package (what `dpkg -L` and `dpkg --verify` read). Maintainer scripts are not run.
 */
import type { Digest, ImagePath } from "../core/index.ts";
import { digestOf, sortBytewise } from "../core/index.ts";
import type { ArchiveIR, ImageIR, PackageNameIR, PackageSetIR } from "../eval/index.ts";
import type { EntryWithout, PlannedEntry, PlannedPackage } from "./BuildPlan.ts";
import type { PackageHost } from "./PackageHost.ts";

/**
 * What the package layers below have installed: the packages, and each one's status
 * paragraph by name.
 *
 * @category model
 */
export interface DpkgState {
  readonly packages: ReadonlyArray<PlannedPackage>;
  readonly status: ReadonlyMap<string, string>;
}

/**
 * No package installed.
 *
 * @category constructors
 */
export const emptyDpkgState: DpkgState = { packages: [], status: new Map() };

/** The control paragraph as dpkg's status file keeps it: with a Status field after Package. */
const statusParagraph = (control: string): string => {
  const lines = control.replace(/\n+$/, "").split("\n");
  const at = lines.findIndex((l) => /^Package:/i.test(l));
  lines.splice(at + 1, 0, "Status: install ok installed");
  return `${lines.join("\n")}\n`;
};

/** dpkg's name for a package's info files: `NAME:ARCH` for Multi-Arch: same. */
const infoName = (pkg: PlannedPackage, control: string): string => (/^Multi-Arch:\s*same\s*$/im.test(control) ? `${pkg.name}:${pkg.architecture}` : pkg.name);

const inlineFile = (path: ImagePath, text: string, inline: Map<Digest, Uint8Array>): PlannedEntry => {
  const bytes = new TextEncoder().encode(text);
  const digest = digestOf(bytes);
  inline.set(digest, bytes);
  return { path, type: "file", mode: 0o644, uid: 0, gid: 0, size: bytes.byteLength, digest, source: "inline" };
};

/**
 * Plans the package sets of one layer over what is installed below: the entries, the
 * packages, and the state the next package layer starts from.
 *
 * @category constructors
 */
export const planPackageSets = async (
  host: PackageHost,
  sets: ReadonlyArray<PackageSetIR>,
  below: DpkgState,
  inline: Map<Digest, Uint8Array>,
): Promise<{ readonly entries: ReadonlyArray<PlannedEntry>; readonly packages: ReadonlyArray<PlannedPackage>; readonly state: DpkgState }> => {
  const byPath = new Map<string, PlannedEntry>();
  const packages: PlannedPackage[] = [];
  const status = new Map(below.status);
  let installed = [...below.packages];
  for (const set of sets) {
    const resolved = await host.resolve(set, installed);
    for (const pkg of resolved) {
      const contents = await host.contents(set.archive, pkg);
      const source = `deb:${pkg.name}`;
      const paths: string[] = [];
      for (const e of contents.entries) {
        paths.push(e.path);
        const prev = byPath.get(e.path);
        // A directory two packages share keeps the first one's attributes, as dpkg does;
        // a file a later package ships again replaces the earlier one, as an upgrade
        // with Replaces would.
        if (prev !== undefined && prev.type === "dir") continue;
        byPath.set(e.path, e.type === "file" ? { ...e, source } : e);
      }
      const name = infoName(pkg, contents.control);
      byPath.set(`/var/lib/dpkg/info/${name}.list`, inlineFile(`/var/lib/dpkg/info/${name}.list`, `/.\n${paths.join("\n")}\n`, inline));
      if (contents.md5sums !== "") byPath.set(`/var/lib/dpkg/info/${name}.md5sums`, inlineFile(`/var/lib/dpkg/info/${name}.md5sums`, contents.md5sums, inline));
      status.set(name, statusParagraph(contents.control));
      packages.push(pkg);
    }
    installed = [...installed, ...resolved];
  }
  const text = sortBytewise([...status], ([n]) => n)
    .map(([, p]) => p)
    .join("\n");
  byPath.set("/var/lib/dpkg/status", inlineFile("/var/lib/dpkg/status", text, inline));
  return { entries: [...byPath.values()], packages, state: { packages: installed, status } };
};

/**
 * Plans one file of a package, at `path`: the package is fetched and verified, not
 * installed.
 *
 * @category constructors
 */
export const planPackageFile = async (
  host: PackageHost,
  archive: ArchiveIR,
  name: PackageNameIR,
  from: ImagePath,
): Promise<{ readonly entry: EntryWithout<"path"> | undefined; readonly pkg: PlannedPackage }> => {
  const found = await host.find(archive, name);
  const pkg = { ...found, installed: false };
  const contents = await host.contents(archive, pkg);
  const e = contents.entries.find((x) => x.path === from);
  if (e === undefined || e.type !== "file") return { entry: undefined, pkg };
  return { entry: { ...e, source: `deb:${pkg.name}` }, pkg };
};

/**
 * Resolves every package set and package file of an image, bottom up, without fetching
 * a `.deb`: what `lading lock` pins.
 *
 * @category destructors
 */
export const resolveImagePackages = async (host: PackageHost, image: ImageIR): Promise<void> => {
  let installed: ReadonlyArray<PlannedPackage> = [];
  for (const layer of image.layers) {
    // A run step's packages are its command's business: only declared sets are resolved.
    if (layer._tag === "Run") continue;
    for (const set of layer.packages ?? []) installed = [...installed, ...(await host.resolve(set, installed))];
    for (const e of layer.entries) if (e._tag === "PackageFile") await host.find(e.archive, e.package);
  }
};
