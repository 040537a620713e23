/**
 * Tar archives as layer entries: reading them (for `.deb` data and the archives a spec
 * extracts), and the archive host plan reads archives and downloads through.
 */
export * from "./Tar.ts";
export * from "./ArchiveStore.ts";
