/**
 * OCI media types. lading writes OCI types only, never mixed with Docker's; it reads
 * both when inspecting images made by other tools.
 */

/** @category model */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** @category model */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** @category model */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** @category model */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** @category model */
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
/** @category model */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** @category model */
export const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** @category model */
export const DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar";
/** @category model */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
/** The annotation that names a manifest in an OCI layout's index. */
export const REF_NAME = "org.opencontainers.image.ref.name";
