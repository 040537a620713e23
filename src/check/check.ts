/**
 * check: type checks spec files with the strict options lading itself uses, and flags
 * impure calls. Diagnostics are `file:line:col: message`.
 */
import * as path from "node:path";
import { Project, ts } from "ts-morph";
import type { Diagnostic } from "../core/index.ts";
import { OWN_ENTRIES } from "./entries.ts";
import { findImpurities } from "./impurity.ts";
import { SPEC_COMPILER_OPTIONS } from "./options.ts";

/**
 * The compiler options every spec is checked under.
 *
 * @category instances
 */
export const specCompilerOptions: ts.CompilerOptions = ts.convertCompilerOptionsFromJson(SPEC_COMPILER_OPTIONS, "/").options;

const flatten = (m: string | ts.DiagnosticMessageChain): string => ts.flattenDiagnosticMessageText(m, "\n  ");

/**
 * What a check found, and every file the compiler read for it but lading's own sources
 * and the compiler's bundled libraries (the checker's identity covers those), each with
 * the text it was read as: the user's modules and declarations, and their dependencies'.
 *
 * @category model
 */
export interface CheckResult {
  readonly diagnostics: ReadonlyArray<Diagnostic>;
  readonly read: ReadonlyArray<{ readonly file: string; readonly text: string }>;
}

/**
 * Checks spec files; `ladingRoot` is lading's package directory, whose own sources are
 * not reported on. `display` turns an absolute path into the name shown to the user.
 * Only the specs are given to the compiler: it reaches the rest as a user's editor would.
 *
 * @category destructors
 */
export const checkSpecs = async (
  files: ReadonlyArray<string>,
  ladingRoot: string,
  display: (abs: string) => string,
): Promise<CheckResult> => {
  // "lading" and "lading/stdlib" resolve as the spec's project has them; where it has no
  // lading (a spec anywhere), to this lading's own sources, as the CLI loads them.
  const ownEntries = new Map(Object.entries(OWN_ENTRIES).map(([k, v]) => [k, path.join(ladingRoot, v)]));
  const project = new Project({
    compilerOptions: specCompilerOptions,
    skipAddingFilesFromTsConfig: true,
    resolutionHost: (host, options) => ({
      resolveModuleNames: (names, containingFile, _reused, redirected, _options, containingSourceFile) =>
        names.map((name, i) => {
          // An import and a require of one name resolve differently under NodeNext: each as it is written.
          const mode = containingSourceFile === undefined ? undefined : ts.getModeForResolutionAtIndex(containingSourceFile, i, options());
          const found = ts.resolveModuleName(name, containingFile, options(), host, undefined, redirected, mode).resolvedModule;
          const fallback = ownEntries.get(name);
          return found ?? (fallback === undefined ? undefined : { resolvedFileName: fallback, extension: ts.Extension.Ts, isExternalLibraryImport: false });
        }),
    }),
  });
  for (const f of files) project.addSourceFileAtPath(path.resolve(f));
  project.resolveSourceFileDependencies();
  const program = project.getProgram().compilerObject;
  const own = [path.join(ladingRoot, "src") + path.sep, path.join(ladingRoot, "stdlib") + path.sep];
  const isOwn = (file: string): boolean => own.some((o) => file.startsWith(o));
  const isPackaged = (file: string): boolean => file.includes(`${path.sep}node_modules${path.sep}`);
  // The program's files, not the project's: ts-morph leaves those under node_modules out of the latter.
  const read = program.getSourceFiles().filter((sf) => !program.isSourceFileDefaultLibrary(sf) && !isOwn(path.normalize(sf.fileName)));
  // Only the user's files are checked: lading's own sources and packaged declarations are
  // read for their types, never checked (their bodies are most of the work, and no
  // diagnostic of theirs is shown).
  const users = program.getSourceFiles().filter((sf) => !isOwn(path.normalize(sf.fileName)) && !isPackaged(sf.fileName) && !program.isSourceFileDefaultLibrary(sf));
  // In the order, and without the repeats, that the compiler's own report has.
  const found = ts.sortAndDeduplicateDiagnostics([
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...users.flatMap((sf) => [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]),
  ]);
  const out: Diagnostic[] = [];
  for (const d of found) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const sf = d.file;
    const pos = sf !== undefined && d.start !== undefined ? sf.getLineAndCharacterOfPosition(d.start) : undefined;
    out.push({
      severity: "error",
      message: flatten(d.messageText),
      ...(sf === undefined ? {} : { file: display(path.normalize(sf.fileName)) }),
      ...(pos === undefined ? {} : { line: pos.line + 1, column: pos.character + 1 }),
    });
  }
  // By path, as the native check has them.
  const sources = project.getSourceFiles().map((sf) => ({ sf, file: path.normalize(sf.getFilePath()) }));
  for (const { sf, file } of sources.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
    if (!isOwn(file) && !isPackaged(file) && !sf.isDeclarationFile()) out.push(...findImpurities(ts, sf.compilerNode, display(file)));
  }
  return { diagnostics: out, read: read.map((sf) => ({ file: path.normalize(sf.fileName), text: sf.text })) };
};
