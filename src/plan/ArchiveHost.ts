/**
 * The archive host: plan's window on tar archives and downloads, as `Host` is on the
 * file system. It fetches a URL once into the store (verified by its sha256, and only
 * as lading.lock pins it when frozen) and lists what an archive holds, keeping each file
 * of it by digest for the build.
 */
import type { Digest } from "../core/index.ts";
import type { EntryWithout } from "./BuildPlan.ts";

/**
 * The archive host. Failures are thrown as `DiagnosticError`s naming the archive or the
 * URL (and the member); plan adds the export, the layer and the path.
 *
 * @category model
 */
export interface ArchiveHost {
  /** Fetches `url` into the store unless it is there, checked against `sha256`; gives its local path. */
  fetch(url: string, sha256: Digest): Promise<string>;
  /**
   * The entries of the tar archive `file` (whose digest is `digest`, shown as `shown`),
   * their paths relative to where it is extracted; the listing is kept by `digest`.
   */
  list(file: string, digest: Digest, shown: string): Promise<ReadonlyArray<EntryWithout<"source">>>;
  /** Where the build reads a fetched file or an archive's file, by its digest. */
  contentPath(digest: Digest): string;
}
