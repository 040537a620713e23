/**
 * The runtime configuration of an image: what the OCI image config calls `config`.
 */
import type { ImagePath } from "../core/ImagePath.ts";

/**
 * A port with its protocol, as `"8080/tcp"`; a bare number is a type error.
 *
 * @category model
 */
export type Port = `${number}/tcp` | `${number}/udp` | `${number}/sctp`;

/**
 * A signal name such as `"SIGTERM"`.
 *
 * @category model
 */
export type Signal = `SIG${string}`;

/**
 * The image's runtime configuration. Every field is optional; combinators merge
 * later values over earlier ones, like Dockerfile instructions.
 *
 * @category model
 */
export interface Config {
  readonly env: Readonly<Record<string, string>>;
  readonly entrypoint?: ReadonlyArray<string>;
  readonly cmd?: ReadonlyArray<string>;
  readonly workingDir?: ImagePath;
  readonly user?: string;
  readonly exposedPorts: ReadonlyArray<Port>;
  readonly volumes: ReadonlyArray<ImagePath>;
  readonly labels: Readonly<Record<string, string>>;
  readonly stopSignal?: Signal;
}

/**
 * The empty configuration of `scratch`.
 *
 * @category constructors
 */
export const empty: Config = Object.freeze({
  env: Object.freeze({}),
  exposedPorts: Object.freeze([]),
  volumes: Object.freeze([]),
  labels: Object.freeze({}),
});
