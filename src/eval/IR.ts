/**
 * The evaluated, normalized form of one image export: every lazy part forced, every
 * path absolute and clean, every attribute defaulted, config merged.
 */
import type { ImagePath, Reference } from "../core/index.ts";

/**
 * The owner of an evaluated entry: uid and gid, 0 when not given.
 *
 * @category model
 */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * An entry after eval: path normalized, attributes checked and defaulted, file content
 * as bytes. A host copy stays unexpanded until plan.
 *
 * @category model
 */
export type EntryIR =
  | { readonly _tag: "File"; readonly path: ImagePath; readonly content: Uint8Array; readonly mode: number } & Owner
  | { readonly _tag: "Directory"; readonly path: ImagePath; readonly mode: number; /** Hides what lower layers hold below it. */ readonly opaque?: true } & Owner
  | { readonly _tag: "Whiteout"; readonly path: ImagePath }
  | { readonly _tag: "Symlink"; readonly path: ImagePath; readonly target: string } & Owner
  | { readonly _tag: "Hardlink"; readonly path: ImagePath; readonly target: ImagePath } & Owner
  | {
      readonly _tag: "HostCopy";
      readonly path: ImagePath;
      /** The source as written in the spec, relative to the spec's directory. */
      readonly source: string;
      readonly exclude: ReadonlyArray<string>;
      /** File mode override; undefined keeps 0644/0755 by the host's owner-exec bit. */
      readonly mode: number | undefined;
      /** Directory mode for copied directories. */
      readonly dirMode: number;
    } & Owner;

/**
 * A layer after eval: generators forced, entries checked, in the order the spec gives
 * them.
 *
 * @category model
 */
export interface LayerIR {
  readonly name: string;
  readonly comment: string | undefined;
  readonly entries: ReadonlyArray<EntryIR>;
}

/**
 * The merged runtime config, in OCI field spelling.
 *
 * @category model
 */
export interface ConfigIR {
  readonly Env?: ReadonlyArray<string>;
  readonly Entrypoint?: ReadonlyArray<string>;
  readonly Cmd?: ReadonlyArray<string>;
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  /** Docker's form, which podman reads too: durations in nanoseconds. */
  readonly Healthcheck?: HealthcheckIR;
}

/**
 * A healthcheck as Docker's image config writes it: `Test` is `["CMD", ...argv]`,
 * `["CMD-SHELL", script]` or `["NONE"]`.
 *
 * @category model
 */
export interface HealthcheckIR {
  readonly Test: ReadonlyArray<string>;
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

/**
 * The platform after eval, as it goes into the image config.
 *
 * @category model
 */
export interface PlatformIR {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/**
 * One image export after eval: what plan works from, with no lazy part and no unchecked
 * value left.
 *
 * @category model
 */
export interface ImageIR {
  readonly exportName: string;
  /** The registry image it builds on, as the spec names it, checked: resolved at plan. */
  readonly base?: Reference;
  readonly layers: ReadonlyArray<LayerIR>;
  readonly config: ConfigIR;
  readonly platform: PlatformIR;
  readonly annotations: Readonly<Record<string, string>>;
}
