/**
 * One image location, as its transport reads and writes it. Each transport is one module
 * (oci.ts, ociArchive.ts, dockerArchive.ts, registry.ts, bundle.ts) that makes an
 * Endpoint from its parsed location; transports.ts is the one place that picks the
 * module for a location.
 */
import type { PlatformIR } from "../eval/index.ts";
import type { Image, OpenedImage } from "../oci/index.ts";
import type { RegistryOptions } from "../registry/index.ts";
import type { Store } from "../store/index.ts";
import type { Blobs, WriteOptions } from "./blobs.ts";

/** What a transport writes: the image, its blobs brought into the store, and the options. */
export interface WriteContext {
  readonly store: Store;
  readonly image: Image;
  readonly blobs: Blobs;
  readonly opts: WriteOptions;
}

/**
 * A location an image is read from or written to.
 *
 * @category model
 */
export interface Endpoint {
  /** The location as the user wrote it (`oci:out:v1`): what diagnostics name. */
  readonly source: string;
  /** Reads the image, every document decoded and checked; `close()` removes what it unpacked. */
  open(env: Readonly<Record<string, string | undefined>>): Promise<OpenedImage>;
  /**
   * The image with its documents in the store, for `lading copy` and `lading run`. A
   * transport without one is opened and its blobs copied in; a registry reads only the
   * manifest and config, and its layers are fetched when something opens them.
   */
  readonly import?: (store: Store, platform: PlatformIR | undefined, options: RegistryOptions) => Promise<Image>;
  /** Writes an image whole or not at all. */
  write(w: WriteContext): Promise<void>;
}
