/**
 * The spec file a command-line argument names.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DiagnosticError } from "../core/index.ts";
import { display } from "./io.ts";

/**
 * The spec file an argument names: a directory means its lading.ts, as `lading build .`.
 *
 * @category constructors
 */
export const specFileOf = (file: string): string => {
  const spec = fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() === true ? path.join(file, "lading.ts") : file;
  if (!fs.existsSync(spec)) throw new DiagnosticError([{ severity: "error", file: display(path.resolve(spec)), message: "no such spec file" }]);
  return spec;
};
