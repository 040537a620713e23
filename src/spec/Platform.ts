/**
 * Platforms, as in the OCI image index: os, architecture and optional variant.
 */

/**
 * Architectures in Go's GOARCH spelling, which OCI uses.
 *
 * @category model
 */
export type Architecture =
  | "amd64" | "arm64" | "arm" | "386" | "ppc64le" | "s390x" | "riscv64" | "mips64le" | "loong64";

/**
 * The platform an image runs on, as in the OCI image config and index. Only linux is
 * supported.
 *
 * @category model
 */
export interface Platform {
  readonly os: "linux";
  readonly architecture: Architecture;
  readonly variant?: string;
}

/**
 * A linux platform for an architecture, with an optional variant (such as `"v7"` for
 * `arm`).
 *
 * @category constructors
 */
export const linux = (architecture: Architecture, variant?: string): Platform =>
  Object.freeze(variant === undefined ? { os: "linux", architecture } : { os: "linux", architecture, variant });

/**
 * linux/amd64, the platform of `scratch`.
 *
 * @category constructors
 */
export const linuxAmd64: Platform = linux("amd64");

/**
 * linux/arm64 with variant `v8`, as OCI image indexes spell it.
 *
 * @category constructors
 */
export const linuxArm64: Platform = linux("arm64", "v8");

/**
 * All known architectures, for eval's runtime check.
 *
 * @category instances
 */
export const architectures: ReadonlyArray<Architecture> = [
  "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64",
];
