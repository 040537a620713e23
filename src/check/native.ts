/**
 * The check by the native TypeScript compiler (`tsgo`), run as a child process on a
 * generated tsconfig. While it checks, this process loads TypeScript for what the native
 * compiler does not tell: the syntax walk that finds impure calls. The two overlap.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { ts } from "ts-morph";
import type { Diagnostic } from "../core/index.ts";
import type { CheckResult } from "./check.ts";
import { ownEntryPaths } from "./checker.ts";
import { loadTypeScript } from "./compiler.ts";
import { SPEC_COMPILER_OPTIONS } from "./options.ts";

/** What the compiler printed: its exit code, and standard output and error. */
interface Printed {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const runCompiler = (exe: string, args: ReadonlyArray<string>, cwd: string): Promise<Printed> =>
  new Promise((resolve, reject) => {
    // A compiler that hangs is ended (and ts-morph checks instead): a check never waits forever.
    const child = spawn(exe, [...args], { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const printed = { code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
      // 0: no diagnostics; 1 and 2: diagnostics reported (with outputs skipped or written).
      if (signal !== null || code === null || code > 2) reject(new Error(`${exe} ${signal === null ? `exited ${code}` : `was ended by ${signal}`}: ${printed.stderr || printed.stdout}`));
      else resolve(printed);
    });
  });

/** A diagnostic as printed: `file(line,col): error TS1234: message`, or without a place. */
const HEAD = /^(?:(.+)\((\d+),(\d+)\): )?(error|warning|message|suggestion) TS(\d+): (.*)$/;

/** One diagnostic of the compiler's report, its file as printed (relative to where it ran). */
interface Reported {
  readonly file: string | undefined;
  readonly line: number;
  readonly column: number;
  readonly category: string;
  readonly code: number;
  message: string;
}

/**
 * The compiler's report: diagnostics, each followed by its chained messages indented two
 * spaces a level, then, with --listFiles, the path of every file of the program (relative
 * to `cwd`, where the compiler ran). A line of neither kind among the diagnostics is a
 * message's own line break.
 */
const parseReport = (stdout: string, cwd: string): { readonly diagnostics: ReadonlyArray<Reported>; readonly files: ReadonlyArray<string> } => {
  const diagnostics: Reported[] = [];
  const files: string[] = [];
  let last: Reported | undefined;
  for (const line of stdout.split(/\r?\n/)) {
    if (line === "") continue;
    const m = HEAD.exec(line);
    if (m !== null) {
      last = { file: m[1], line: Number(m[2] ?? 0), column: Number(m[3] ?? 0), category: m[4]!, code: Number(m[5]), message: m[6]! };
      diagnostics.push(last);
    } else if (line.startsWith(" ") && last !== undefined && files.length === 0) {
      // ts-morph's flattening indents a chained message two spaces more than the report.
      last.message += `\n  ${line}`;
    } else if (last !== undefined && files.length === 0 && !existsSync(path.resolve(cwd, line))) {
      last.message += `\n${line}`;
    } else {
      files.push(line);
      last = undefined;
    }
  }
  return { diagnostics, files };
};

/** As the compiler orders its diagnostics: by file (none first), place, code and message. */
const byPlace = (a: Reported & { readonly abs: string | undefined }, b: Reported & { readonly abs: string | undefined }): number => {
  const fa = a.abs ?? "";
  const fb = b.abs ?? "";
  if (fa !== fb) return fa < fb ? -1 : 1;
  return a.line - b.line || a.column - b.column || a.code - b.code || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
};

/**
 * Checks spec files with the native compiler `exe`; with `ownEntries`, "lading" and
 * "lading/stdlib" are this lading's sources. As ts-morph's check does: errors in the
 * user's files only, and every file read but the default libraries and lading's own.
 *
 * @category destructors
 */
export const checkNatively = async (
  files: ReadonlyArray<string>,
  exe: string,
  ownEntries: boolean,
  ladingRoot: string,
  display: (abs: string) => string,
): Promise<CheckResult> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lading-check-"));
  try {
    const tsconfig = path.join(dir, "tsconfig.json");
    const compilerOptions = { ...SPEC_COMPILER_OPTIONS, ...(ownEntries ? { paths: ownEntryPaths(ladingRoot) } : {}) };
    await fs.writeFile(tsconfig, JSON.stringify({ compilerOptions, files: files.map((f) => path.resolve(f)) }));
    // One thread: the other core loads TypeScript meanwhile.
    const printed = runCompiler(exe, ["--project", tsconfig, "--pretty", "false", "--listFiles", "--singleThreaded"], dir);
    // Its failure is thrown where it is awaited, below.
    printed.catch(() => undefined);
    // Loaded while the compiler checks: the two overlap.
    const { compiler, keep } = loadTypeScript(ladingRoot);
    const { findImpurities } = await import("./impurity.ts");
    const byTsMorph = async (): Promise<CheckResult> => (await import("./check.ts")).checkSpecs(files, ladingRoot, display);
    // A compiler that could not run, crashed (Go exits 2 on a panic, as on a report of
    // errors), or printed a report that does not hold together is never taken for a clean
    // check: ts-morph checks instead.
    const result = await printed.then(
      (p) => p,
      () => undefined,
    );
    if (result === undefined || result.stderr.trim() !== "") return byTsMorph();
    const report = parseReport(result.stdout, dir);
    const errors = report.diagnostics.some((d) => d.category === "error");
    const listed = new Set(report.files.map((f) => path.normalize(path.resolve(dir, f))));
    if ((result.code === 0) === errors || files.some((f) => !listed.has(path.normalize(path.resolve(f))))) return byTsMorph();
    const sources = new Map<string, ts.SourceFile>();
    const parsed = async (file: string, text?: string): Promise<ts.SourceFile> => {
      const known = sources.get(file);
      if (known !== undefined) return known;
      const sf = compiler.createSourceFile(file, text ?? (await fs.readFile(file, "utf8")), compiler.ScriptTarget.ES2022, true);
      sources.set(file, sf);
      return sf;
    };

    const own = [path.join(ladingRoot, "src") + path.sep, path.join(ladingRoot, "stdlib") + path.sep];
    const isOwn = (file: string): boolean => own.some((o) => file.startsWith(o));
    const isPackaged = (file: string): boolean => file.includes(`${path.sep}node_modules${path.sep}`);
    const libDir = path.dirname(exe) + path.sep;
    const isDefaultLib = (file: string): boolean => file.startsWith(libDir) && /^lib\.[^/\\]*\.d\.ts$/.test(path.basename(file));
    const users = (file: string): boolean => !isOwn(file) && !isPackaged(file) && !isDefaultLib(file);

    // A file that does not parse stops the compiler's report at the syntax errors of all
    // files, where ts-morph's check goes on to the types of the user's: that check then
    // answers, so that both report the same. So a diagnostic is either the parser's, and
    // its file does not parse, or the checker's, and no file of the program is broken:
    // one file with a diagnostic tells which, a user's (parsed below anyway) if one has.
    // Each diagnostic with its file's absolute path; none for the generated tsconfig's.
    const placed = report.diagnostics.map((d) => ({ ...d, abs: d.file === undefined || path.resolve(dir, d.file) === tsconfig ? undefined : path.resolve(dir, d.file) }));
    const reported = placed.flatMap((d) => (d.abs === undefined ? [] : [d.abs]));
    const witness = reported.find(users) ?? reported[0];
    // The parser's diagnostics, which the compiler API keeps to itself on the source file.
    if (witness !== undefined && ((await parsed(witness)) as unknown as { readonly parseDiagnostics: ReadonlyArray<unknown> }).parseDiagnostics.length > 0) return byTsMorph();

    // In the compiler's order, and without the repeats, as ts-morph's check reports them.
    const found = placed
      .filter((d) => d.category === "error" && (d.abs === undefined || users(d.abs)))
      .sort(byPlace)
      .filter((d, i, all) => i === 0 || byPlace(all[i - 1]!, d) !== 0);
    const out: Diagnostic[] = found.map((d) => ({
      severity: "error",
      message: d.message,
      ...(d.abs === undefined ? {} : { file: display(d.abs), line: d.line, column: d.column }),
    }));

    const read = await Promise.all(
      report.files
        .map((f) => path.normalize(path.resolve(dir, f)))
        .filter((f) => !isDefaultLib(f) && !isOwn(f))
        .map(async (file) => ({ file, text: await fs.readFile(file, "utf8") })),
    );
    for (const s of [...read].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
      if (isPackaged(s.file)) continue;
      const sf = await parsed(s.file, s.text);
      if (!sf.isDeclarationFile) out.push(...findImpurities(compiler, sf, display(s.file)));
    }
    keep();
    return { diagnostics: out, read };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
};
