/**
 * eval on its own, without the CLI: what a spec value evaluates to, and the diagnostic
 * each kind of invalid value gives, with the export, layer and path it names.
 */
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import type { Image as ImageT } from "../src/spec/Image.ts";
import { evaluate } from "../src/eval/index.ts";
import { formatDiagnostic } from "../src/core/index.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The diagnostics of a value that must not evaluate, formatted as the CLI prints them. */
const errorsOf = (image: unknown): ReadonlyArray<string> => {
  const r = evaluate("spec.ts", "app", image);
  if (E.isRight(r)) throw new Error("expected diagnostics, got an IR");
  return r.left.map(formatDiagnostic);
};

/** An image of one layer "l" holding `entries`; casts let a test write what the types forbid. */
const oneLayer = (...entries: ReadonlyArray<unknown>): ImageT =>
  pipe(Image.scratch, Image.withLayer(Layer.make("l", entries as ReadonlyArray<Entry.Entry>)));

describe("evaluate", () => {
  it("gives the normalized IR of a value, defaults filled in", () => {
    const image = pipe(
      Image.scratch,
      Image.withLayer(Layer.generated("gen", () => [Entry.file("/etc//motd", "hi"), Entry.directory("/srv/"), Entry.symlink("/link", "etc/motd")])),
      Image.withEnv({ B: "2", A: "1" }),
      Image.withCmd(["/bin/sh"]),
    );
    const r = evaluate("spec.ts", "app", image);
    expect(r).toEqual(
      E.right({
        exportName: "app",
        layers: [
          {
            _tag: "Layer",
            name: "gen",
            comment: undefined,
            entries: [
              { _tag: "File", path: "/etc/motd", content: bytes("hi"), mode: 0o644, uid: 0, gid: 0 },
              { _tag: "Directory", path: "/srv", mode: 0o755, uid: 0, gid: 0 },
              { _tag: "Symlink", path: "/link", target: "etc/motd", uid: 0, gid: 0 },
            ],
          },
        ],
        config: { Env: ["A=1", "B=2"], Cmd: ["/bin/sh"] },
        platform: { os: "linux", architecture: "amd64" },
        annotations: {},
      }),
    );
    // Forcing a generator twice gives the same IR: the value, not the run, decides it.
    expect(evaluate("spec.ts", "app", image)).toEqual(r);
  });

  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["a path that escapes the root", oneLayer(Entry.file("/app/../../etc/passwd", "x")), 'spec.ts: export "app", layer "l", path "/app/../../etc/passwd": path escapes the image root'],
    ["a relative path", oneLayer({ ...Entry.file("/a", "x"), path: "etc/motd" }), 'spec.ts: export "app", layer "l", path "etc/motd": '],
    ["a whiteout name", oneLayer(Entry.file("/etc/.wh.passwd", "x")), 'spec.ts: export "app", layer "l", path "/etc/.wh.passwd": path has the name .wh.passwd: names starting with .wh. are OCI whiteouts'],
    ["a file at the root", oneLayer(Entry.file("/", "x")), 'spec.ts: export "app", layer "l", path "/": a file cannot be at /'],
    ["two entries at one path", oneLayer(Entry.file("/a", "x"), Entry.directory("/a")), 'spec.ts: export "app", layer "l", path "/a": two entries at one path (File and Directory)'],
    ["a file under a file", oneLayer(Entry.file("/a", "x"), Entry.file("/a/b", "y")), 'spec.ts: export "app", layer "l", path "/a/b": parent /a is a file, not a directory'],
    ["a mode that is too big", oneLayer(Entry.file("/a", "x", { mode: 0o17777 })), 'spec.ts: export "app", layer "l", path "/a": invalid mode 0o17777: must be an integer from 0 to 0o7777'],
    ["a negative gid", oneLayer(Entry.file("/a", "x", { gid: -1 })), 'spec.ts: export "app", layer "l", path "/a": invalid gid -1'],
    ["a hardlink to a missing file", oneLayer(Entry.hardlink("/b", "/a")), 'spec.ts: export "app", layer "l", path "/b": hardlink target /a is not in this layer'],
    ["a symlink with no target", oneLayer(Entry.symlink("/b", "")), 'spec.ts: export "app", layer "l", path "/b": a symlink needs a non-empty target'],
    ["a throwing generator", pipe(Image.scratch, Image.withLayer(Layer.generated("g", () => { throw new Error("boom"); }))), 'spec.ts: export "app", layer "g": generating entries failed: boom'],
    ["a generator returning no array", pipe(Image.scratch, Image.withLayer(Layer.generated("g", () => "x" as unknown as []))), 'spec.ts: export "app", layer "g": a generator must return an array of entries'],
    ["two layers of one name", pipe(Image.scratch, Image.withLayers(Layer.make("l"), Layer.make("l"))), 'spec.ts: export "app", layer "l": two layers have this name'],
    ["an invalid layer name", pipe(Image.scratch, Image.withLayer(Layer.make("a b"))), 'spec.ts: export "app", layer "a b": invalid layer name'],
    ["an env name with a dash", pipe(Image.scratch, Image.withEnv({ "A-B": "1" })), 'spec.ts: export "app": invalid environment variable name "A-B"'],
    ["a cmd that is not an array", pipe(Image.scratch, Image.withCmd("ls" as unknown as string[])), 'spec.ts: export "app": cmd must be an array of strings (exec form), got string'],
    ["an empty entrypoint", pipe(Image.scratch, Image.withEntrypoint([])), 'spec.ts: export "app": empty entrypoint'],
    ["a port out of range", pipe(Image.scratch, Image.withExposedPorts("70000/tcp")), 'spec.ts: export "app": invalid port "70000/tcp"'],
    ["a bad stop signal", pipe(Image.scratch, Image.withStopSignal("TERM" as "SIGTERM")), 'spec.ts: export "app": unknown stop signal "TERM"'],
    ["a pull of a reference without a host", Image.pull("library/debian:bookworm" as "x/y"), 'spec.ts: export "app": cannot pull'],
    ["a value that is not an image", { _tag: "Layer" }, 'spec.ts: export "app": is not an Image'],
  ];

  it.each(cases)("refuses %s, naming its place", (_what, value, expected) => {
    const errors = errorsOf(value);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toContain(expected);
  });
});
