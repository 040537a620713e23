/**
 * Which lading this is: its directory and its version, read once. Light on purpose:
 * `lading --version` and `lading help` load this and little else.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * lading's own directory: the launcher's (bin/lading.js says which), else the nearest
 * one above this module whose package is lading.
 *
 * @category instances
 */
export const LADING_ROOT = (() => {
  const fromLauncher: unknown = (globalThis as Record<symbol, unknown>)[Symbol.for("lading.root")];
  if (typeof fromLauncher === "string") return fromLauncher;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: unknown }).name === "lading") return dir;
    if (path.dirname(dir) === dir) throw new Error("lading's package.json was not found above its sources");
  }
})();

/**
 * lading's version, from its package.json.
 *
 * @category instances
 */
export const VERSION = (JSON.parse(fs.readFileSync(path.join(LADING_ROOT, "package.json"), "utf8")) as { version: string }).version;
