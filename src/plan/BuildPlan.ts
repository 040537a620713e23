/**
 * The BuildPlan: the whole image as data, before any byte is built. It is what
 * `lading plan --json` prints and what `lading diff` compares; it holds no absolute host
 * path, so two checkouts of a spec give equal plans.
 */
import type { Digest, ImagePath } from "../core/index.ts";
import type { ConfigIR, LimitsIR, PlatformIR } from "../eval/index.ts";
import type { FileStat } from "../spec/Layer.ts";
import type { EntryList } from "./PackedEntries.ts";

/** What every tar entry of a layer has. */
interface EntryAttributes {
  readonly path: ImagePath;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Extended attributes that matter (`security.capability`), by name, base64; run step layers only. */
  readonly xattrs?: Readonly<Record<string, string>>;
}

/**
 * A regular file: its content's size and digest, and where the content is.
 *
 * @category model
 */
export interface PlannedFile extends EntryAttributes {
  readonly type: "file";
  readonly size: number;
  readonly digest: Digest;
  /** `inline`, `deb:NAME` (a Debian package), `tar:`/`url:` (an archive or a download), or the host path relative to the spec's directory. */
  readonly source?: string;
}

/**
 * A directory.
 *
 * @category model
 */
export interface PlannedDirectory extends EntryAttributes {
  readonly type: "dir";
}

/**
 * A symbolic link (its target as written) or a hard link (the path of the entry it names).
 *
 * @category model
 */
export interface PlannedLink extends EntryAttributes {
  readonly type: "symlink" | "hardlink";
  readonly target: string;
}

/**
 * One tar entry of a layer, all attributes resolved: a union told apart by `type`.
 *
 * @category model
 */
export type PlannedEntry = PlannedFile | PlannedDirectory | PlannedLink;

/**
 * A run step's mount as planned: a bind's content digest (the hash of its files' paths,
 * modes and digests), a cache's id, a secret's declaration (never its value).
 *
 * @category model
 */
export type PlannedMount =
  | { readonly type: "bind"; readonly target: string; readonly source: string; readonly digest: Digest }
  | { readonly type: "cache"; readonly target: string; readonly id: string }
  | { readonly type: "secret"; readonly target: string; readonly env?: string; readonly file?: string };

/**
 * A run step as planned: the command with everything it runs with, resolved.
 *
 * @category model
 */
export interface PlannedRun {
  readonly argv: ReadonlyArray<string>;
  /** The script of a shell-form step. */
  readonly shell?: string;
  /** `NAME=value`, sorted: the image's env where the step is, with the step's own over it. */
  readonly env: ReadonlyArray<string>;
  readonly workingDir: string;
  /** `user[:group]`; empty for root. */
  readonly user: string;
  readonly mounts: ReadonlyArray<PlannedMount>;
  readonly network: "none" | "host";
  readonly limits: LimitsIR;
}

/**
 * A Debian package a layer holds (or, with `installed` false, takes files from): what
 * lading.lock pins and an SBOM lists.
 *
 * @category model
 */
export interface PlannedPackage {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  /** The `.deb`'s sha256, from the verified index. */
  readonly sha256: Digest;
  readonly size: number;
  /** The `.deb`'s path under the archive's root. */
  readonly filename: string;
  /** The source package's name. */
  readonly source: string;
  readonly installed: boolean;
}

/**
 * A path a derived layer read from the image below it, and what it found: nothing (no
 * `stat`), or what is there, with the content's digest when it read the bytes.
 *
 * @category model
 */
export interface PlannedRead {
  readonly path: ImagePath;
  readonly stat?: FileStat;
  readonly digest?: Digest;
}

/**
 * A planned layer: its entries in tar order, their content size, and the cache key that
 * decides whether a build makes it again.
 *
 * @category model
 */
export interface PlannedLayer {
  readonly name: string;
  readonly comment?: string;
  /** Sorted bytewise by path; parents before children. Packed when planned; an array when decoded or made by hand. */
  readonly entries: EntryList<PlannedEntry>;
  /** Sum of file sizes. */
  readonly contentSize: number;
  /** Hash of everything that goes into the layer's bytes, including format and compressor. */
  readonly cacheKey: Digest;
  /** A run step's command: its entries are known only once it has run. */
  readonly run?: PlannedRun;
  /** The Debian packages its entries come from; absent when there are none. */
  readonly packages?: ReadonlyArray<PlannedPackage>;
  /** The URLs its entries are fetched from, with their sha256; absent when there are none. */
  readonly fetched?: ReadonlyArray<PlannedFetch>;
  /** The tar archives extracted into it; absent when there are none. */
  readonly archives?: ReadonlyArray<PlannedArchive>;
  /** What a derived layer read from the image below it, by path; part of its cache key. */
  readonly reads?: ReadonlyArray<PlannedRead>;
}

/**
 * A tar archive a layer's entries are extracted from: the host path (relative to the
 * spec) or the URL, as the spec names it, its digest, and where it goes.
 *
 * @category model
 */
export interface PlannedArchive {
  readonly source: string;
  readonly digest: Digest;
  readonly path: ImagePath;
}

/**
 * A download a layer's entries come from: what lading.lock pins.
 *
 * @category model
 */
export interface PlannedFetch {
  readonly url: string;
  readonly sha256: Digest;
}

/**
 * The formats and tool versions that shape the bytes; part of every cache key.
 *
 * @category model
 */
export interface LayerFormat {
  readonly tar: string;
  readonly compression: string;
}

/**
 * A layer of a base image, as its manifest and config describe it: plain data, for the
 * plan's JSON and `lading diff`. The build and the host read it through an
 * {@link import("../oci/index.ts").Layer}, which opens the bytes.
 *
 * @category model
 */
export interface BaseLayer {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly diffId: Digest;
}

/**
 * One entry of an image config's history.
 *
 * @category model
 */
export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/**
 * A base image resolved from its registry: what an image built on it takes from it. Its
 * layers are named by digest and fetched only when a sink needs their bytes.
 *
 * @category model
 */
export interface PlannedBase {
  /**
   * The reference as resolved, `HOST/REPO:TAG` or `HOST/REPO@DIGEST`: the key in
   * lading.lock. Text, as the plan's JSON has it; registry's `baseLayers` reads it back.
   */
  readonly reference: string;
  /** What the reference named when it was resolved (an index or a manifest): the pin. */
  readonly pinned: Digest;
  /** The image manifest for the plan's platform. */
  readonly digest: Digest;
  /** The base's runtime config, as it has it. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly history: ReadonlyArray<HistoryEntry>;
  readonly layers: ReadonlyArray<BaseLayer>;
}

/**
 * Everything that decides an image's bytes, as data: platform, runtime config,
 * annotations, the `created` time, the layer format and every planned layer.
 *
 * @category model
 */
export interface BuildPlan {
  readonly exportName: string;
  /** The arguments of a parameterized export, as given (`--arg NAME=VALUE`). */
  readonly arguments?: Readonly<Record<string, string>>;
  /** The registry image it builds on, whose layers come first. */
  readonly base?: PlannedBase;
  readonly platform: PlatformIR;
  readonly config: ConfigIR;
  readonly annotations: Readonly<Record<string, string>>;
  /** Seconds since the epoch: image `created` and the mtime of every file lading writes. */
  readonly created: number;
  readonly format: LayerFormat;
  readonly layers: ReadonlyArray<PlannedLayer>;
}

/**
 * What a build reads besides the plan: where host paths are relative to, and the bytes
 * of inline files by digest. Kept apart so the plan stays printable data.
 *
 * @category model
 */
export interface PlanInputs {
  readonly specDir: string;
  readonly inline: ReadonlyMap<Digest, Uint8Array>;
  /** Where the content of a package file (source `deb:NAME`) is, by digest. */
  readonly packageContent?: (digest: Digest) => string;
  /** Where the content of a fetched file or an archive's file (source `url:` or `tar:`) is, by digest. */
  readonly archiveContent?: (digest: Digest) => string;
}

/**
 * A file entry's content size; undefined for other entries.
 *
 * @category destructors
 */
export const entrySize = (e: PlannedEntry): number | undefined => (e.type === "file" ? e.size : undefined);

/**
 * A file entry's content digest; undefined for other entries.
 *
 * @category destructors
 */
export const entryDigest = (e: PlannedEntry): Digest | undefined => (e.type === "file" ? e.digest : undefined);

/**
 * A link's target; undefined for other entries.
 *
 * @category destructors
 */
export const entryTarget = (e: PlannedEntry): string | undefined => (e.type === "symlink" || e.type === "hardlink" ? e.target : undefined);

/**
 * A planned entry without the fields `K`, kind by kind (as `Omit` of the union is not).
 *
 * @category model
 */
export type EntryWithout<K extends PropertyKey> = PlannedEntry extends infer E ? (E extends PlannedEntry ? Omit<E, K> : never) : never;
