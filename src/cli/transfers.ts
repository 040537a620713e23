/**
 * Downloads on a terminal: one status line for every blob in flight (bytes so far, of
 * how many, and the rate since the first began), and a line for each blob once it is
 * whole. Off a terminal nothing is said: logs get the command's own lines only.
 */
import type { Digest } from "../core/index.ts";
import { formatSize } from "../core/index.ts";
import type { TransferProgress } from "../registry/index.ts";
import type { Io } from "./io.ts";

/** At most this often the status line is rewritten: a fast download must not flood the terminal. */
const EVERY_MS = 100;

/**
 * A listener for a registry client's downloads that reports them on `io`'s status line;
 * undefined off a terminal. `now` is the clock, in milliseconds.
 *
 * @category constructors
 */
export const transferReporter = (io: Io, now: () => number = Date.now): ((p: TransferProgress) => void) | undefined => {
  const status = io.status;
  if (status === undefined) return undefined;
  const active = new Map<Digest, { received: number; size: number | undefined }>();
  let since: number | undefined;
  let receivedBefore = 0;
  let shown = 0;
  return (p) => {
    const t = now();
    since ??= t;
    if (p.done) {
      active.delete(p.digest);
      receivedBefore += p.received;
      io.err(`fetched ${p.digest.slice(0, 19)}… (${formatSize(p.received)})`);
      if (active.size === 0) {
        status(undefined);
        since = undefined;
        receivedBefore = 0;
      }
      return;
    }
    active.set(p.digest, { received: p.received, size: p.size });
    if (t - shown < EVERY_MS) return;
    shown = t;
    const received = [...active.values()].reduce((n, a) => n + a.received, 0);
    const sizes = [...active.values()].map((a) => a.size);
    const total = sizes.every((s) => s !== undefined) ? sizes.reduce((n: number, s) => n + (s ?? 0), 0) : undefined;
    const seconds = (t - since) / 1000;
    const rate = seconds >= 0.5 ? `, ${formatSize(Math.round((receivedBefore + received) / seconds))}/s` : "";
    status(`fetching ${active.size} layer${active.size === 1 ? "" : "s"}: ${formatSize(received)}${total === undefined ? "" : ` of ${formatSize(total)}`}${rate}`);
  };
};
