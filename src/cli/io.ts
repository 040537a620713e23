/**
 * What a command reads from and writes to: stdout, stderr (with a status line on a
 * terminal) and the environment, as one value a caller can replace.
 */
import * as path from "node:path";
import { terminalStderr } from "./terminal.ts";

/**
 * A command's outputs and environment.
 *
 * @category model
 */
export interface Io {
  readonly out: (s: string) => void;
  /** Writes to stdout as it is, and waits while the reader is behind: for long outputs. */
  readonly write: (s: string) => Promise<void>;
  readonly err: (s: string) => void;
  /** On a terminal, a line rewritten in place (undefined clears it); elsewhere nothing. */
  readonly status?: (s: string | undefined) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isTTY: boolean;
  readonly stdoutTTY: boolean;
}

/**
 * The process's own stdout and stderr; on a terminal, stderr keeps a status line.
 *
 * @category constructors
 */
export const defaultIo = (): Io => {
  // A terminal that reports no width (a pty nobody sized) is taken as 80 columns.
  const stderr = terminalStderr((s) => process.stderr.write(s), () => (process.stderr.columns > 0 ? process.stderr.columns : 80));
  const isTTY = process.stderr.isTTY === true;
  return {
    out: (s) => process.stdout.write(`${s}\n`),
    write: (s) => (process.stdout.write(s) ? Promise.resolve() : new Promise((resolve) => process.stdout.once("drain", () => resolve()))),
    err: isTTY ? stderr.line : (s) => process.stderr.write(`${s}\n`),
    ...(isTTY ? { status: stderr.status } : {}),
    env: process.env,
    isTTY,
    stdoutTTY: process.stdout.isTTY === true,
  };
};

/**
 * A path as the user is shown it: relative to the working directory when it is below
 * it, else absolute.
 *
 * @category destructors
 */
export const display = (abs: string): string => {
  const rel = path.relative(process.cwd(), abs);
  return rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel;
};
