/**
 * `lading inspect`: an image's config, layers and files, every blob verified.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { formatDiagnostic } from "../../core/index.ts";
import { inspectImage, openImage, parseTransport, READABLE_TRANSPORTS } from "../../sink/index.ts";
import { parseFlags } from "../flags.ts";
import { formatInspection } from "../format.ts";
import type { Io } from "../io.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading inspect T [--json] [--files]

Reads an image from T (${READABLE_TRANSPORTS.join(", ")}), re-hashes every blob
against its digest and diff_id, and prints its config and layers. Exits 1 if a blob does
not verify.

  --files       list every layer's files
  --json        print everything as JSON (files included)`;

/** Runs the command with its arguments; returns 1 if a blob does not verify. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, { json: t.boolean, files: t.boolean });
  if (positionals.length !== 1) throw new UsageError(`expected one image location\n\n${help}`);
  const location = parseTransport(positionals[0]!);
  if (E.isLeft(location)) throw new UsageError(location.left);
  const image = await openImage(location.right, io.env);
  try {
    const inspection = await inspectImage(image);
    if (values.json === true) {
      io.out(
        JSON.stringify(
          { source: image.source, digest: image.manifest?.digest, manifest: image.manifest?.value, config: image.config.value, layers: inspection.layers, problems: inspection.problems },
          null,
          2,
        ),
      );
    } else io.out(formatInspection(image, inspection, values.files === true));
    for (const p of inspection.problems) io.err(formatDiagnostic(p));
    return inspection.problems.length === 0 ? EXIT.ok : EXIT.errors;
  } finally {
    await image.close();
  }
};
