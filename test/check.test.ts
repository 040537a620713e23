/**
 * The check cache: keyed by every local source a spec reaches, and holding only while
 * every file the compiler read for it is unchanged, so an edit anywhere in that graph
 * (declarations and dependencies' types included) is checked again, and an unchanged
 * spec is checked once; what the check found, errors and warnings, is recorded and
 * reported again from the record.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult, Checker } from "../src/check/index.ts";
import { checkSpecs, chooseChecker, collectLocalSources } from "../src/check/index.ts";
import { digestOf } from "../src/core/index.ts";
import { REPO, runLading } from "./support/cli.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-check-"));
  await fs.mkdir(path.join(work, "node_modules"));
  await fs.symlink(REPO, path.join(work, "node_modules", "lading"));
  await fs.mkdir(path.join(work, "lib"));
  await fs.writeFile(
    path.join(work, "lading.ts"),
    'import { Image, pipe } from "lading";\nimport { motd } from "./lib/motd.ts";\nexport const app = pipe(Image.scratch, Image.withLayer(motd));\n',
  );
  await fs.writeFile(path.join(work, "lib", "motd.ts"), 'import { Entry, Layer } from "lading";\nexport * from "./text.js";\nexport const motd = Layer.make("motd", [Entry.file("/etc/motd", "hi\\n")]);\n');
  await fs.writeFile(path.join(work, "lib", "text.ts"), 'export const text = "hi";\n');
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("check", () => {
  it("finds every local source a spec reaches, and nothing from packages", async () => {
    const files = (await collectLocalSources(path.join(work, "lading.ts"))).map((s) => path.relative(work, s.file));
    expect(files).toEqual(["lading.ts", path.join("lib", "motd.ts"), path.join("lib", "text.ts")]);
  });

  it("checks again after an edit to an imported file, and reports it with its position", async () => {
    const store = path.join(work, "store");
    const first = await runLading(["plan", path.join(work, "lading.ts"), "--store", store], { cwd: work });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect((await fs.readdir(path.join(store, "checks"))).length).toBe(1);
    await fs.writeFile(path.join(work, "lib", "text.ts"), 'export const text: number = "hi";\n');
    const second = await runLading(["plan", path.join(work, "lading.ts"), "--store", store], { cwd: work });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("lib/text.ts:1:14: Type 'string' is not assignable to type 'number'.");
    // A failed check is recorded too, with its errors, and they fail the next run as well.
    expect((await fs.readdir(path.join(store, "checks"))).length).toBe(2);
    const third = await runLading(["plan", path.join(work, "lading.ts"), "--store", store], { cwd: work });
    expect(third.code).toBe(1);
    expect(third.stderr).toBe(second.stderr);
    await fs.writeFile(path.join(work, "lib", "text.ts"), 'export const text = "hi";\n');
  });

  it("flags impure calls with a hint to pass a parameter", async () => {
    const spec = path.join(work, "impure.ts");
    await fs.writeFile(spec, 'import { Entry, Image, Layer, pipe } from "lading";\nconst now = Date.now();\nexport const app = pipe(Image.scratch, Image.withLayer(Layer.make("t", [Entry.file("/t", String(now))])));\n');
    const r = await runLading(["check", spec], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("impure.ts:2:13: impure: Date.now reads the clock\n  hint: pass the value to the spec as an explicit parameter");
  });
});

describe("check results in the store", () => {
  const record = async (store: string): Promise<{ readonly file: string; readonly text: string }> => {
    const names = await fs.readdir(path.join(store, "checks"));
    expect(names).toHaveLength(1);
    const file = path.join(store, "checks", names[0]!);
    return { file, text: await fs.readFile(file, "utf8") };
  };

  it("answers an unchanged spec from its record, warnings included, and checks a changed one again", async () => {
    const dir = path.join(work, "warned");
    const store = path.join(dir, "store");
    await fs.mkdir(dir);
    const spec = path.join(dir, "lading.ts");
    const source = (cmd: string): string =>
      `import { Image, pipe } from "lading";\nexport const app = pipe(Image.scratch, Image.run(["${cmd}"], { network: "host" }));\n`;
    await fs.writeFile(spec, source("/bin/true"));
    const first = await runLading(["check", spec, "--store", store], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toBe("ok: 1 spec file checked\n");
    expect(first.stderr).toContain('lading.ts:2:67: warning: a run step uses the host\'s network (network: "host")');
    // The record holds the warning, its file relative to the spec, and the files checked with their digests.
    const { file, text } = await record(store);
    const parsed = JSON.parse(text) as { readonly files: ReadonlyArray<readonly [string, string]> };
    expect(parsed.files).toContainEqual(["lading.ts", digestOf(source("/bin/true"))]);
    expect(parsed.files.map(([f]) => f)).not.toContain(path.join("..", "node_modules", "lading", "src", "index.ts"));
    expect(parsed).toEqual({
      files: parsed.files,
      diagnostics: [
        {
          severity: "warning",
          file: "lading.ts",
          line: 2,
          column: 67,
          message: 'a run step uses the host\'s network (network: "host"): its layer may depend on what the network serves',
          hint: "fetch inputs by digest where you can; lading build --check shows whether the step gives the same layer twice",
        },
      ],
    });
    // What the second run reports comes from the record: changed there, it is what the user sees.
    await fs.writeFile(file, text.replace("a run step uses the host", "RECORDED: a run step uses the host"));
    const second = await runLading(["check", spec, "--store", store], { cwd: dir });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('lading.ts:2:67: warning: RECORDED: a run step uses the host\'s network');
    // A changed source is checked again, and gets a record of its own.
    await fs.writeFile(spec, source("/bin/false"));
    const third = await runLading(["check", spec, "--store", store], { cwd: dir });
    expect(third.code).toBe(0);
    expect(third.stderr).toContain('lading.ts:2:68: warning: a run step uses the host\'s network');
    expect(third.stderr).not.toContain("RECORDED");
    expect((await fs.readdir(path.join(store, "checks"))).length).toBe(2);
  });

  it("reports an erroneous spec's errors again when it is answered from the record", async () => {
    const dir = path.join(work, "erroneous");
    const store = path.join(dir, "store");
    await fs.mkdir(dir);
    const spec = path.join(dir, "lading.ts");
    await fs.writeFile(spec, 'import { Image } from "lading";\nexport const app = Image.scratch;\nexport const port: number = "80";\n');
    const first = await runLading(["check", spec, "--store", store], { cwd: dir });
    expect(first.code).toBe(1);
    expect(first.stderr).toContain("lading.ts:3:14: Type 'string' is not assignable to type 'number'.");
    const { file, text } = await record(store);
    await fs.writeFile(file, text.replace("Type 'string'", "RECORDED: Type 'string'"));
    const second = await runLading(["check", spec, "--store", store], { cwd: dir });
    expect(second.code).toBe(1);
    expect(second.stdout).toBe("");
    expect(second.stderr).toContain("lading.ts:3:14: RECORDED: Type 'string' is not assignable to type 'number'.");
  });

  /** A project of `files` (paths relative to it) in a directory of its own. */
  const project = async (name: string, files: Readonly<Record<string, string>>): Promise<string> => {
    const dir = path.join(work, name);
    for (const [rel, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fs.writeFile(path.join(dir, rel), text);
    }
    return dir;
  };

  /** Checks `spec` in `dir` with the store there, then with a store of its own: the two must agree. */
  const checkTwice = async (dir: string, spec: string, fresh: string): Promise<{ readonly recorded: number; readonly fresh: number }> => {
    const recorded = await runLading(["check", spec, "--store", path.join(dir, "store")], { cwd: dir });
    const anew = await runLading(["check", spec, "--store", path.join(dir, fresh)], { cwd: dir });
    return { recorded: recorded.code, fresh: anew.code };
  };

  it("checks again when the declarations behind a .js import change", async () => {
    const dir = await project("declared", {
      "types.d.ts": "export declare const n: string;\n",
      "lading.ts": 'import { n } from "./types.js";\nexport const x: string = n;\n',
    });
    expect(await checkTwice(dir, "lading.ts", "fresh-1")).toEqual({ recorded: 0, fresh: 0 });
    await fs.writeFile(path.join(dir, "types.d.ts"), "export declare const n: number;\n");
    expect(await checkTwice(dir, "lading.ts", "fresh-2")).toEqual({ recorded: 1, fresh: 1 });
  });

  it("checks again when a dependency's types in node_modules change", async () => {
    const dir = await project("depends", {
      "package.json": '{ "name": "depends", "type": "module", "dependencies": { "dep": "1.0.0" } }\n',
      "node_modules/dep/package.json": '{ "name": "dep", "version": "1.0.0", "types": "index.d.ts" }\n',
      "node_modules/dep/index.d.ts": "export declare const n: string;\n",
      "lading.ts": 'import { n } from "dep";\nexport const x: string = n;\n',
    });
    expect(await checkTwice(dir, "lading.ts", "fresh-1")).toEqual({ recorded: 0, fresh: 0 });
    await fs.writeFile(path.join(dir, "node_modules", "dep", "index.d.ts"), "export declare const n: number;\n");
    expect(await checkTwice(dir, "lading.ts", "fresh-2")).toEqual({ recorded: 1, fresh: 1 });
  });

  it("never reports an erroneous spec ok from a record, whichever way its files are reached", async () => {
    const dir = await project("reached", {
      "package.json": '{ "name": "reached", "type": "module", "imports": { "#conf": "./conf.ts" } }\n',
      // The compiler checks foo.ts; foo.js beside it is what the spec names.
      "foo.js": "export const foo = 1;\n",
      "foo.ts": "export const foo: string = \"1\";\n",
      "conf.ts": "export const conf: string = \"c\";\n",
      "lading.ts": 'import { foo } from "./foo.js";\nimport { conf } from "#conf";\nexport const x: string = foo;\nexport const y: string = conf;\n',
    });
    expect(await checkTwice(dir, "lading.ts", "fresh-1")).toEqual({ recorded: 0, fresh: 0 });
    await fs.writeFile(path.join(dir, "foo.ts"), "export const foo: number = 1;\n");
    expect(await checkTwice(dir, "lading.ts", "fresh-2")).toEqual({ recorded: 1, fresh: 1 });
    await fs.writeFile(path.join(dir, "foo.ts"), "export const foo: string = \"1\";\n");
    expect(await checkTwice(dir, "lading.ts", "fresh-3")).toEqual({ recorded: 0, fresh: 0 });
    await fs.writeFile(path.join(dir, "conf.ts"), "export const conf: number = 1;\n");
    expect(await checkTwice(dir, "lading.ts", "fresh-4")).toEqual({ recorded: 1, fresh: 1 });
  });
});

describe("the native compiler and ts-morph", () => {
  /** Checks `specs` with `checker`, files shown relative to `dir`, and the files read by path. */
  const checkWith = async (checker: Checker, dir: string, specs: ReadonlyArray<string>): Promise<{ readonly diagnostics: CheckResult["diagnostics"]; readonly read: ReadonlyArray<string> }> => {
    const found = await checkSpecs(specs.map((s) => path.join(dir, s)), REPO, (abs) => path.relative(dir, abs), checker);
    return { diagnostics: found.diagnostics, read: found.read.map((r) => r.file).sort() };
  };

  /** Both checkers on `specs`: the diagnostics and the files read must be the same. */
  const bothWays = async (dir: string, specs: ReadonlyArray<string>): Promise<CheckResult["diagnostics"]> => {
    const native = chooseChecker(specs.map((s) => path.join(dir, s)), REPO, {});
    expect(native._tag).toBe("native");
    const fromNative = await checkWith(native, dir, specs);
    const fromTsMorph = await checkWith({ _tag: "ts-morph" }, dir, specs);
    expect(fromNative.diagnostics).toEqual(fromTsMorph.diagnostics);
    expect(fromNative.read).toEqual(fromTsMorph.read);
    return fromNative.diagnostics;
  };

  const corpus = async (dir: string, files: Readonly<Record<string, string>>): Promise<void> => {
    for (const [rel, text] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fs.writeFile(path.join(dir, rel), text);
    }
  };

  it("is the native compiler where it is installed, and ts-morph's when LADING_CHECKER=ts-morph asks", () => {
    const spec = path.join(work, "lading.ts");
    expect(chooseChecker([spec], REPO, {})).toMatchObject({ _tag: "native", ownEntries: false });
    expect(chooseChecker([spec], REPO, { LADING_CHECKER: "ts-morph" })).toEqual({ _tag: "ts-morph" });
  });

  it("report the same errors, impure calls and warnings, and read the same files", async () => {
    const dir = path.join(work, "corpus");
    await corpus(dir, {
      "package.json": '{ "name": "corpus", "type": "module" }\n',
      "node_modules/lading": "",
      "node_modules/dep/package.json": '{ "name": "dep", "version": "1.0.0", "type": "module", "exports": "./index.ts" }\n',
      // A packaged source's own errors are not the user's.
      "node_modules/dep/index.ts": 'export const n: number = "not a number";\n',
      "lib/util.ts": 'import * as fs from "node:fs";\nexport const size: number = "big";\nexport const when = Date.now();\n',
      "lading.ts": [
        'import { Image, pipe } from "lading";',
        'import { busybox } from "lading/stdlib";',
        'import { size } from "./lib/util.ts";',
        'import { n } from "dep";',
        'import { gone } from "./missing.js";',
        "const f: (x: number) => string = (x: string) => x;",
        'const o: { a: { b: number } } = { a: { b: "x" } };',
        'export const app = pipe(Image.scratch, Image.withEnv({ PATH: 1 }), Image.withLayers(busybox({ applets: ["sh"] })));',
        'export const net = pipe(Image.scratch, Image.run(["x"], { network: "host" }));',
        "const r = Math.random();",
        "function g(x: number): number { if (x) return 1; }",
        "export { f, o, r, g, size, n, gone };",
        "",
      ].join("\n"),
    });
    await fs.rm(path.join(dir, "node_modules", "lading"));
    await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
    const diagnostics = await bothWays(dir, ["lading.ts"]);
    expect(diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`)).toEqual([
      "lading.ts:5:22: error: Cannot find module './missing.js' or its corresponding type declarations.",
      "lading.ts:6:7: error: Type '(x: string) => string' is not assignable to type '(x: number) => string'.\n    Types of parameters 'x' and 'x' are incompatible.\n      Type 'number' is not assignable to type 'string'.",
      "lading.ts:7:40: error: Type 'string' is not assignable to type 'number'.",
      "lading.ts:8:56: error: Type 'number' is not assignable to type 'string'.",
      "lading.ts:11:24: error: Function lacks ending return statement and return type does not include 'undefined'.",
      "lib/util.ts:1:21: error: Cannot find name 'node:fs'. Do you need to install type definitions for node? Try `npm i --save-dev @types/node` and then add 'node' to the types field in your tsconfig.",
      "lib/util.ts:2:14: error: Type 'string' is not assignable to type 'number'.",
      'lading.ts:9:59: warning: a run step uses the host\'s network (network: "host"): its layer may depend on what the network serves',
      "lading.ts:10:11: error: impure: Math.random is random",
      'lib/util.ts:1:1: error: impure: module "node:fs" reads the file system',
      "lib/util.ts:3:21: error: impure: Date.now reads the clock",
    ]);
  });

  it("never takes a native compiler that crashed, could not run or gave a report that does not hold together for a clean check", async () => {
    const dir = path.join(work, "crashing");
    await corpus(dir, { "lading.ts": 'export const n: number = "not a number";\nexport const t = Date.now();\n' });
    const expected = await checkWith({ _tag: "ts-morph" }, dir, ["lading.ts"]);
    expect(expected.diagnostics.map((d) => d.message).join("\n")).toContain("not assignable to type 'number'");
    // Go exits 2 on a panic, as the compiler does on a report of errors; 0 with nothing listed; and no program at all.
    const fakes = {
      panics: "#!/bin/sh\necho 'panic: runtime error' >&2\nexit 2\n",
      silent: "#!/bin/sh\nexit 0\n",
      quiet: "#!/bin/sh\nexit 1\n",
    };
    for (const [name, script] of Object.entries(fakes)) {
      const exe = path.join(work, `tsgo-${name}`);
      await fs.writeFile(exe, script, { mode: 0o755 });
      const found = await checkWith({ _tag: "native", exe, version: "fake", ownEntries: false }, dir, ["lading.ts"]);
      expect(found.diagnostics, name).toEqual(expected.diagnostics);
    }
    const missing = await checkWith({ _tag: "native", exe: path.join(work, "no-such-tsgo"), version: "fake", ownEntries: false }, dir, ["lading.ts"]);
    expect(missing.diagnostics).toEqual(expected.diagnostics);
  });

  it("agree on a file that does not parse, whose types are checked all the same", async () => {
    const dir = path.join(work, "unparsed");
    await corpus(dir, {
      "lading.ts": 'import { Image } from "lading";\nimport { a } from "./broken.ts";\nexport const app = Image.scratch;\nexport const port: number = "80";\nexport { a };\n',
      "broken.ts": "export const a = ;\n",
    });
    const diagnostics = await bothWays(dir, ["lading.ts"]);
    expect(diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`)).toEqual([
      "broken.ts:1:18: Expression expected.",
      "lading.ts:4:14: Type 'string' is not assignable to type 'number'.",
    ]);
  });

  it("agree where the spec's project has no lading, and this lading's sources answer", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lading-own-"));
    try {
      await corpus(dir, {
        "lading.ts": 'import { Entry, Image, Layer, pipe } from "lading";\nexport const app = pipe(Image.scratch, Image.withLayer(Layer.make("x", [Entry.file("etc/motd", 1)])));\n',
      });
      expect(chooseChecker([path.join(dir, "lading.ts")], REPO, {})).toMatchObject({ _tag: "native", ownEntries: true });
      const diagnostics = await bothWays(dir, ["lading.ts"]);
      expect(diagnostics).toHaveLength(1);
      expect(diagnostics[0]).toMatchObject({ file: "lading.ts", line: 2, severity: "error" });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("checks as well with a compiler code cache that V8 refuses, and writes it anew", async () => {
    const cacheDir = path.join(REPO, "node_modules", ".cache", "lading-typescript");
    const spec = path.join(work, "cached.ts");
    await fs.writeFile(spec, 'import { Image } from "lading";\nexport const app = Image.scratch;\nexport const now: string = Date.now();\n');
    expect((await runLading(["check", spec, "--store", path.join(work, "cached-1")], { cwd: work })).code).toBe(1);
    const names = (await fs.readdir(cacheDir)).filter((n) => n.endsWith(".bin"));
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) await fs.writeFile(path.join(cacheDir, n), "not a code cache");
    // A store of its own: the check is not answered from the first one's record.
    const r = await runLading(["check", spec, "--store", path.join(work, "cached-2")], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cached.ts:3:14: Type 'number' is not assignable to type 'string'.");
    expect(r.stderr).toContain("cached.ts:3:28: impure: Date.now reads the clock");
    for (const n of names) expect((await fs.stat(path.join(cacheDir, n))).size).toBeGreaterThan(1_000_000);
    // A cache of the right length with one byte changed, which V8 would not tell: not used, written anew.
    const written = await fs.readFile(path.join(cacheDir, names[0]!));
    const damaged = Buffer.from(written);
    damaged[damaged.length >> 1]! ^= 0xff;
    for (const n of names) await fs.writeFile(path.join(cacheDir, n), damaged);
    const again = await runLading(["check", spec, "--store", path.join(work, "cached-3")], { cwd: work });
    expect(again.stderr).toContain("cached.ts:3:14: Type 'number' is not assignable to type 'string'.");
    // This Node's cache (others may lie beside it) is written anew.
    const now = await Promise.all(names.map((n) => fs.readFile(path.join(cacheDir, n))));
    expect(now.some((b) => !b.equals(damaged))).toBe(true);
  });

  it("keep records of their own in the store", async () => {
    const dir = path.join(work, "two-checkers");
    const store = path.join(dir, "store");
    await corpus(dir, { "lading.ts": 'import { Image } from "lading";\nexport const app = Image.scratch;\n' });
    expect((await runLading(["check", "lading.ts", "--store", store], { cwd: dir })).code).toBe(0);
    expect((await runLading(["check", "lading.ts", "--store", store], { cwd: dir, env: { LADING_CHECKER: "ts-morph" } })).code).toBe(0);
    expect((await fs.readdir(path.join(store, "checks"))).length).toBe(2);
  });
});
