/**
 * `lading sbom`: the image's bill of lading, an SPDX document, from its plan.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as t from "io-ts";
import type { Digest } from "../../core/index.ts";
import { spdxDocument } from "../../sbom/index.ts";
import { writeFileAtomic } from "../../store/index.ts";
import { parseFlags, SPEC_FLAGS } from "../flags.ts";
import type { Io } from "../io.ts";
import { planTarget } from "../planTarget.ts";
import { VERSION } from "../root.ts";
import { storeOf } from "../store.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading sbom FILE[#EXPORT] [--out FILE] [--frozen] [--no-check] [--store DIR]

Writes an SPDX 2.3 JSON document of what the image holds, from its plan, before
anything is built: every Debian package (version, package URL pkg:deb/debian/NAME@VERSION
?arch=ARCH, the .deb's sha256, and the licenses its machine-readable copyright file
declares, else NOASSERTION), the base image by digest, and each host file copied in, with
its sha256. The same plan gives the same document.

  --out FILE    write it to FILE (whole or not at all) instead of stdout
  --frozen      resolve only through lading.lock, as build --frozen does
  --no-check    skip the type check
  --store DIR   the content store`;

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, { out: t.string, frozen: t.boolean, ...SPEC_FLAGS });
  if (positionals.length !== 1) throw new UsageError(`expected one FILE[#EXPORT]\n\n${help}`);
  const store = await storeOf(values.store, io.env);
  const { plan, inputs } = await planTarget(positionals[0]!, { noCheck: values["no-check"] === true, store, env: io.env, frozen: values.frozen === true });
  // A package's copyright file was unpacked into the store when the plan listed it.
  const copyright = (_pkg: unknown, digest: Digest): string | undefined => {
    try {
      return inputs.packageContent === undefined ? undefined : fs.readFileSync(inputs.packageContent(digest), "utf8");
    } catch {
      return undefined;
    }
  };
  const text = `${JSON.stringify(spdxDocument(plan, copyright, `lading-${VERSION}`), null, 2)}\n`;
  if (values.out === undefined) io.out(text.trimEnd());
  else await writeFileAtomic(path.resolve(values.out), text);
  return EXIT.ok;
};
