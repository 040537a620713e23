/**
 * What `lading diff` compares: an image seen the same way whether it comes from a spec
 * (its plan: nothing built, only host inputs hashed) or from a built image (its layers
 * read back). Both give layers of entries with the same attributes, so a spec-level diff
 * and a diff of the built images agree on every file.
 */
import type { Digest } from "../core/index.ts";
import { formatPlatform } from "../core/index.ts";
import type { BuildPlan, EntryList } from "../plan/index.ts";
import type { Image } from "../oci/index.ts";
import type { InspectedLayer } from "../sink/index.ts";

/**
 * One entry of a layer.
 *
 * @category model
 */
export interface FileView {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink" | "hardlink" | "other";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly digest?: Digest;
  readonly target?: string;
}

/**
 * An entry as a layer holds it, a plan's or a read-back one: diff sees it through
 * {@link toFileView}, made only for the entries that differ, so that the entries of two
 * trees of 200,000 files are not copied to be compared.
 *
 * @category model
 */
export interface LayerEntry {
  readonly path: string;
  readonly type: FileView["type"];
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size?: number | undefined;
  readonly digest?: Digest | undefined;
  readonly target?: string | undefined;
}

/**
 * A layer as diff sees it: a name to pair it by, a key that changes with its bytes, its
 * content size and its entries.
 *
 * @category model
 */
export interface LayerView {
  /** The layer's name in its spec, or, for a built image, from its history. */
  readonly name: string | undefined;
  /**
   * The plan's cache key (spec sides) or the diff_id (built sides: the uncompressed tar,
   * so an image compares equal to its own copy in a docker archive).
   */
  readonly key: Digest;
  readonly size: number;
  /** In tar order: a plan's packed entries, read one at a time, or a read-back layer's array. */
  readonly files: EntryList<LayerEntry>;
  /** The Debian packages the layer installs (spec sides), and the files each owns. */
  readonly packages?: ReadonlyArray<PackageView>;
}

/**
 * A Debian package as diff sees it: name, architecture and version, and the paths of
 * the files it brings, so its file changes can be told as one package change.
 *
 * @category model
 */
export interface PackageView {
  readonly name: string;
  readonly architecture: string;
  readonly version: string;
  readonly files: ReadonlyArray<string>;
}

/**
 * An image as diff sees it, from a spec's plan or a built image: platform as
 * `os/arch[/variant]`, config in OCI field spelling, annotations and layers.
 *
 * @category model
 */
export interface ImageView {
  readonly source: string;
  readonly kind: "spec" | "image";
  readonly platform: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly layers: ReadonlyArray<LayerView>;
}

/**
 * One entry as both sides see it: symlink modes mean nothing (always 0777), and only
 * regular files have a size.
 *
 * @category constructors
 */
export const toFileView = (e: LayerEntry): FileView => ({
  path: e.path,
  type: e.type,
  mode: e.type === "symlink" ? 0o777 : e.mode,
  uid: e.uid,
  gid: e.gid,
  size: e.type === "file" ? (e.size ?? 0) : 0,
  ...(e.digest === undefined ? {} : { digest: e.digest }),
  ...(e.target === undefined ? {} : { target: e.target }),
});

/**
 * The view of a spec side, from its plan: layers keyed by cache key, nothing built; a
 * base image's layers (given as read back from the store) first, keyed by diff_id.
 *
 * @category constructors
 */
export const fromPlan = (source: string, plan: BuildPlan, base: ReadonlyArray<InspectedLayer> = []): ImageView => ({
  source,
  kind: "spec",
  platform: formatPlatform(plan.platform),
  config: { ...plan.config },
  annotations: plan.annotations,
  layers: [
    // A base image's layers, as read back: keyed and named as a built image's are.
    ...base.map((l) => ({ name: undefined, key: l.diffId, size: l.files.reduce((n, f) => n + (f.type === "file" ? f.size : 0), 0), files: l.files })),
    ...plan.layers.map((l) => ({
      name: l.name,
      key: l.cacheKey,
      size: l.contentSize,
      files: l.entries,
      ...(l.packages === undefined ? {} : { packages: packageViews(l) }),
    })),
  ],
});

/** The installed packages of a planned layer, each with the files planned from it. */
const packageViews = (l: BuildPlan["layers"][number]): ReadonlyArray<PackageView> => {
  const owned = new Map<string, string[]>();
  for (const e of l.entries) {
    if (e.type !== "file" || e.source?.startsWith("deb:") !== true) continue;
    const name = e.source.slice(4);
    owned.set(name, [...(owned.get(name) ?? []), e.path]);
  }
  return (l.packages ?? []).filter((p) => p.installed).map((p) => ({ name: p.name, architecture: p.architecture, version: p.version, files: owned.get(p.name) ?? [] }));
};

/** `lading: layer NAME`, or `lading: run NAME: COMMAND` for a run step (names hold no colon). */
const LADING_HISTORY = /^lading: (?:layer (.+)|run ([^:]+): )/;

/**
 * The view of a built image, from its inspection: layers keyed by diff_id and named
 * from the history lading writes.
 *
 * @category constructors
 */
export const fromImage = (image: Image, layers: ReadonlyArray<InspectedLayer>): ImageView => {
  const config = image.config.value;
  const history = (config.history ?? []).filter((h) => h.empty_layer !== true);
  return {
    source: image.source,
    kind: "image",
    platform: formatPlatform(config),
    config: config.config ?? {},
    annotations: image.manifest?.value.annotations ?? {},
    layers: layers.map((l, i) => ({
      name: ((m) => m?.[1] ?? m?.[2])(LADING_HISTORY.exec(history[i]?.created_by ?? "")),
      key: l.diffId,
      size: l.files.reduce((n, f) => n + (f.type === "file" ? f.size : 0), 0),
      files: l.files,
    })),
  };
};
