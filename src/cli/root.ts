/**
 * Which lading this is: its directory and its version, read once. Light on purpose:
 * `lading --version` and `lading help` load this and little else.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The directory of the package `name` that holds `file`: the nearest one above it whose
 * package.json names it, with that package.json; undefined when there is none.
 *
 * @category destructors
 */
export const packageAbove = (file: string, name: string): { readonly dir: string; readonly manifest: Readonly<Record<string, unknown>> } | undefined => {
  for (let dir = path.dirname(file); path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const at = path.join(dir, "package.json");
    if (!fs.existsSync(at)) continue;
    const manifest: unknown = JSON.parse(fs.readFileSync(at, "utf8"));
    if (typeof manifest === "object" && manifest !== null && !Array.isArray(manifest) && "name" in manifest && manifest.name === name) {
      return { dir, manifest: Object.fromEntries(Object.entries(manifest)) };
    }
  }
  return undefined;
};

/**
 * lading's own directory: the launcher's (bin/lading.js says which), else the nearest
 * one above this module whose package is lading.
 *
 * @category instances
 */
export const LADING_ROOT = (() => {
  const fromLauncher: unknown = (globalThis as Record<symbol, unknown>)[Symbol.for("lading.root")];
  if (typeof fromLauncher === "string") return fromLauncher;
  const found = packageAbove(fileURLToPath(import.meta.url), "lading");
  if (found === undefined) throw new Error("lading's package.json was not found above its sources");
  return found.dir;
})();

/**
 * lading's version, from its package.json.
 *
 * @category instances
 */
export const VERSION = (JSON.parse(fs.readFileSync(path.join(LADING_ROOT, "package.json"), "utf8")) as { version: string }).version;
