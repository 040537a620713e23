/**
 * Loading a spec module and choosing the export to build. Importing a spec runs only
 * its pure top-level code: values are built, nothing is read.
 */
import Module, { register } from "node:module";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Diagnostic } from "../core/index.ts";
import { DiagnosticError, error } from "../core/index.ts";
import { Image, Param } from "../spec/index.ts";
import { OWN_ENTRIES } from "../check/entries.ts";
import { LADING_ROOT } from "./root.ts";

/** An export lading can build: an image, or one made from parameters. */
const isBuildable = (u: unknown): boolean => Image.isImage(u) || Param.isParameterized(u);

/**
 * A spec target: `FILE` or `FILE#EXPORT`.
 *
 * @category model
 */
export interface Target {
  readonly file: string;
  readonly exportName: string | undefined;
}

/**
 * Splits `FILE#EXPORT` at its last `#`; without one the export is left for
 * {@link loadExport} to choose.
 *
 * @category constructors
 */
export const parseTarget = (arg: string): Target => {
  const i = arg.lastIndexOf("#");
  return i < 0 ? { file: arg, exportName: undefined } : { file: arg.slice(0, i), exportName: arg.slice(i + 1) };
};

const fail = (d: Diagnostic): never => {
  throw new DiagnosticError([d]);
};

/**
 * Imports the spec and returns every exported Image, by name.
 *
 * @category destructors
 */
export const loadImages = async (file: string, display: string): Promise<ReadonlyArray<{ readonly exportName: string; readonly value: unknown }>> => {
  const mod = await importSpec(path.resolve(file), display);
  return Object.keys(mod)
    .filter((n) => Image.isImage(mod[n]))
    .sort()
    .map((exportName) => ({ exportName, value: mod[exportName] }));
};

let resolvingAnywhere = false;

/**
 * Lets a spec anywhere import "lading" and "lading/stdlib": its own project's lading
 * when it has one, else this lading's. The fallback is tried only after the project's
 * resolution fails, for ES modules (a resolve hook) and CommonJS (a spec in a package
 * without "type": "module") alike.
 */
const resolveLadingAnywhere = (): void => {
  if (resolvingAnywhere) return;
  resolvingAnywhere = true;
  const own = new Map(Object.entries(OWN_ENTRIES).map(([k, v]) => [k, path.join(LADING_ROOT, v)]));
  const urls = Object.fromEntries([...own].map(([k, v]) => [k, pathToFileURL(v).href]));
  register(
    `data:text/javascript,${encodeURIComponent(`const OWN = ${JSON.stringify(urls)};
export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); }
  catch (e) { if (Object.hasOwn(OWN, specifier)) return { url: OWN[specifier], shortCircuit: true }; throw e; }
}`)}`,
  );
  const cjs = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = cjs._resolveFilename;
  cjs._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    try {
      return resolveFilename.call(this, request, ...rest);
    } catch (e) {
      const found = own.get(request);
      if (found !== undefined) return found;
      throw e;
    }
  };
};

/** Imports a TypeScript module in the namespace of this process's specs. */
let importInNamespace: ((specifier: string, parent: string) => Promise<unknown>) | undefined;

/**
 * The loader, registered with the first spec (a command's help does without it) under
 * one namespace for every spec the process loads, as tsImport does for one: it loads the
 * spec as an ES module whatever the package around it declares. The specs of a diff then
 * share lading's own modules and the loader's thread, started and loaded once.
 */
const specImporter = async (): Promise<(specifier: string, parent: string) => Promise<unknown>> => {
  if (importInNamespace === undefined) {
    const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    const namespace = `lading-${process.pid}`;
    cjs.register({ namespace });
    importInNamespace = esm.register({ namespace }).import;
  }
  return importInNamespace;
};

const importSpec = async (abs: string, display: string): Promise<Record<string, unknown>> => {
  let mod: Record<string, unknown>;
  try {
    resolveLadingAnywhere();
    mod = (await (await specImporter())(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Node quotes the module it cannot find; the spec's own path also appears, unquoted,
    // as the importer when what is missing is a module the spec imports.
    if (code === "ERR_MODULE_NOT_FOUND" && (e as Error).message.includes(`'${abs}'`)) return fail(error({ file: display }, "no such spec file"));
    return fail(error({ file: display }, `failed to load the spec: ${(e as Error).message}`));
  }
  // A spec in a package without "type": "module" is compiled to CommonJS: its exports
  // arrive wrapped in `default`, with the spec's own default export one level down.
  const inner = mod["default"];
  if (typeof inner === "object" && inner !== null && !Image.isImage(inner) && (inner as { __esModule?: unknown }).__esModule === true) {
    mod = inner as Record<string, unknown>;
  }
  return mod;
};

/**
 * Imports the spec and returns the chosen export: the one named, else `default`, else
 * the only exported Image (or parameterized image).
 *
 * @category destructors
 */
export const loadExport = async (target: Target, display: string): Promise<{ readonly exportName: string; readonly value: unknown }> => {
  const mod = await importSpec(path.resolve(target.file), display);
  const names = Object.keys(mod)
    .filter((n) => n !== "default" || isBuildable(mod[n]))
    .sort();
  if (target.exportName !== undefined) {
    if (!(target.exportName in mod)) {
      return fail(error({ file: display, exportName: target.exportName }, "no such export", names.length > 0 ? `exports here: ${names.join(", ")}` : undefined));
    }
    return { exportName: target.exportName, value: mod[target.exportName] };
  }
  if (isBuildable(mod["default"])) return { exportName: "default", value: mod["default"] };
  const images = names.filter((n) => isBuildable(mod[n]));
  if (images.length === 1) return { exportName: images[0]!, value: mod[images[0]!] };
  return fail(
    error(
      { file: display },
      images.length === 0 ? "the spec exports no Image" : "the spec exports several images: choose one with FILE#EXPORT",
      images.length === 0 ? undefined : `images here: ${images.join(", ")}`,
    ),
  );
};
