import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Digest } from "../src/core/index.ts";
import { compareBytewise } from "../src/core/index.ts";
import type { PlannedEntry } from "../src/plan/index.ts";
import { PackedEntries } from "../src/plan/index.ts";

const D = `sha256:${"ab".repeat(32)}` as Digest;

/** Entries as plan makes them, each kind with its own field order. */
const made: ReadonlyArray<PlannedEntry> = [
  { path: "/data/d1/f.txt", type: "file", mode: 0o644, uid: 0, gid: 0, size: 12, source: "tree/d1/f.txt", digest: D },
  { path: "/etc/.wh.x", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, digest: D, source: "inline" },
  { path: "/data", type: "dir", mode: 0o755, uid: 1000, gid: 1000 },
  { path: "/l", type: "symlink", mode: 0o777, uid: 0, gid: 0, target: "../ü/x" },
  { path: "/h", type: "hardlink", mode: 0o644, uid: 0, gid: 0, target: "/data/d1/f.txt" },
  { path: "/big", type: "file", mode: 0o600, uid: 4294967295, gid: 7, size: 2 ** 40, source: "/abs/big", digest: D },
  { path: "/😀/é", type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, source: "src/😀/é", digest: D },
  { path: "/cap", type: "file", mode: 0o755, uid: 0, gid: 0, size: 1, digest: D, source: "deb:iputils-ping", xattrs: { "security.capability": "AQ==" } },
  { path: "/odd\uD800", type: "symlink", mode: 0o777, uid: 0, gid: 0, target: "x" },
];

describe("packed entries", () => {
  it("give back every entry as it was made, with its fields in the same order", () => {
    const p = PackedEntries.of(made);
    expect(p.length).toBe(made.length);
    expect([...p]).toEqual(made);
    expect(JSON.stringify(p)).toBe(JSON.stringify(made));
    made.forEach((e, i) => expect(JSON.stringify(p.at(i))).toBe(JSON.stringify(e)));
    expect(p.at(made.length)).toBeUndefined();
    expect(p.at(-1)).toEqual(made[made.length - 1]);
  });

  it("take a file's digest once its hash comes, in the place it was made with", () => {
    const p = PackedEntries.empty();
    const i = p.push({ path: "/f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, source: "f", digest: undefined });
    expect(JSON.stringify(p.at(0))).toBe('{"path":"/f","type":"file","mode":420,"uid":0,"gid":0,"size":1,"source":"f"}');
    p.setDigest(i, D);
    expect(JSON.stringify(p.at(0))).toBe(`{"path":"/f","type":"file","mode":420,"uid":0,"gid":0,"size":1,"source":"f","digest":"${D}"}`);
  });

  it("sort, view and find by path bytewise, as tar orders them", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }), { maxLength: 40 }), (names) => {
        const p = PackedEntries.of(names.map((n) => ({ path: `/${n}`, type: "dir", mode: 0o755, uid: 0, gid: 0 })));
        const sorted = p.ordered(p.sortedRecords());
        const expected = names.map((n) => `/${n}`).sort(compareBytewise);
        expect([...sorted].map((e) => e.path)).toEqual(expected);
        for (const [i, path] of expected.entries()) expect(sorted.findSorted(path)).toBe(i);
        expect(sorted.findSorted("/\u{10FFFF}missing")).toBe(-1);
      }),
      { seed: 9, numRuns: 200 },
    );
  });
});
