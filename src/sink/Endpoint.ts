/**
 * One image location, as its transport reads and writes it. Each transport is one module
 * (oci.ts, ociArchive.ts, dockerArchive.ts, registry.ts, bundle.ts) that makes an
 * Endpoint from its parsed location; transports.ts is the one place that picks the
 * module for a location.
 */
import type { BuiltImage } from "../build/index.ts";
import type { PlatformIR } from "../eval/index.ts";
import type { Store } from "../store/index.ts";
import type { Blobs, WriteOptions } from "./blobs.ts";
import type { OpenedImage } from "./opened.ts";

/** What a transport writes: the built image, its blobs in the store, and the options. */
export interface WriteContext {
  readonly store: Store;
  readonly image: BuiltImage;
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
   * Brings the image into the store as a built image, for `lading copy`. A transport
   * without one is opened and its blobs copied in; a registry reads only the manifest
   * and config, and its layers move when a destination needs them.
   */
  readonly import?: (store: Store, platform: PlatformIR | undefined, env: Readonly<Record<string, string | undefined>>) => Promise<BuiltImage>;
  /** Writes a built image whole or not at all. */
  write(w: WriteContext): Promise<void>;
}
