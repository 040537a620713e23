/**
 * stderr on a terminal: ordinary lines, and one status line rewritten in place (a run
 * step's latest output), so a long step shows as one moving line rather than scrolling
 * its whole output past. Off a terminal, the status line is not written at all: logs
 * get each step line once, prefixed, from the caller.
 */

/**
 * What `lading` writes to stderr.
 *
 * @category model
 */
export interface Stderr {
  /** A line of its own; clears the status line first. */
  readonly line: (s: string) => void;
  /** Shows `s` as the status line, in place of the last one; undefined clears it. */
  readonly status: (s: string | undefined) => void;
}

const CLEAR = "\r\x1b[2K";

/**
 * A {@link Stderr} writing through `write`, with status lines cut to `columns()` so one
 * never wraps (a wrapped line could not be rewritten in place).
 *
 * @category constructors
 */
export const terminalStderr = (write: (s: string) => void, columns: () => number): Stderr => {
  let shown = false;
  const clear = (): string => {
    const s = shown ? CLEAR : "";
    shown = false;
    return s;
  };
  return {
    line: (s) => write(`${clear()}${s}\n`),
    status: (s) => {
      if (s === undefined) {
        const c = clear();
        if (c !== "") write(c);
        return;
      }
      const width = Math.max(10, columns() - 1);
      const flat = s.replace(/[\r\n\t]/g, " ");
      write(`${CLEAR}${flat.length > width ? `${flat.slice(0, width - 1)}…` : flat}`);
      shown = true;
    },
  };
};
