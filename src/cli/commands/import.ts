/**
 * `lading import`: a Dockerfile translated into a lading spec, printed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DiagnosticError, error } from "../../core/index.ts";
import type { ContextReader } from "../../dockerfile/index.ts";
import { parseFlags } from "../flags.ts";
import type { Io } from "../io.ts";
import { display } from "../io.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading import [DOCKERFILE] > lading.ts

Translates a Dockerfile (default ./Dockerfile) into a lading spec and prints it: FROM to
Image.pull (or the stage it names), COPY and ADD of the build context to Entry.copy
(honouring .dockerignore; host paths are relative to the Dockerfile's directory, so
write the spec there), COPY --from to Entry.fromImage, RUN to Image.run or
Image.runShell (with its cache and secret mounts), ARGs to parameters, and every other
instruction to its combinator. A line with no lading form becomes a comment and a
warning on stderr, with its line number.`;

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals } = parseFlags(help, args, {});
  if (positionals.length > 1) throw new UsageError(`expected at most one Dockerfile\n\n${help}`);
  // The Dockerfile parser and the printer of the spec are loaded only to translate.
  const { generateSpec, translateDockerfile } = await import("../../dockerfile/index.ts");
  const given = positionals[0] ?? "Dockerfile";
  const file = fs.statSync(given, { throwIfNoEntry: false })?.isDirectory() === true ? path.join(given, "Dockerfile") : given;
  const text = await fs.promises.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new DiagnosticError([error({ file: display(path.resolve(file)) }, e.code === "ENOENT" ? "no such Dockerfile" : `cannot read it: ${e.message}`)]);
  });
  const root = path.dirname(path.resolve(file));
  const inside = (rel: string): string => path.join(root, rel);
  const ignoreText = await fs.promises.readFile(path.join(root, ".dockerignore"), "utf8").catch(() => "");
  const context: ContextReader = {
    kind: (rel) => {
      const st = fs.statSync(inside(rel), { throwIfNoEntry: false });
      return st === undefined ? undefined : st.isDirectory() ? "dir" : "file";
    },
    list: (rel) => (fs.existsSync(inside(rel)) ? fs.readdirSync(inside(rel)) : []),
    ignore: ignoreText.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")),
  };
  const translation = translateDockerfile(text, context);
  if (translation.stages.length === 0) throw new DiagnosticError([error({ file: display(path.resolve(file)) }, "no FROM: nothing to translate")]);
  io.out(generateSpec(translation, path.basename(file)).trimEnd());
  for (const w of translation.warnings) io.err(`${display(path.resolve(file))}${w.line > 0 ? `:${w.line}` : ""}: warning: ${w.message}`);
  return EXIT.ok;
};
