/**
 * The evaluated, normalized form of one image export: every lazy part forced, every
 * path absolute and clean, every attribute defaulted, config merged.
 */
import type { Digest, ImagePath, Reference } from "../core/index.ts";
import type { Derived } from "../spec/Layer.ts";

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
    } & Owner
  | {
      readonly _tag: "PackageFile";
      readonly path: ImagePath;
      readonly archive: ArchiveIR;
      readonly package: PackageNameIR;
      readonly from: ImagePath;
      /** Mode override; undefined keeps the package's. */
      readonly mode: number | undefined;
    } & Owner
  | {
      readonly _tag: "FromImage";
      readonly path: ImagePath;
      /** The file or directory taken from the image. */
      readonly source: ImagePath;
      readonly image: ImageIR;
      /** File mode override; undefined keeps 0644/0755 by the owner-exec bit. */
      readonly mode: number | undefined;
    } & Owner
  | {
      readonly _tag: "Archive";
      readonly path: ImagePath;
      readonly from: ArchiveSourceIR;
      /** Overrides of the archive's own attributes: the mode of its files, the owner of all. */
      readonly mode: number | undefined;
      readonly uid: number | undefined;
      readonly gid: number | undefined;
    }
  | { readonly _tag: "Fetch"; readonly path: ImagePath; readonly url: string; readonly sha256: Digest; readonly mode: number } & Owner;

/**
 * Where a tar archive comes from: a host file as written in the spec (relative to its
 * directory), or a download checked by its sha256.
 *
 * @category model
 */
export type ArchiveSourceIR = { readonly _tag: "Host"; readonly source: string } | { readonly _tag: "Url"; readonly url: string; readonly sha256: Digest };

/**
 * A Debian archive after eval: components and architecture defaulted (the architecture
 * from the image's platform).
 *
 * @category model
 */
export interface ArchiveIR {
  readonly suite: string;
  readonly components: ReadonlyArray<string>;
  readonly architecture: string;
  /** The archive's root URI; undefined: from the host's apt sources. */
  readonly location?: string;
  /** The keyring as written, relative to the spec's directory; undefined: the host's Debian keyring. */
  readonly keyring?: string;
}

/**
 * A package asked for, by name and optionally exact version.
 *
 * @category model
 */
export interface PackageNameIR {
  readonly name: string;
  readonly version?: string;
}

/**
 * A Debian package set after eval, resolved at plan.
 *
 * @category model
 */
export interface PackageSetIR {
  readonly archive: ArchiveIR;
  readonly packages: ReadonlyArray<PackageNameIR>;
  readonly essential: boolean;
}

/**
 * A layer after eval: generators forced, entries checked, in the order the spec gives
 * them.
 *
 * @category model
 */
export interface LayerIR {
  readonly _tag: "Layer";
  readonly name: string;
  readonly comment: string | undefined;
  readonly entries: ReadonlyArray<EntryIR>;
  /** Debian package sets, unpacked below the entries; absent when there are none. */
  readonly packages?: ReadonlyArray<PackageSetIR>;
  /**
   * Functions of the image below that give more entries, called at plan (which alone
   * can read the base); absent when there are none. See {@link deriveEntries}.
   */
  readonly derive?: ReadonlyArray<Derived["derive"]>;
}

/**
 * A run step's mount after eval: targets clean, sources as the spec gives them.
 *
 * @category model
 */
export type MountIR =
  | { readonly _tag: "Bind"; readonly source: string; readonly target: ImagePath }
  | { readonly _tag: "Cache"; readonly id: string; readonly target: ImagePath }
  | { readonly _tag: "Secret"; readonly target: ImagePath; readonly source: { readonly _tag: "Env"; readonly name: string } | { readonly _tag: "File"; readonly path: string } };

/**
 * A run step's limits after eval: memory in bytes, CPUs, processes, timeout in seconds.
 *
 * @category model
 */
export interface LimitsIR {
  readonly memory?: number;
  readonly cpus?: number;
  readonly pids?: number;
  readonly timeout?: number;
}

/**
 * A run step after eval. `config` is the image's config where the step was added (the
 * base's is merged under it at plan); `env`, `workingDir` and `user` are the step's own.
 *
 * @category model
 */
export interface RunIR {
  readonly _tag: "Run";
  readonly name: string;
  readonly argv: ReadonlyArray<string>;
  readonly shell?: string;
  readonly config: ConfigIR;
  readonly env: Readonly<Record<string, string>>;
  readonly workingDir?: ImagePath;
  readonly user?: string;
  readonly mounts: ReadonlyArray<MountIR>;
  readonly network: "none" | "host";
  readonly limits: LimitsIR;
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
  readonly layers: ReadonlyArray<LayerIR | RunIR>;
  readonly config: ConfigIR;
  readonly platform: PlatformIR;
  readonly annotations: Readonly<Record<string, string>>;
}
