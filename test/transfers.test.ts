/**
 * Download progress on a terminal: one status line for the blobs in flight, with bytes,
 * their total and the rate; a line for each finished blob; nothing off a terminal.
 */
import { describe, expect, it } from "vitest";
import type { Io } from "../src/cli/io.ts";
import { transferReporter } from "../src/cli/transfers.ts";
import type { Digest } from "../src/core/index.ts";

const A = `sha256:${"a".repeat(64)}` as Digest;
const B = `sha256:${"b".repeat(64)}` as Digest;

const terminal = (): { readonly io: Io; readonly lines: string[]; readonly statuses: Array<string | undefined> } => {
  const lines: string[] = [];
  const statuses: Array<string | undefined> = [];
  const io: Io = { out: () => {}, write: async () => {}, err: (s) => lines.push(s), status: (s) => statuses.push(s), env: {}, isTTY: true, stdoutTTY: false };
  return { io, lines, statuses };
};

describe("download progress", () => {
  it("sums the blobs in flight, with their total and the rate, and names each finished one", () => {
    const t = terminal();
    let now = 1_000;
    const report = transferReporter(t.io, () => now)!;
    report({ digest: A, received: 1_000_000, size: 4_000_000, done: false });
    now += 50; // within the throttle: not shown
    report({ digest: B, received: 500_000, size: 6_000_000, done: false });
    now += 950;
    report({ digest: B, received: 2_000_000, size: 6_000_000, done: false });
    expect(t.statuses).toEqual(["fetching 1 layer: 1.0 MB of 4.0 MB", "fetching 2 layers: 3.0 MB of 10 MB, 3.0 MB/s"]);
    report({ digest: A, received: 4_000_000, size: 4_000_000, done: true });
    expect(t.lines).toEqual([`fetched sha256:aaaaaaaaaaaa… (4.0 MB)`]);
    report({ digest: B, received: 6_000_000, size: 6_000_000, done: true });
    expect(t.statuses[t.statuses.length - 1]).toBeUndefined();
  });

  it("says nothing off a terminal", () => {
    const io: Io = { out: () => {}, write: async () => {}, err: () => {}, env: {}, isTTY: false, stdoutTTY: false };
    expect(transferReporter(io)).toBeUndefined();
  });
});
