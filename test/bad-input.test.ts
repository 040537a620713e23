/**
 * Bad input: wrong specs must be refused with exit code 1 and a diagnostic that names
 * the place (file:line:col for type errors; file, export, layer and path for eval and
 * plan errors) and says what is wrong, never a stack trace, and must write no output.
 *
 * Type errors (and impure calls) are caught by `lading check` and by the check that
 * `lading build` runs first. Runtime-invalid values type-check and are caught by eval
 * or plan; those cases run with --no-check to reach eval quickly, and a few without it
 * to show the check lets them through.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunResult } from "./support/cli.ts";
import { REPO, runLading } from "./support/cli.ts";

/** Fixtures as the CLI shows them: relative to the repository, where runLading runs. */
const FIXTURES = "test/fixtures";

const temps: string[] = [];

afterAll(() => {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

const tempDir = (what: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lading-bad-${what}-`));
  temps.push(dir);
  return dir;
};

/** Fresh output and store directories; the outputs live alone in `root`. */
const outputs = (): { readonly root: string; readonly ociDir: string; readonly archive: string; readonly store: string } => {
  const root = tempDir("out");
  return { root, ociDir: path.join(root, "image"), archive: path.join(root, "image.tar"), store: tempDir("store") };
};

/**
 * Exit 1 (not 0, not 70), every diagnostic line names `shown`, each expected text is
 * there, no stack trace, nothing on stdout.
 */
const expectRefused = (r: RunResult, shown: string, expected: ReadonlyArray<string>): void => {
  expect(r.code, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toMatch(/^ {4}at /m);
  const heads = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith(" "));
  expect(heads.length).toBeGreaterThan(0);
  for (const l of heads) expect(l.startsWith(shown), `"${l}" does not name ${shown}`).toBe(true);
  for (const s of expected) expect(r.stderr).toContain(s);
};

/** The build wrote nothing: no OCI directory, no archive, no temp files beside them. */
const expectNoOutput = (o: ReturnType<typeof outputs>): void => {
  expect(fs.existsSync(o.ociDir)).toBe(false);
  expect(fs.existsSync(o.archive)).toBe(false);
  expect(fs.readdirSync(o.root)).toEqual([]);
};

const build = (target: string, o: ReturnType<typeof outputs>, check: boolean): Promise<RunResult> =>
  runLading([
    "build",
    target,
    "--out",
    `oci:${o.ociDir}:v1`,
    "--out",
    `docker-archive:${o.archive}`,
    "--store",
    o.store,
    ...(check ? [] : ["--no-check"]),
  ]);

interface TypeCase {
  /** Under test/fixtures/bad. */
  readonly fixture: string;
  /** line:col of the first diagnostic. */
  readonly at: string;
  /** Texts stderr must contain besides the place. */
  readonly expect: ReadonlyArray<string>;
}

const typeCases: ReadonlyArray<TypeCase> = [
  { fixture: "relative-path.ts", at: "6:51", expect: [`Argument of type '"etc/motd"' is not assignable to parameter of type '\`/\${string}\`'`] },
  { fixture: "string-mode.ts", at: "6:80", expect: ["Type 'string' is not assignable to type 'number'"] },
  { fixture: "port-without-protocol.ts", at: "4:79", expect: [`Argument of type '"8080"' is not assignable to parameter of type 'Port'`] },
  { fixture: "stop-signal.ts", at: "4:68", expect: [`Argument of type '"TERM"' is not assignable to parameter of type '\`SIG\${string}\`'`] },
  { fixture: "cmd-not-array.ts", at: "4:62", expect: ["Argument of type 'string' is not assignable to parameter of type 'readonly string[]'"] },
  { fixture: "env-number.ts", at: "4:62", expect: ["Type 'number' is not assignable to type 'string'"] },
  { fixture: "file-content-number.ts", at: "6:66", expect: ["Argument of type 'number' is not assignable to parameter of type 'string | Uint8Array"] },
  { fixture: "missing-import.ts", at: "3:22", expect: ["Cannot find module './no-such-helper.ts'"] },
  { fixture: "syntax-error.ts", at: "4:47", expect: ["Argument expression expected"] },
  { fixture: "impure-date.ts", at: "4:22", expect: ["impure: Date.now reads the clock", "hint: pass the value to the spec as an explicit parameter"] },
  { fixture: "impure-random.ts", at: "4:80", expect: ["impure: Math.random is random"] },
  { fixture: "impure-env.ts", at: "4:72", expect: ["impure: process.env reads the environment"] },
  { fixture: "impure-fs.ts", at: "2:1", expect: [`impure: module "node:fs" reads the file system`] },
  { fixture: "pull-no-host.ts", at: "4:43", expect: [`Argument of type '"debian:bookworm"' is not assignable to parameter of type '\`\${string}/\${string}\`'`] },
];

/** The type errors `lading build` must refuse too, before evaluating anything. */
const buildTypeCases = ["relative-path.ts", "port-without-protocol.ts", "impure-date.ts", "missing-import.ts"];

interface RuntimeCase {
  /** Under test/fixtures; may not exist (the missing spec case). */
  readonly fixture: string;
  readonly export?: string;
  /** Texts stderr must contain: the place and message, then hints. */
  readonly expect: ReadonlyArray<string>;
}

const runtimeCases: ReadonlyArray<RuntimeCase> = [
  {
    fixture: "bad/path-escape.ts",
    expect: [`: export "pathEscape", layer "files", path "/app/../../etc/passwd": path escapes the image root`],
  },
  {
    fixture: "bad/duplicate-path.ts",
    expect: [`: export "duplicatePath", layer "config", path "/etc/app.conf": two entries at one path (File and File)`],
  },
  {
    fixture: "bad/file-under-file.ts",
    expect: [`: export "fileUnderFile", layer "app", path "/opt/app/config": parent /opt/app is a file, not a directory`],
  },
  { fixture: "bad/file-at-root.ts", expect: [`: export "fileAtRoot", layer "files", path "/": a file cannot be at /`] },
  {
    fixture: "bad/missing-host-file.ts",
    expect: [
      `: export "missingHostFile", layer "site", path "/srv/www": host path not found: no-such-public-dir`,
      "hint: host paths are relative to the spec file's directory",
    ],
  },
  {
    fixture: "bad/env-name-digit.ts",
    expect: [`: export "envNameDigit": invalid environment variable name "1BAD"`, "hint: names are letters, digits and _"],
  },
  { fixture: "bad/env-name-dash.ts", expect: [`: export "envNameDash": invalid environment variable name "A-B"`] },
  { fixture: "bad/empty-entrypoint.ts", expect: [`: export "emptyEntrypoint": empty entrypoint`] },
  {
    fixture: "bad/mode-too-big.ts",
    expect: [`: export "modeTooBig", layer "bin", path "/bin/tool": invalid mode 0o10000: must be an integer from 0 to 0o7777`],
  },
  {
    fixture: "bad/mode-fraction.ts",
    expect: [`: export "modeFraction", layer "files", path "/data": invalid mode 1.5: must be an integer from 0 to 0o7777`],
  },
  {
    fixture: "bad/uid-too-big.ts",
    expect: [`: export "uidTooBig", layer "home", path "/home/app": invalid uid 300000: must be an integer from 0 to 262143`],
  },
  {
    fixture: "bad/gid-negative.ts",
    expect: [`: export "gidNegative", layer "home", path "/home/app": invalid gid -1: must be an integer from 0 to 262143`],
  },
  {
    fixture: "bad/duplicate-layer.ts",
    expect: [`: export "duplicateLayer", layer "app": two layers have this name`, "hint: layer names are unique within an image"],
  },
  { fixture: "bad/layer-name.ts", expect: [`: export "layerName", layer "my files": invalid layer name`] },
  {
    fixture: "bad/hardlink-missing.ts",
    expect: [`: export "hardlinkMissing", layer "links", path "/bin/sh": hardlink target /bin/busybox is not in this layer`],
  },
  {
    fixture: "bad/hardlink-to-dir.ts",
    expect: [`: export "hardlinkToDir", layer "files", path "/data2": hardlink target /data is a directory, not a regular file`],
  },
  {
    fixture: "bad/symlink-empty.ts",
    expect: [`: export "symlinkEmpty", layer "links", path "/usr/bin/python": a symlink needs a non-empty target`],
  },
  { fixture: "bad/port-zero.ts", expect: [`: export "portZero": invalid port "0/tcp"`, "hint: ports are 1-65535"] },
  { fixture: "bad/port-too-big.ts", expect: [`: export "portTooBig": invalid port "70000/udp"`] },
  { fixture: "bad/bad-user.ts", expect: [`: export "badUser": invalid user "www data"`] },
  {
    fixture: "bad/generator-throws.ts",
    expect: [`generator-throws.ts:8:35: export "generatorThrows", layer "manifest": generating entries failed: no versions to list`],
  },
  {
    fixture: "bad/generator-not-array.ts",
    expect: [`: export "generatorNotArray", layer "motd": a generator must return an array of entries`],
  },
  {
    fixture: "bad/cmd-from-json.ts",
    expect: [`: export "cmdFromJson": cmd must be an array of strings (exec form), got string`],
  },
  { fixture: "bad/user-from-json.ts", expect: [`: export "userFromJson": user must be a string, got number`] },
  {
    fixture: "bad/exclude-from-json.ts",
    expect: [`: export "excludeFromJson", layer "site", path "/srv/www": a host copy's exclude must be an array of glob patterns`],
  },
  {
    fixture: "bad/generated-copy-from-json.ts",
    expect: [`: export "generatedCopyFromJson", layer "site", path "/srv/www": a host copy's exclude must be an array of glob patterns`],
  },
  {
    fixture: "bad/pull-bad-reference.ts",
    expect: [`: export "pullBadReference": cannot pull "registry.example.com/Team/App:1": invalid repository name "Team/App"`],
  },
  {
    fixture: "bad/pull-unreachable.ts",
    expect: [`: export "pullUnreachable": docker://127.0.0.1:2/base/app:1: GET /v2/base/app/manifests/1 failed after 4 attempts`],
  },
  { fixture: "bad/layer-from-json.ts", expect: [`: export "layerFromJson": layer #1 is not a Layer value`] },
  { fixture: "bad/not-an-image.ts", export: "files", expect: [`: export "files": is not an Image`] },
  { fixture: "bad/no-image.ts", expect: [": the spec exports no Image"] },
  { fixture: "bad/throws-on-load.ts", expect: [": failed to load the spec: not a port: eighty"] },
  { fixture: "good/tiny.ts", export: "nosuchexport", expect: [`: export "nosuchexport": no such export`, "hint: exports here: tiny"] },
  { fixture: "bad/no-such-spec.ts", expect: [": no such spec file"] },
];

/** Runtime cases also run with the type check, to show it passes them to eval. */
const checkedRuntimeCases = ["bad/path-escape.ts", "bad/env-name-digit.ts", "bad/generator-throws.ts", "bad/cmd-from-json.ts"];

/** The cases with the FILE[#EXPORT] argument they build and a short name for the test. */
const withTargets = (cases: ReadonlyArray<RuntimeCase>): ReadonlyArray<RuntimeCase & { readonly name: string; readonly target: string }> =>
  cases.map((c) => {
    const name = `${c.fixture}${c.export === undefined ? "" : `#${c.export}`}`;
    return { ...c, name, target: `${FIXTURES}/${name}` };
  });

describe.concurrent("type errors and impure calls", () => {
  // One checker run over every fixture, as `lading check a.ts b.ts ...` is used: each file's
  // diagnostics must name that file only. Two files are also checked alone, below.
  let together: Promise<RunResult> | undefined;
  const checkAll = (): Promise<RunResult> => (together ??= runLading(["check", ...typeCases.map((c) => `${FIXTURES}/bad/${c.fixture}`)]));

  it.each(typeCases)("lading check refuses $fixture", async (c) => {
    const shown = `${FIXTURES}/bad/${c.fixture}`;
    const r = await checkAll();
    const mine = r.stderr.split(/\n(?! )/).filter((block) => block.startsWith(`${shown}:`));
    expectRefused({ ...r, stderr: mine.map((b) => `${b}\n`).join("") }, shown, [`${shown}:${c.at}: `, ...c.expect]);
  });

  it.each(typeCases.filter((c) => ["impure-date.ts", "string-mode.ts"].includes(c.fixture)))("lading check of $fixture alone refuses it", async (c) => {
    const shown = `${FIXTURES}/bad/${c.fixture}`;
    const r = await runLading(["check", shown]);
    expectRefused(r, shown, [`${shown}:${c.at}: `, ...c.expect]);
  });

  it.each(typeCases.filter((c) => buildTypeCases.includes(c.fixture)))("lading build refuses $fixture and writes nothing", async (c) => {
    const shown = `${FIXTURES}/bad/${c.fixture}`;
    const o = outputs();
    const r = await build(shown, o, true);
    expectRefused(r, shown, [`${shown}:${c.at}: `, ...c.expect]);
    expectNoOutput(o);
  });
});

describe.concurrent("runtime-invalid values", () => {
  it("type-check cleanly: only eval or plan can catch them", async () => {
    const files = runtimeCases.map((c) => `${FIXTURES}/${c.fixture}`).filter((f) => fs.existsSync(path.join(REPO, f)));
    const r = await runLading(["check", ...files]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it.each(withTargets(runtimeCases))("lading build --no-check refuses $name and writes nothing", async (c) => {
    const o = outputs();
    const r = await build(c.target, o, false);
    const shown = `${FIXTURES}/${c.fixture}`;
    expectRefused(r, shown, c.expect.map((s) => (s.startsWith(": ") ? `${shown}${s}` : s)));
    expectNoOutput(o);
  });

  it.each(withTargets(runtimeCases.filter((c) => checkedRuntimeCases.includes(c.fixture))))(
    "lading build (checked) refuses $name at eval and writes nothing",
    async (c) => {
      const o = outputs();
      const r = await build(c.target, o, true);
      const shown = `${FIXTURES}/${c.fixture}`;
      expectRefused(r, shown, c.expect.map((s) => (s.startsWith(": ") ? `${shown}${s}` : s)));
      // No type error: a position appears only where eval itself reports one (a throw).
      if (!c.expect.some((s) => /\.ts:\d+:\d+: /.test(s))) expect(r.stderr).not.toMatch(/\.ts:\d+:\d+: /);
      expectNoOutput(o);
    },
  );

  it("a missing local import is not reported as a missing spec file", async () => {
    const shown = `${FIXTURES}/bad/missing-import.ts`;
    const o = outputs();
    const r = await build(shown, o, false);
    expectRefused(r, shown, [`${shown}: failed to load the spec: Cannot find module`, "no-such-helper.ts"]);
    expect(r.stderr).not.toContain("no such spec file");
    expectNoOutput(o);
  });
});

describe.concurrent("a failed build into existing outputs", () => {
  it.each([
    { fixture: "bad/impure-date.ts", check: true, expect: "impure: Date.now reads the clock" },
    { fixture: "bad/missing-host-file.ts", check: false, expect: "host path not found: no-such-public-dir" },
  ])("leaves them byte-identical ($fixture)", async (c) => {
    const root = tempDir("existing");
    const store = tempDir("store");
    const ociDir = path.join(root, "layout");
    const archive = path.join(root, "image.tar");
    const good = await runLading(["build", `${FIXTURES}/good/tiny.ts`, "--out", `oci:${ociDir}:v1`, "--out", `docker-archive:${archive}`, "--store", store]);
    expect(good.code, good.stderr).toBe(0);
    const index = fs.readFileSync(path.join(ociDir, "index.json"));
    const blobs = fs.readdirSync(path.join(ociDir, "blobs", "sha256")).sort();
    const tar = fs.readFileSync(archive);
    const listing = fs.readdirSync(root).sort();

    const shown = `${FIXTURES}/${c.fixture}`;
    const r = await runLading([
      "build",
      shown,
      "--out",
      `oci:${ociDir}:v2`,
      "--out",
      `docker-archive:${archive}`,
      "--store",
      store,
      ...(c.check ? [] : ["--no-check"]),
    ]);
    expectRefused(r, shown, [c.expect]);
    expect(fs.readFileSync(path.join(ociDir, "index.json")).equals(index)).toBe(true);
    expect(fs.readdirSync(path.join(ociDir, "blobs", "sha256")).sort()).toEqual(blobs);
    expect(fs.readFileSync(archive).equals(tar)).toBe(true);
    expect(fs.readdirSync(root).sort()).toEqual(listing);
  });
});
