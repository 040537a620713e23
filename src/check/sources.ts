/**
 * The local source graph of a spec: the spec file and every relative import it reaches,
 * found without loading the compiler. Its hash keys the check cache, so an unchanged
 * spec is checked once, and a cache hit costs a few file reads.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Digest } from "../core/index.ts";
import { canonicalJson, digestOf } from "../core/index.ts";

/**
 * Every string that could name a module: after `from`, `import` or `import(`, and in
 * `/// <reference path>`. A match inside a comment or string only adds a file to the
 * key, which is safe; missing a real import would not be.
 */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|<reference\s+path\s*=\s*)["']([^"'\n]+)["']/g;

const moduleSpecifiers = (text: string): ReadonlyArray<string> => [...text.matchAll(SPECIFIER)].map((m) => m[1]!);

const CANDIDATES = (base: string): ReadonlyArray<string> => {
  const noJs = base.replace(/\.(m|c)?js$/, "");
  return [base, `${noJs}.ts`, `${noJs}.mts`, `${noJs}.tsx`, path.join(base, "index.ts")];
};

const resolveLocal = async (from: string, spec: string): Promise<string | undefined> => {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return undefined;
  for (const c of CANDIDATES(path.resolve(path.dirname(from), spec))) {
    const st = await fs.stat(c).catch(() => undefined);
    if (st?.isFile()) return c;
  }
  return undefined;
};

/**
 * Every local source file a spec reaches, with its text, spec file first.
 *
 * @category constructors
 */
export const collectLocalSources = async (entry: string): Promise<ReadonlyArray<{ readonly file: string; readonly text: string }>> => {
  const seen = new Map<string, string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file) || file.split(path.sep).includes("node_modules")) return;
    const text = await fs.readFile(file, "utf8");
    seen.set(file, text);
    for (const spec of moduleSpecifiers(text)) {
      const target = await resolveLocal(file, spec);
      if (target !== undefined) await visit(target);
    }
  };
  await visit(path.resolve(entry));
  return [...seen.entries()].map(([file, text]) => ({ file, text }));
};

/** The nearest package.json at or above `dir`, with its text; undefined when there is none. */
const manifestAbove = async (dir: string): Promise<{ readonly file: string; readonly text: string } | undefined> => {
  for (let d = dir; ; d = path.dirname(d)) {
    const file = path.join(d, "package.json");
    const text = await fs.readFile(file, "utf8").catch(() => undefined);
    if (text !== undefined) return { file, text };
    if (path.dirname(d) === d) return undefined;
  }
};

/**
 * The files of the package a spec belongs to that change how its imports are checked:
 * the nearest package.json (its "type" decides between ES modules and CommonJS), the
 * lock file beside it and npm's record of what is installed (the packages' versions,
 * whose types the spec is checked against).
 *
 * @category constructors
 */
export const collectPackageFiles = async (entry: string): Promise<ReadonlyArray<{ readonly file: string; readonly text: string }>> => {
  const manifest = await manifestAbove(path.dirname(path.resolve(entry)));
  if (manifest === undefined) return [];
  const dir = path.dirname(manifest.file);
  const found = [manifest];
  for (const f of [path.join(dir, "package-lock.json"), path.join(dir, "node_modules", ".package-lock.json")]) {
    const text = await fs.readFile(f, "utf8").catch(() => undefined);
    if (text !== undefined) found.push({ file: f, text });
  }
  return found;
};

/**
 * The package.json nearest each of `files`: what decides how the compiler read them
 * (a module's "type", a package's "types", "exports" and "imports").
 *
 * @category constructors
 */
export const collectManifests = async (files: ReadonlyArray<string>): Promise<ReadonlyArray<{ readonly file: string; readonly text: string }>> => {
  const found = new Map<string, string>();
  for (const dir of new Set(files.map((f) => path.dirname(f)))) {
    const m = await manifestAbove(dir);
    if (m !== undefined) found.set(m.file, m.text);
  }
  return [...found.entries()].map(([file, text]) => ({ file, text }));
};

/**
 * The digest of a source's text as the compiler reads it: a leading byte order mark is
 * not part of it.
 *
 * @category destructors
 */
export const sourceDigest = (text: string): Digest => digestOf(text.replace(/^\uFEFF/, ""));

/**
 * The check cache key: `toolVersion` (what identifies the checker, compiler options
 * included) and every local source, by path relative to `root` and content digest.
 *
 * @category destructors
 */
export const computeCheckKey = (
  sources: ReadonlyArray<{ readonly file: string; readonly text: string }>,
  root: string,
  toolVersion: string,
): Digest =>
  digestOf(
    canonicalJson({
      toolVersion,
      sources: sources.map((s) => [path.relative(root, s.file), digestOf(s.text)]),
    }),
  );
