/**
 * Which compiler checks a spec: the native one (`@typescript/native-preview`, run as a
 * child process) where its binary is installed, else ts-morph's, in this process. Chosen
 * without loading either, since the choice is part of the check's record key.
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { OWN_ENTRIES } from "./entries.ts";

/**
 * A checker. The native one is the `tsgo` binary `exe` at `version`; `ownEntries` says
 * whether "lading" and "lading/stdlib" are mapped to this lading's own sources (the
 * specs' project has no lading of its own).
 *
 * @category model
 */
export type Checker =
  | { readonly _tag: "native"; readonly exe: string; readonly version: string; readonly ownEntries: boolean }
  | { readonly _tag: "ts-morph" };

/**
 * The `tsgo` binary for this platform installed with lading, and its version; undefined
 * when there is none (another platform, or the optional package left out).
 */
const nativeBinary = (ladingRoot: string): { readonly exe: string; readonly version: string } | undefined => {
  try {
    // The platform's package is an optional dependency of the main one: resolved from there,
    // as the main package's own launcher does, wherever npm placed it.
    const main = createRequire(path.join(ladingRoot, "package.json")).resolve("@typescript/native-preview/package.json");
    const manifestPath = createRequire(main).resolve(`@typescript/native-preview-${process.platform}-${process.arch}/package.json`);
    const manifest: unknown = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    const version = typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : "unknown";
    const exe = path.join(path.dirname(manifestPath), "lib", process.platform === "win32" ? "tsgo.exe" : "tsgo");
    // One that cannot be run here (no execute bit, a noexec mount) is as good as none.
    fs.accessSync(exe, fs.constants.X_OK);
    return { exe, version };
  } catch {
    return undefined;
  }
};

/** The nearest package.json at or above `dir`, parsed; undefined when there is none or it is not JSON. */
const nearestManifest = (dir: string): unknown => {
  for (let d = dir; ; d = path.dirname(d)) {
    const at = path.join(d, "package.json");
    if (fs.existsSync(at)) {
      try {
        return JSON.parse(fs.readFileSync(at, "utf8"));
      } catch {
        return undefined;
      }
    }
    if (path.dirname(d) === d) return undefined;
  }
};

/**
 * Whether a spec's project has a lading of its own, as module resolution finds one: its
 * package is lading (a name with "exports", which resolves to itself), or a node_modules
 * at or above it holds lading.
 */
const hasOwnLading = (spec: string): boolean => {
  const dir = path.dirname(path.resolve(spec));
  const manifest = nearestManifest(dir);
  if (typeof manifest === "object" && manifest !== null && "name" in manifest && manifest.name === "lading" && "exports" in manifest) return true;
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "node_modules", "lading", "package.json"))) return true;
    if (path.dirname(d) === d) return false;
  }
};

/**
 * The checker for `specs`. LADING_CHECKER=ts-morph asks for ts-morph's. The native
 * compiler maps "lading" for all the specs or for none, so specs of which some have a
 * lading of their own and some do not are checked by ts-morph, which falls back one
 * import at a time.
 *
 * @category constructors
 */
export const chooseChecker = (specs: ReadonlyArray<string>, ladingRoot: string, env: Readonly<Record<string, string | undefined>>): Checker => {
  if (env["LADING_CHECKER"] === "ts-morph") return { _tag: "ts-morph" };
  const native = nativeBinary(ladingRoot);
  if (native === undefined) return { _tag: "ts-morph" };
  const own = new Set(specs.map(hasOwnLading));
  if (own.size > 1) return { _tag: "ts-morph" };
  return { _tag: "native", ...native, ownEntries: !own.has(true) };
};

/**
 * What names a checker in a check's record key.
 *
 * @category destructors
 */
export const checkerName = (checker: Checker): string =>
  checker._tag === "native" ? `native-preview@${checker.version}${checker.ownEntries ? "+own-entries" : ""}` : "ts-morph";

/**
 * The paths the native compiler maps "lading" and "lading/stdlib" to.
 *
 * @category destructors
 */
export const ownEntryPaths = (ladingRoot: string): Readonly<Record<string, ReadonlyArray<string>>> =>
  Object.fromEntries(Object.entries(OWN_ENTRIES).map(([k, v]) => [k, [path.join(ladingRoot, v)]]));
