/**
 * `lading init`: a starter spec, and a tsconfig.json for editors, in the current directory.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DiagnosticError, error } from "../../core/index.ts";
import { writeFileAtomic } from "../../store/index.ts";
import { parseFlags } from "../flags.ts";
import type { Io } from "../io.ts";
import { display } from "../io.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading init

Writes a starter spec, lading.ts, into the current directory, and a tsconfig.json (when
there is none) with the compiler options lading checks specs under, so that an editor
shows the same errors as 'lading check'. Neither file is overwritten.`;

/** What `lading init` writes: a spec that builds as it is, to start from. */
const STARTER_SPEC = `/**
 * An image, as a lading spec: build it with \`lading build . --out docker-archive:image.tar\`.
 */
import { Entry, Image, Layer, pipe } from "lading";

const files = Layer.make("files", [
  Entry.file("/etc/motd", "Built with lading.\\n"),
  // Entry.copy("dist", "/app"), // a directory of this project, relative to this file
]);

export default pipe(
  Image.scratch, // or Image.pull("docker.io/library/debian:bookworm-slim")
  Image.withLayer(files),
  Image.withEnv({ PATH: "/usr/local/bin:/usr/bin:/bin" }),
);
`;

/** The compiler options lading checks specs under (see src/check), for editors. */
const EDITOR_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022"],
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
  },
  include: ["lading.ts"],
};

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals } = parseFlags(help, args, {});
  if (positionals.length > 0) throw new UsageError(`init takes no arguments: it writes into the current directory\n\n${help}`);
  const spec = path.resolve("lading.ts");
  if (fs.existsSync(spec)) throw new DiagnosticError([error({ file: display(spec) }, "already exists: not overwritten")]);
  await writeFileAtomic(spec, STARTER_SPEC);
  io.out(`wrote ${display(spec)}`);
  const tsconfig = path.resolve("tsconfig.json");
  if (!fs.existsSync(tsconfig)) {
    await writeFileAtomic(tsconfig, `${JSON.stringify(EDITOR_TSCONFIG, null, 2)}\n`);
    io.out(`wrote ${display(tsconfig)}`);
  }
  io.out("next: lading build . --out docker-archive:image.tar");
  return EXIT.ok;
};
