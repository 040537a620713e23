#!/usr/bin/env node
// Runs the CLI. lading is TypeScript with no build step: the CLI is compiled on first use
// into cached ES modules (node_modules/.cache/lading-cli), again whenever a source file
// changes, which halves the start-up of every command. Where that cannot be written, the
// sources run through the TypeScript loader instead. Specs are always loaded by the
// loader (see src/cli/load.ts). LADING_NO_COMPILE=1 always takes the loader's way.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const entry = path.join(root, "src", "cli", "main.ts");
const cacheDir = path.join(root, "node_modules", ".cache", "lading-cli");

/**
 * A key for the CLI's sources as they are now: the path, size and modification time of
 * every source file, of this file (which says how to build), and of the files that pin
 * the bundled dependencies and the compiler options.
 */
const sourceKey = async () => {
  // Loaded here, not at the top: `--version` does without it.
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  const add = (p) => {
    const st = fs.statSync(p);
    hash.update(`${path.relative(root, p)}\0${st.size}\0${st.mtimeMs}\n`);
  };
  add(fileURLToPath(import.meta.url));
  // The bundled dependencies, as installed, and the compiler options esbuild reads.
  for (const f of ["package.json", "package-lock.json", path.join("node_modules", ".package-lock.json"), "tsconfig.json"]) {
    if (fs.existsSync(path.join(root, f))) add(path.join(root, f));
  }
  const walk = (dir) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) add(p);
    }
  };
  walk(path.join(root, "src"));
  return hash.digest("hex").slice(0, 16);
};

/**
 * The compiled CLI for the sources as they are, built now if there is none: one
 * directory a version of the sources, made whole beside its place and renamed into it,
 * so a run never sees half a build, nor one replaced under it.
 */
const compiled = async () => {
  if (process.env["LADING_NO_COMPILE"] === "1") return undefined;
  try {
    const key = await sourceKey();
    const dir = path.join(cacheDir, key);
    const out = path.join(dir, "main.js");
    if (fs.existsSync(out)) return out;
    const { build } = await import("esbuild");
    const tmp = path.join(cacheDir, `.tmp-${process.pid}-${key}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    await build({
      entryPoints: [entry],
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node20",
      // The CLI's dependencies are bundled too (parsing them one by one is most of a
      // start-up); the TypeScript loader and compiler stay outside, as they are loaded
      // only by commands that need them.
      external: ["tsx", "tsx/*", "ts-morph", "esbuild"],
      // Bundled CommonJS dependencies require Node's built-in modules.
      banner: { js: 'import { createRequire as __ladingCreateRequire } from "node:module"; const require = __ladingCreateRequire(import.meta.url);' },
      outdir: tmp,
      logLevel: "silent",
    });
    try {
      fs.renameSync(tmp, dir);
    } catch {
      // Another run built the same sources first.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    // Builds of older sources, made more than a day ago, go; another run may be removing
    // them too.
    for (const name of fs.readdirSync(cacheDir)) {
      const p = path.join(cacheDir, name);
      try {
        if (name !== key && Date.now() - fs.statSync(p).mtimeMs > 86_400_000) fs.rmSync(p, { recursive: true, force: true });
      } catch {
        // Gone already.
      }
    }
    return fs.existsSync(out) ? out : undefined;
  } catch {
    return undefined;
  }
};

/** Loads the CLI, compiled if it can be, else through the loader, and runs it. */
const runCli = async (argv) => {
  // The compiled CLI lives under node_modules, which may be a link to another checkout's:
  // it learns which lading it is (its sources, its version) from here, not from where it
  // was compiled to.
  globalThis[Symbol.for("lading.root")] = root;
  const bundle = await compiled();
  let run;
  if (bundle !== undefined) ({ run } = await import(pathToFileURL(bundle).href).catch(() => ({ run: undefined })));
  if (run === undefined) {
    const { register } = await import("tsx/esm/api");
    register();
    ({ run } = await import("../src/cli/main.ts"));
  }
  return run(argv);
};

const argv = process.argv.slice(2);
// `lading --version` is answered here, from lading's package.json, as the
// CLI would: before its sources are looked at, let alone loaded.
if (argv.length === 1 && argv[0] === "--version") {
  process.stdout.write(`${JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version}\n`);
} else {
  process.exitCode = await runCli(argv);
}
