/**
 * `lading check`: type checks spec files and flags impure calls.
 */
import * as t from "io-ts";
import { formatDiagnostic } from "../../core/index.ts";
import { isError, runCheck } from "../checked.ts";
import { parseFlags } from "../flags.ts";
import type { Io } from "../io.ts";
import { specFileOf } from "../specFile.ts";
import { storeOf } from "../store.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading check FILE... [--json] [--store DIR]

Type checks each spec file (and the local files it imports) under lading's strict
compiler options, and flags impure calls (clock, randomness, environment, file system,
network). Prints file:line:col: message for each problem; exits 1 if there is any.

  --json        print the diagnostics as JSON (file, line, column, message, hint)
  --store DIR   the content store, where results are recorded: specs whose sources,
                package files, checker and every file the compiler read for them
                are unchanged are answered from there`;

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, { json: t.boolean, store: t.string });
  if (positionals.length === 0) throw new UsageError(`no spec file given\n\n${help}`);
  const specs = positionals.map(specFileOf);
  // The record is a saving, not the check: without --store, a default store that cannot
  // be opened (a read-only home) means checking without one.
  const store = values.store === undefined ? await storeOf(undefined, io.env).catch(() => undefined) : await storeOf(values.store, io.env);
  const diags = await runCheck(specs, store);
  if (values.json === true) io.out(JSON.stringify({ diagnostics: diags }, null, 2));
  else {
    for (const d of diags) io.err(formatDiagnostic(d));
    if (!diags.some(isError)) io.out(`ok: ${positionals.length} spec file${positionals.length === 1 ? "" : "s"} checked`);
  }
  return diags.some(isError) ? EXIT.errors : EXIT.ok;
};
