/**
 * Planning archives and downloads: a tar archive (of the host, or fetched) becomes the
 * entries it holds, below the path it is extracted to; a fetched file becomes one file.
 * The archive's listing comes from the archive host, kept by the archive's digest, so an
 * unchanged archive is read once.
 */
import * as path from "node:path";
import type { ImagePath } from "../core/index.ts";
import { DiagnosticError, error } from "../core/index.ts";
import type { EntryIR } from "../eval/index.ts";
import type { ArchiveHost } from "./ArchiveHost.ts";
import type { EntryWithout, PlannedArchive, PlannedEntry, PlannedFetch } from "./BuildPlan.ts";
import type { Host } from "./Host.ts";

const fail = (message: string, hint?: string): never => {
  throw new DiagnosticError([error({}, message, hint)]);
};

/**
 * The entries of an archive extracted at its path, with the archive as the plan records
 * it and the download it came from, if any. The archive's owners and modes are kept unless the entry overrides them (its
 * mode, files only). Throws a `DiagnosticError` naming the archive.
 *
 * @category constructors
 */
export const planArchive = async (
  host: Host,
  archives: ArchiveHost,
  e: Extract<EntryIR, { _tag: "Archive" }>,
  specDir: string,
): Promise<{ readonly entries: ReadonlyArray<PlannedEntry>; readonly archive: PlannedArchive; readonly fetched?: PlannedFetch }> => {
  let listed: ReadonlyArray<EntryWithout<"source">>;
  let source: string;
  let archive: PlannedArchive;
  if (e.from._tag === "Host") {
    const file = path.resolve(specDir, e.from.source);
    const st = await host.stat(file);
    if (st?.kind !== "file") fail(st === undefined ? `archive not found: ${e.from.source}` : `archive ${e.from.source} is not a regular file`, "host paths are relative to the spec file's directory");
    const digest = await host.hashFile(file, st!);
    listed = await archives.list(file, digest, e.from.source);
    source = `tar:${e.from.source}`;
    archive = { source: e.from.source, digest, path: e.path };
  } else {
    const file = await archives.fetch(e.from.url, e.from.sha256);
    listed = await archives.list(file, e.from.sha256, e.from.url);
    source = `url:${e.from.url}`;
    archive = { source: e.from.url, digest: e.from.sha256, path: e.path };
  }
  const into = (p: string): ImagePath => (e.path === "/" ? p : `${e.path}${p}`) as ImagePath;
  const entries: PlannedEntry[] = listed.map((m) => ({
    ...m,
    path: into(m.path),
    mode: m.type === "file" && e.mode !== undefined ? e.mode : m.mode,
    uid: e.uid ?? m.uid,
    gid: e.gid ?? m.gid,
    ...(m.type === "hardlink" ? { target: into(m.target) } : {}),
    ...(m.type === "file" ? { source } : {}),
  }));
  // The directory it is extracted to, as Docker's ADD makes it; an archive's own `./`
  // entry does not change it.
  if (e.path !== "/") entries.unshift({ path: e.path, type: "dir", mode: 0o755, uid: e.uid ?? 0, gid: e.gid ?? 0 });
  return { entries, archive, ...(e.from._tag === "Url" ? { fetched: { url: e.from.url, sha256: e.from.sha256 } } : {}) };
};

/**
 * A fetched file, as one entry at its path.
 *
 * @category constructors
 */
export const planFetch = async (host: Host, archives: ArchiveHost, e: Extract<EntryIR, { _tag: "Fetch" }>): Promise<PlannedEntry> => {
  const file = await archives.fetch(e.url, e.sha256);
  const st = await host.stat(file);
  if (st?.kind !== "file") fail(`the download of ${e.url} is missing from the store`, "build again: it is fetched anew");
  return { path: e.path, type: "file", mode: e.mode, uid: e.uid, gid: e.gid, size: st!.size, digest: e.sha256, source: `url:${e.url}` };
};
