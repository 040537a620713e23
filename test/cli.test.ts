/**
 * What the CLI tells its user: help for a command, a directory taken for its lading.ts,
 * a plan summary, and a diff of a spec against a built image that compares like with
 * like; and what it loads to say it.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, runLading } from "./support/cli.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-cli-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe("help", () => {
  it("'help build' and 'build --help' print the build command's help, which agrees with the README", async () => {
    const a = await runLading(["help", "build"]);
    const b = await runLading(["build", "--help"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.startsWith("usage: lading build FILE[#EXPORT] --out T")).toBe(true);
    expect(a.stdout).toContain("docker-archive:FILE[:NAME:TAG]");
    expect(await fs.readFile(path.join(REPO, "README.md"), "utf8")).toContain("docker-archive:FILE[:NAME:TAG]");
  });
});

describe("plan", () => {
  it("takes a directory for its lading.ts and prints a summary, every entry with --files", async () => {
    const store = path.join(work, "store");
    const summary = await runLading(["plan", "examples/hello", "--store", store]);
    expect(summary.code).toBe(0);
    expect(summary.stdout.split("\n").filter((l) => l.startsWith("layer ") || l.startsWith("("))).toEqual([
      expect.stringMatching(/^layer busybox: 5 entries \(1 dir, 1 file, 3 symlinks\), 2\.0 MB, cache key sha256:[0-9a-f]{64}$/),
      expect.stringMatching(/^layer greeting: 2 entries \(1 dir, 1 file\), 19 B, cache key sha256:[0-9a-f]{64}$/),
      "(7 entries in all: --files lists them)",
    ]);
    const files = await runLading(["plan", "examples/hello/", "--files", "--store", store]);
    expect(files.stdout).toMatch(/^ {2}file .* \/etc\/greeting$/m);
    expect(summary.stdout).not.toMatch(/^ {2}file /m);
  });
});

describe("diff of a spec against a built image", () => {
  it("shows one key for a layer, never two hashes of different things side by side", async () => {
    const store = path.join(work, "store");
    const out = path.join(work, "before");
    expect((await runLading(["build", "test/fixtures/diff/before/lading.ts", "--store", store, "--out", `oci:${out}:x`])).code).toBe(0);
    const d = await runLading(["diff", `oci:${out}:x`, "test/fixtures/diff/after/lading.ts", "--store", store, "--color", "never"]);
    expect(d.code).toBe(1);
    const layerLines = d.stdout.split("\n").filter((l) => /^ {2}[=~+-] \S+ {2}\d/.test(l));
    expect(layerLines.length).toBeGreaterThan(0);
    for (const l of layerLines) expect(l).not.toMatch(/sha256:\S+ -> sha256:/);
    expect(layerLines.find((l) => l.startsWith("  = docs"))).toMatch(/^ {2}= docs {2}8 B -> 8 B {2}cache key sha256:[0-9a-f]{12}$/);
  });
});

describe("start-up", () => {
  /**
   * Runs lading with a module hook that lists every module it imports (the compiled
   * CLI's chunks, or the sources under the loader, and the packages left outside).
   */
  const loadedBy = async (args: ReadonlyArray<string>, cwd?: string): Promise<ReadonlyArray<string>> => {
    const dir = await fs.mkdtemp(path.join(work, "hook-"));
    const log = path.join(dir, "loaded");
    await fs.writeFile(
      path.join(dir, "hooks.mjs"),
      'import { appendFileSync } from "node:fs";\nexport async function resolve(specifier, context, next) {\n  const r = await next(specifier, context);\n  appendFileSync(process.env.LADING_TEST_LOADED, `${r.url}\\n`);\n  return r;\n}\n',
    );
    await fs.writeFile(path.join(dir, "register.mjs"), 'import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n');
    await fs.writeFile(log, "");
    const r = await runLading(args, { ...(cwd === undefined ? {} : { cwd }), env: { NODE_OPTIONS: `--import ${path.join(dir, "register.mjs")}`, LADING_TEST_LOADED: log } });
    expect(r.code).toBe(0);
    return (await fs.readFile(log, "utf8")).split("\n").filter((l) => l !== "");
  };
  // When the CLI is not compiled, its sources run through the TypeScript loader, which
  // transforms them with esbuild: those two are then the price of every command.
  const HEAVY = process.env["LADING_NO_COMPILE"] === "1" ? /ts-morph|openpgp|dockerfile/ : /ts-morph|openpgp|dockerfile|esbuild|tsx/;

  it("loads neither the compiler, openpgp, the Dockerfile parser nor (compiled) the loader for --version and help", async () => {
    // A first run compiles the CLI, which loads esbuild: not what is measured here.
    expect((await runLading(["help"])).code).toBe(0);
    for (const args of [["--version"], ["help"], ["help", "build"], ["build", "--help"], ["import", "--help"]]) {
      expect((await loadedBy(args)).filter((url) => HEAVY.test(url)), args.join(" ")).toEqual([]);
    }
  });

  it("loads the Dockerfile parser and the compiler when a Dockerfile is translated", async () => {
    const dir = path.join(work, "dockerfile");
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, "Dockerfile"), "FROM scratch\nENV A=1\n");
    const loaded = await loadedBy(["import", path.join(dir, "Dockerfile")], dir);
    expect(loaded.some((url) => /dockerfile/.test(url))).toBe(true);
    expect(loaded.some((url) => /ts-morph/.test(url))).toBe(true);
  });
});
