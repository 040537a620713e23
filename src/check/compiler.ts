/**
 * The TypeScript that ts-morph carries, loaded on its own for the native check's syntax
 * walk, with V8's code cache: compiling its 9 MB again on every check is a good part of
 * loading it. The cache sits beside the compiled CLI's, one file a version of the
 * compiler and of Node.js; a cache V8 refuses, or none that can be written, only means
 * compiling as usual.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import Module, { createRequire } from "node:module";
import * as path from "node:path";
import * as vm from "node:vm";
import type { ts } from "ts-morph";

/**
 * The loaded compiler, and `keep`, which records the code V8 compiled for it by then (the
 * parser's and the walk's functions included) when the cache lacked it.
 *
 * @category model
 */
export interface LoadedCompiler {
  readonly compiler: typeof ts;
  readonly keep: () => void;
}

/** Node's module internals this uses to load a CommonJS module as `require` would. */
type ModuleInternals = typeof Module & {
  readonly wrap: (source: string) => string;
  readonly _nodeModulePaths: (dir: string) => ReadonlyArray<string>;
  readonly _cache: Record<string, unknown>;
};

/**
 * Loads the compiler ts-morph carries, without ts-morph's own modules (a fifth of what
 * loading ts-morph costs), into the module cache where ts-morph finds it: one compiler
 * in the process, whichever loads first. Resolved at run time, so that the compiled CLI
 * does not bundle it.
 *
 * @category constructors
 */
export const loadTypeScript = (ladingRoot: string): LoadedCompiler => {
  const tsMorph = createRequire(path.join(ladingRoot, "package.json")).resolve("ts-morph");
  const file = createRequire(tsMorph).resolve("@ts-morph/common/dist/typescript.js");
  const internals = Module as ModuleInternals;
  const loaded = internals._cache[file] as { readonly exports: typeof ts } | undefined;
  if (loaded !== undefined) return { compiler: loaded.exports, keep: () => undefined };

  const st = fs.statSync(file);
  const key = createHash("sha256").update(`${file}\0${st.size}\0${st.mtimeMs}\0${process.version}\0${process.arch}`).digest("hex").slice(0, 16);
  const cacheDir = path.join(ladingRoot, "node_modules", ".cache", "lading-typescript");
  const cacheFile = path.join(cacheDir, `${key}.bin`);
  // The file is the sha256 of the code, then the code: V8 checks what code it is given
  // against the source and its own version, not every byte of it, so a damaged file is
  // told here and not given to it.
  const cached = ((): Buffer | undefined => {
    try {
      const bytes = fs.readFileSync(cacheFile);
      const data = bytes.subarray(32);
      return bytes.length > 32 && createHash("sha256").update(data).digest().equals(bytes.subarray(0, 32)) ? data : undefined;
    } catch {
      return undefined;
    }
  })();
  const script = new vm.Script(internals.wrap(fs.readFileSync(file, "utf8")), { filename: file, ...(cached === undefined ? {} : { cachedData: cached }) });
  const mod = new Module(file);
  mod.filename = file;
  mod.paths = [...internals._nodeModulePaths(path.dirname(file))];
  internals._cache[file] = mod;
  try {
    (script.runInThisContext() as (...args: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  } catch (e) {
    delete internals._cache[file];
    throw e;
  }
  mod.loaded = true;
  const keep = (): void => {
    if (cached !== undefined && script.cachedDataRejected !== true) return;
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      // Made whole beside its place and renamed into it: a reader never sees half a cache.
      const tmp = `${cacheFile}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
      const data = script.createCachedData();
      try {
        fs.writeFileSync(tmp, Buffer.concat([createHash("sha256").update(data).digest(), data]));
        fs.renameSync(tmp, cacheFile);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        throw e;
      }
    } catch {
      // A read-only install: compiled each time, as without the cache.
    }
  };
  return { compiler: mod.exports as typeof ts, keep };
};
