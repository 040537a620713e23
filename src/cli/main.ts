/**
 * The composition root: finds the command and hands it the command line. Each command
 * is a module of ./commands (its help text and its run function), loaded only when it
 * is the one asked for, so a command pays for what it uses and `--version` or `help`
 * for nearly nothing. Exit codes: 0 success, 1 the spec or image has errors (each
 * printed with its place), 2 wrong usage, 70 an internal error (a bug in lading).
 */
import { DiagnosticError, formatDiagnostic } from "../core/index.ts";
// The module itself, not sink's index: the main help must not load every transport.
import { TRANSPORTS } from "../sink/Transport.ts";
import type { Io } from "./io.ts";
import { defaultIo } from "./io.ts";
import { VERSION } from "./root.ts";
import { EXIT, UsageError } from "./usage.ts";

export { EXIT } from "./usage.ts";
export type { Io } from "./io.ts";

/**
 * A command: its help text and what runs it.
 *
 * @category model
 */
export interface Command {
  readonly help: string;
  readonly run: (args: ReadonlyArray<string>, io: Io) => Promise<number>;
}

/** Every command, by name, loaded on demand. */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  check: () => import("./commands/check.ts"),
  plan: () => import("./commands/plan.ts"),
  build: () => import("./commands/build.ts"),
  inspect: () => import("./commands/inspect.ts"),
  run: () => import("./commands/run.ts"),
  diff: () => import("./commands/diff.ts"),
  lock: () => import("./commands/lock.ts"),
  copy: () => import("./commands/copy.ts"),
  sbom: () => import("./commands/sbom.ts"),
  import: () => import("./commands/import.ts"),
  init: () => import("./commands/init.ts"),
};

const MAIN_HELP = `lading ${VERSION}: typed container image specs, compiled to reproducible OCI images

usage: lading <command> [options]

commands:
  check FILE...                 type check spec files and flag impure calls
  plan FILE[#EXPORT]            print the build plan of an image, building nothing
  build FILE[#EXPORT] --out T   build an image and write it to T
  inspect T                     show an image's config, layers and files, verifying every blob
  run FILE[#EXPORT]|T [-- ARGS] run an image as a container under runc, with a fresh writable layer
  diff A B                      what changes from image A to image B: specs, git revisions or built images
  lock [FILE...]                pin every pulled base image, Debian package set and fetched URL in lading.lock
  copy SRC DST                  copy an image between any two locations, by digest
  sbom FILE[#EXPORT]            the image's bill of lading: an SPDX 2.3 document, from its plan
  import [DOCKERFILE]           translate a Dockerfile into a lading spec, printed
  init                          write a starter lading.ts (and a tsconfig.json for editors) here

image locations (T): ${TRANSPORTS.join(", ")}

Run 'lading <command> --help' for a command's options.
exit codes: 0 success, 1 errors in the spec or image, 2 wrong usage, 70 internal error
(diff: 0 the same, 1 different, 2 trouble)`;

/** The command named `name`, loaded; undefined for a name that is no command. */
const commandNamed = (name: string): Promise<Command> | undefined => (Object.hasOwn(COMMANDS, name) ? COMMANDS[name]?.() : undefined);

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 *
 * @category destructors
 */
export const run = async (
  argv: ReadonlyArray<string>,
  io: Io = defaultIo(),
): Promise<number> => {
  const [command, ...rest] = argv;
  if (command === "help" && rest[0] !== undefined) {
    const asked = commandNamed(rest[0]);
    if (asked !== undefined) {
      io.out((await asked).help);
      return EXIT.ok;
    }
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.out(MAIN_HELP);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "--version") {
    io.out(VERSION);
    return EXIT.ok;
  }
  const loading = commandNamed(command);
  if (loading === undefined) {
    io.err(`lading: unknown command "${command}"\n\n${MAIN_HELP}`);
    return EXIT.usage;
  }
  try {
    const handler = await loading;
    // What follows `--` is the container's (lading run), not lading's.
    const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
    if (own.includes("--help") || own.includes("-h")) {
      io.out(handler.help);
      return EXIT.ok;
    }
    const code = await handler.run(rest, io);
    // A step's status line is not left under the command's last output.
    io.status?.(undefined);
    return code;
  } catch (e) {
    // diff, like diff(1), keeps 1 for "different": any trouble is 2.
    if (e instanceof DiagnosticError) {
      for (const d of e.diagnostics) io.err(formatDiagnostic(d));
      return command === "diff" ? EXIT.usage : EXIT.errors;
    }
    if (e instanceof UsageError) {
      io.err(`lading ${command}: ${e.message}`);
      return EXIT.usage;
    }
    // The machine said no (a store on a read-only disk, an unreadable host file): say
    // which path and why, without a stack trace.
    const errno = e as NodeJS.ErrnoException;
    if (typeof errno.code === "string" && typeof errno.syscall === "string") {
      io.err(formatDiagnostic({ severity: "error", message: `cannot ${errno.syscall}: ${errno.message}`, ...(errno.path === undefined ? {} : { file: errno.path }) }));
      return command === "diff" ? EXIT.usage : EXIT.errors;
    }
    io.err(`lading: internal error (please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT.internal;
  }
};
