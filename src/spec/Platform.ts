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
 * @category model
 */
export interface Platform {
  readonly os: "linux";
  readonly architecture: Architecture;
  readonly variant?: string;
}

/**
 * @category constructors
 */
export const linux = (architecture: Architecture, variant?: string): Platform =>
  Object.freeze(variant === undefined ? { os: "linux", architecture } : { os: "linux", architecture, variant });

/**
 * @category constructors
 */
export const linuxAmd64: Platform = linux("amd64");

/**
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
