/**
 * The package host: plan's window on Debian archives, as `Host` is on the file system.
 * It resolves package sets (against the archive, or only from lading.lock when frozen),
 * fetches and verifies `.deb`s, and lists what each holds; a test can hand plan one over
 * an archive of its own.
 */
import type { Digest } from "../core/index.ts";
import type { ArchiveIR, PackageNameIR, PackageSetIR } from "../eval/index.ts";
import type { EntryWithout, PlannedPackage } from "./BuildPlan.ts";

/**
 * What a `.deb` holds, for plan: its control data and its entries (files with size and
 * digest), in archive order.
 *
 * @category model
 */
export interface PackageContents {
  readonly control: string;
  readonly md5sums: string;
  readonly entries: ReadonlyArray<EntryWithout<"source">>;
}

/**
 * The package host. Failures are thrown as `DiagnosticError`s naming the package; plan
 * adds the export and layer.
 *
 * @category model
 */
export interface PackageHost {
  /** The closure of a set, without the packages already `installed` below it. */
  resolve(set: PackageSetIR, installed: ReadonlyArray<PlannedPackage>): Promise<ReadonlyArray<PlannedPackage>>;
  /** One package, without its dependencies. */
  find(archive: ArchiveIR, pkg: PackageNameIR): Promise<PlannedPackage>;
  /** Fetches (verified) and lists a package. */
  contents(archive: ArchiveIR, pkg: PlannedPackage): Promise<PackageContents>;
  /** Where the build reads a package file's content, by its digest. */
  contentPath(digest: Digest): string;
}
