/**
 * Debian packages as layers: the archive (sources, signed release, indexes), versions,
 * resolution, `.deb` reading and the dpkg database entries of an image.
 */
export * from "./Version.ts";
export * from "./Control.ts";
export * from "./Sources.ts";
export * from "./Release.ts";
export * from "./PackageIndex.ts";
export * from "./Resolve.ts";
export * from "./DebFile.ts";
export * from "./Archive.ts";
export * from "./PackageHost.ts";
