/**
 * OCI media types. lading writes OCI types only, never mixed with Docker's; it reads
 * both when inspecting images made by other tools.
 */

/**
 * An image manifest: a config descriptor plus one descriptor per layer. Every manifest
 * lading writes has this type.
 *
 * @category model
 */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/**
 * An image index: a list of manifest descriptors, as in an OCI layout's `index.json`.
 *
 * @category model
 */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/**
 * An image config: platform, runtime config, layer diff_ids and history.
 *
 * @category model
 */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/**
 * A gzipped tar layer, the layer type lading builds unless told otherwise.
 *
 * @category model
 */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

/**
 * A zstd-compressed tar layer, built with `--compression zstd`.
 *
 * @category model
 */
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

/**
 * An uncompressed tar layer, as base images and docker archives may hold.
 *
 * @category model
 */
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
/**
 * Docker's image manifest (schema 2), the counterpart of an OCI manifest.
 *
 * @category model
 */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/**
 * Docker's gzipped tar layer. A docker-archive names no media types, so its gzipped
 * layers are given this one when read.
 *
 * @category model
 */
export const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/**
 * Docker's uncompressed tar layer, given to the plain tar layers of a docker-archive
 * when read.
 *
 * @category model
 */
export const DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar";
/**
 * The annotation that names a manifest in an OCI layout's index: the `TAG` of
 * `oci:DIR:TAG`.
 *
 * @category model
 */
export const REF_NAME = "org.opencontainers.image.ref.name";

/**
 * How a layer's blob is compressed: gzip, zstd, or none (a plain tar).
 *
 * @category model
 */
export type Compression = "gzip" | "zstd" | "none";

/**
 * How a layer's blob is compressed, as its media type says, or undefined for a type lading
 * does not know (and so does not unpack). The one reading of a layer media type every
 * reader, sink and the store's records share.
 *
 * @category destructors
 */
export const compressionOf = (mediaType: string): Compression | undefined =>
  mediaType.endsWith("+gzip") || mediaType.endsWith(".tar.gzip")
    ? "gzip"
    : mediaType.endsWith("+zstd") || mediaType.endsWith(".tar.zstd")
      ? "zstd"
      : mediaType.endsWith(".tar")
        ? "none"
        : undefined;
