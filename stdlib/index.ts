/**
 * lading's standard library: reusable layers, written with the public API alone.
 */
export * from "./busybox.ts";
export * from "./debian.ts";
export * from "./users.ts";
