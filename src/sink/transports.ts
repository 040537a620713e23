/**
 * The one place that picks a transport's module for a location: reading an image from
 * it, bringing it into the store, and writing an image to it.
 */
import * as os from "node:os";
import { DiagnosticError, error } from "../core/index.ts";
import type { Store } from "../store/index.ts";
import { sweepStaleTemps } from "../store/index.ts";
import type { WriteOptions } from "./blobs.ts";
import { blobsOf } from "./blobs.ts";
import { bundle } from "./bundle.ts";
import { dockerArchive } from "./dockerArchive.ts";
import type { Endpoint } from "./Endpoint.ts";
import { ociLayout } from "./oci.ts";
import { ociArchive } from "./ociArchive.ts";
import type { Image, OpenedImage } from "../oci/index.ts";
import { registryImage } from "./registry.ts";
import type { Transport } from "./Transport.ts";
import { formatTransport } from "./Transport.ts";

/**
 * The endpoint of a parsed location.
 *
 * @category constructors
 */
export const endpointOf = (t: Transport): Endpoint => {
  const source = formatTransport(t);
  switch (t._tag) {
    case "Oci":
      return ociLayout(t.dir, t.tag, source);
    case "OciArchive":
      return ociArchive(t.file, t.tag, source);
    case "DockerArchive":
      return dockerArchive(t.file, t.ref, source);
    case "Registry":
      return registryImage(t.reference, source);
    case "Bundle":
      return bundle(t.dir, source);
  }
};

/**
 * Opens an image from a transport. Archives are unpacked into a temp directory that
 * `close()` removes.
 *
 * @category constructors
 */
export const openImage = async (from: Transport, env: Readonly<Record<string, string | undefined>> = {}): Promise<OpenedImage> => {
  // What a killed process left of the same: lading's temp directories whose owner has gone.
  await sweepStaleTemps(os.tmpdir(), (name) => name.startsWith("lading-open-") || name.startsWith("lading-pull-"));
  return endpointOf(from).open(env);
};

/**
 * Writes an image to a transport, whole or not at all: a failure
 * leaves the previous output intact. A problem found deep in a sink names the location.
 *
 * @category destructors
 */
export const writeImage = async (store: Store, image: Image, to: Transport, opts: WriteOptions): Promise<void> => {
  const endpoint = endpointOf(to);
  try {
    await endpoint.write({ store, image, blobs: blobsOf(store, image), opts });
  } catch (e) {
    if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => (d.file === undefined ? { ...d, file: endpoint.source } : d)));
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new DiagnosticError([error({ file: endpoint.source }, `cannot write: ${(e as Error).message}`)]);
    throw e;
  }
};
