/**
 * `lading plan`: an export's build plan, printed, with nothing built.
 */
import * as t from "io-ts";
import { formatDiagnostic } from "../../core/index.ts";
import { planJsonChunks } from "../../plan/index.ts";
import { COMPRESSION_FLAG, layerCompressionFlag, parseFlags, SPEC_FLAGS } from "../flags.ts";
import { formatPlan } from "../format.ts";
import type { Io } from "../io.ts";
import { argumentsOf, planTarget } from "../planTarget.ts";
import { stepRunnerFor } from "../steps.ts";
import { storeOf } from "../store.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading plan FILE[#EXPORT] [--arg NAME=VALUE...] [--files] [--json] [--frozen] [--compression gzip|zstd] [--no-check] [--store DIR]

Evaluates one image export and prints its plan: config, and for each layer its entry
count, content size and cache key (with --files, every entry with its mode, owner, size
and content digest). Nothing is built; only host files the export copies are read (and
hashed), and a pulled base image's manifest and config are resolved (its layers are
downloaded only when a derived layer, a named user or a working directory needs one of
the base's files). FILE may be a directory: its lading.ts.

  --files       list every layer's entries
  --arg N=V     an argument of a parameterized export (repeatable); part of the plan
  --json        print the plan as JSON (every entry)
  --frozen      resolve pulled images only through lading.lock (see 'lading lock')
  --compression the cache keys of layers compressed so, as 'build --compression' makes them
  --no-check    skip the type check (remembered per spec source anyway)
  --store DIR   the content store (default: $XDG_CACHE_HOME/lading or ~/.cache/lading)`;

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, {
    json: t.boolean,
    files: t.boolean,
    arg: t.array(t.string),
    frozen: t.boolean,
    ...COMPRESSION_FLAG,
    ...SPEC_FLAGS,
  });
  const compression = layerCompressionFlag(values.compression, help);
  if (positionals.length !== 1) throw new UsageError(`expected one FILE[#EXPORT]\n\n${help}`);
  const specArgs = argumentsOf(values.arg);
  const store = await storeOf(values.store, io.env);
  const { plan, warnings = [] } = await planTarget(positionals[0]!, { noCheck: values["no-check"] === true, store, env: io.env, frozen: values.frozen === true, args: specArgs, compression, runStep: stepRunnerFor(store, io) });
  for (const w of warnings) io.err(formatDiagnostic(w));
  if (values.json === true) {
    for (const chunk of planJsonChunks(plan)) await io.write(chunk);
    await io.write("\n");
  } else {
    const cachedSteps = new Set<string>();
    for (const l of plan.layers) if (l.run !== undefined && (await store.getLayer(l.cacheKey)) !== undefined) cachedSteps.add(l.name);
    io.out(formatPlan(plan, values.files === true, cachedSteps));
  }
  return EXIT.ok;
};
