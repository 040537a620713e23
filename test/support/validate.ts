/**
 * The validator every test that builds an image runs: lading's own re-hash of every blob
 * (digest, size, diff_id, no duplicate paths), then the external validators.
 */
import * as E from "fp-ts/lib/Either.js";
import { expect } from "vitest";
import { formatDiagnostic } from "../../src/core/index.ts";
import type { OpenedImage } from "../../src/oci/index.ts";
import type { Inspection } from "../../src/sink/index.ts";
import { inspectImage, openImage, parseTransport } from "../../src/sink/index.ts";
import { mustRun } from "./cli.ts";
import { requireTool } from "./tools.ts";

/** Opens and fully verifies an image; returns its inspection for further checks. */
export const validateImage = async (location: string): Promise<{ readonly image: OpenedImage; readonly inspection: Inspection }> => {
  const t = parseTransport(location);
  if (E.isLeft(t)) throw new Error(t.left);
  const image = await openImage(t.right);
  try {
    const inspection = await inspectImage(image);
    expect(inspection.problems.map(formatDiagnostic)).toEqual([]);
    return { image, inspection };
  } finally {
    await image.close();
  }
};

/** Our validator, then `oci-image-tool validate` and `skopeo inspect` on an OCI layout. */
export const validateOciLayout = async (dir: string, tag: string): Promise<{ readonly inspection: Inspection; readonly skopeo: Record<string, unknown> }> => {
  const { inspection } = await validateImage(`oci:${dir}:${tag}`);
  requireTool("oci-image-tool");
  requireTool("skopeo");
  await mustRun("oci-image-tool", ["validate", "--type", "image", "--ref", `name=${tag}`, dir]);
  const skopeo = JSON.parse((await mustRun("skopeo", ["inspect", `oci:${dir}:${tag}`])).stdout) as Record<string, unknown>;
  return { inspection, skopeo };
};
