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
 * A duration as Docker's HEALTHCHECK writes it: `"30s"`, `"500ms"`, `"5m"`, `"1h"`.
 *
 * @category model
 */
export type Duration = `${number}ms` | `${number}s` | `${number}m` | `${number}h`;

/**
 * When and how a runtime checks that the container is healthy. Unset fields take the
 * runtime's defaults (Docker and podman: every 30s, 30s timeout, 3 retries).
 *
 * @category model
 */
export interface HealthcheckOptions {
  readonly interval?: Duration;
  readonly timeout?: Duration;
  /** Failures during this time after start do not count. */
  readonly startPeriod?: Duration;
  /** The interval during the start period. */
  readonly startInterval?: Duration;
  readonly retries?: number;
}

/**
 * A healthcheck: a command (exec form, or a shell script run by `/bin/sh -c`), or
 * `none` to turn off one inherited from a base.
 *
 * @category model
 */
export type Healthcheck =
  | ({ readonly _tag: "Exec"; readonly argv: ReadonlyArray<string> } & HealthcheckOptions)
  | ({ readonly _tag: "Shell"; readonly script: string } & HealthcheckOptions)
  | { readonly _tag: "None" };

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
  readonly healthcheck?: Healthcheck;
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
