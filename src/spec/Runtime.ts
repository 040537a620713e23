/**
 * The runtime settings of an image, as a value: what a container of it gets besides its
 * file system and process (resource limits, capabilities, a read-only root with tmpfs
 * mounts, sysctls, the network namespace). They travel with the image in its config, as
 * the `org.lading.runtime` label, and lower into the OCI runtime config that `bundle:`
 * writes and `lading run` uses; `lading run`'s flags override them for one run.
 */
import type { ImagePath } from "../core/ImagePath.ts";

/**
 * Runtime settings; every field optional. The user, env and ports stay where the image
 * config has them, so the two never disagree.
 *
 * @category model
 */
export interface Runtime {
  /** Bytes, or a size such as `"512m"`. */
  readonly memory?: number | string;
  /** CPUs, as a fraction of cores. */
  readonly cpus?: number;
  readonly pids?: number;
  /** Capabilities added to or dropped from Docker's default set, as `"CAP_NET_ADMIN"` or `"NET_ADMIN"`. */
  readonly capabilities?: { readonly add?: ReadonlyArray<string>; readonly drop?: ReadonlyArray<string> };
  /** The root file system read-only; `tmpfs` paths stay writable. */
  readonly readOnlyRoot?: boolean;
  readonly tmpfs?: ReadonlyArray<ImagePath>;
  readonly sysctls?: Readonly<Record<string, string>>;
  /** A network namespace of its own with loopback only (the default), or the host's. */
  readonly network?: "none" | "host";
}

/**
 * The label an image's runtime settings travel in, as canonical JSON.
 *
 * @category model
 */
export const RUNTIME_LABEL = "org.lading.runtime";
