/**
 * The type check of spec files, remembered in the store by the sources it read and the
 * checker that read them, so an unchanged spec is checked once.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Diagnostic, Digest } from "../core/index.ts";
import { digestOf } from "../core/index.ts";
import { checkSpecs, collectLocalSources, computeCheckKey } from "../check/index.ts";
import type { Store } from "../store/index.ts";
import { display } from "./io.ts";
import { LADING_ROOT, VERSION } from "./root.ts";

/**
 * What a check result depends on besides the spec: lading's version and the sources of
 * its public surface and checker, so a changed lading never reuses a stale result.
 */
const checkerIdentity = (() => {
  let memo: string | undefined;
  return (): string => {
    if (memo !== undefined) return memo;
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith(".ts")) files.push(p);
      }
    };
    for (const d of ["src", "stdlib"]) walk(path.join(LADING_ROOT, d));
    memo = `${VERSION}:${digestOf(files.sort().map((f) => `${path.relative(LADING_ROOT, f)}\0${fs.readFileSync(f, "utf8")}`).join("\0"))}`;
    return memo;
  };
})();

/**
 * Whether a diagnostic is an error (rather than a warning).
 *
 * @category refinements
 */
export const isError = (d: Diagnostic): boolean => d.severity === "error";

/**
 * Checks spec files, answering from `store` when it has seen the same sources pass.
 *
 * @category destructors
 */
export const runCheck = async (files: ReadonlyArray<string>, store: Store | undefined): Promise<ReadonlyArray<Diagnostic>> => {
  const keys: Digest[] = [];
  if (store !== undefined) {
    for (const f of files) {
      const sources = await collectLocalSources(f).catch(() => undefined);
      if (sources === undefined) return checkSpecs(files, LADING_ROOT, display);
      keys.push(computeCheckKey(sources, path.dirname(path.resolve(f)), checkerIdentity()));
    }
    const hits = await Promise.all(keys.map((k) => store.hasCheck(k)));
    if (hits.every((h) => h)) return [];
  }
  const diags = await checkSpecs(files, LADING_ROOT, display);
  if (!diags.some(isError) && store !== undefined) for (const k of keys) await store.putCheck(k);
  return diags;
};
