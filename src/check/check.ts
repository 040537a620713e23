/**
 * check: type checks spec files with the strict options lading itself uses, and flags
 * impure calls. Diagnostics are `file:line:col: message`.
 */
import * as path from "node:path";
import { Project, ts } from "ts-morph";
import type { Diagnostic } from "../core/index.ts";
import { OWN_ENTRIES } from "./entries.ts";
import { collectLocalSources } from "./sources.ts";
import { findImpurities } from "./impurity.ts";

/**
 * The compiler options every spec is checked under.
 *
 * @category instances
 */
export const specCompilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2022.d.ts"],
  // Specs are pure: no Node.js globals (process, Buffer, require) to reach for.
  types: [],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  noImplicitReturns: true,
  allowImportingTsExtensions: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
};

const flatten = (m: string | ts.DiagnosticMessageChain): string => ts.flattenDiagnosticMessageText(m, "\n  ");

/**
 * Checks spec files; `ladingRoot` is lading's package directory, whose own sources are
 * not reported on. `display` turns an absolute path into the name shown to the user.
 *
 * @category destructors
 */
export const checkSpecs = async (
  files: ReadonlyArray<string>,
  ladingRoot: string,
  display: (abs: string) => string,
): Promise<ReadonlyArray<Diagnostic>> => {
  // "lading" and "lading/stdlib" resolve as the spec's project has them; where it has no
  // lading (a spec anywhere), to this lading's own sources, as the CLI loads them.
  const own = new Map(Object.entries(OWN_ENTRIES).map(([k, v]) => [k, path.join(ladingRoot, v)]));
  const project = new Project({
    compilerOptions: specCompilerOptions,
    skipAddingFilesFromTsConfig: true,
    resolutionHost: (host, options) => ({
      resolveModuleNames: (names, containingFile) =>
        names.map((name) => {
          const found = ts.resolveModuleName(name, containingFile, options(), host).resolvedModule;
          const fallback = own.get(name);
          return found ?? (fallback === undefined ? undefined : { resolvedFileName: fallback, extension: ts.Extension.Ts, isExternalLibraryImport: false });
        }),
    }),
  });
  const locals = new Set<string>();
  for (const f of files) for (const s of await collectLocalSources(f)) locals.add(s.file);
  for (const f of locals) project.addSourceFileAtPath(f);
  project.resolveSourceFileDependencies();
  const ownSources = [path.join(ladingRoot, "src") + path.sep, path.join(ladingRoot, "stdlib") + path.sep];
  const out: Diagnostic[] = [];
  for (const d of project.getPreEmitDiagnostics()) {
    if (d.getCategory() !== ts.DiagnosticCategory.Error) continue;
    const sf = d.getSourceFile();
    const file = sf?.getFilePath();
    if (file !== undefined && (ownSources.some((d) => file.startsWith(d)) || file.includes(`${path.sep}node_modules${path.sep}`))) continue;
    const start = d.getStart();
    const pos = sf !== undefined && start !== undefined ? sf.getLineAndColumnAtPos(start) : undefined;
    out.push({
      severity: "error",
      message: flatten(d.compilerObject.messageText),
      ...(file === undefined ? {} : { file: display(path.normalize(file)) }),
      ...(pos === undefined ? {} : { line: pos.line, column: pos.column }),
    });
  }
  for (const f of locals) {
    const sf = project.getSourceFile(f);
    if (sf !== undefined) out.push(...findImpurities(sf, display(f)));
  }
  return out;
};
