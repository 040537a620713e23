/**
 * The type check of spec files, its result recorded in the store by what decides it:
 * the sources checked, the package files around them and the checker, with every file
 * the compiler read (declarations and dependencies' types included) and its digest. An
 * unchanged spec is answered from the record, errors and warnings alike, without
 * loading the compiler, once each of those files is found unchanged.
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { Diagnostic, Digest } from "../core/index.ts";
import { digestOf, forEachLimit } from "../core/index.ts";
import type { Checker } from "../check/index.ts";
import { checkerName, checkSpecs, chooseChecker, collectLocalSources, collectManifests, collectPackageFiles, computeCheckKey, sourceDigest } from "../check/index.ts";
import type { CheckRecord, Store } from "../store/index.ts";
import { display } from "./io.ts";
import { LADING_ROOT, packageAbove, VERSION } from "./root.ts";

/** The version of the installed package `name`, as `from` resolves it, and its entry file. */
const installedVersion = (name: string, from: string): { readonly version: string; readonly entry: string } => {
  const entry = createRequire(from).resolve(name);
  return { version: String(packageAbove(entry, name)?.manifest["version"] ?? "unknown"), entry };
};

/**
 * What a check result depends on besides the spec: lading's version, the sources of its
 * public surface and checker (the compiler options are among them), and the versions of
 * ts-morph and of the TypeScript it carries (the whole check, or the native check's
 * syntax walk), so a changed checker never reuses a stale result. `checkerName` adds
 * which compiler checked.
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
    const tsMorph = installedVersion("ts-morph", path.join(LADING_ROOT, "package.json"));
    const compiler = installedVersion("@ts-morph/common", tsMorph.entry);
    const sources = digestOf(files.sort().map((f) => `${path.relative(LADING_ROOT, f)}\0${fs.readFileSync(f, "utf8")}`).join("\0"));
    memo = `${VERSION}:ts-morph@${tsMorph.version}:@ts-morph/common@${compiler.version}:${sources}`;
    return memo;
  };
})();

/**
 * Whether a diagnostic is an error (rather than a warning).
 *
 * @category refinements
 */
export const isError = (d: Diagnostic): boolean => d.severity === "error";

type Source = { readonly file: string; readonly text: string };

/**
 * The record key of checking `specs` together: every local source they reach and the
 * package files around them, by path relative to the first spec's directory (so a
 * project checked in another place keeps its records), and the checker. It finds the
 * record; the files the record names decide whether it still holds.
 */
const checkKeyOf = async (specs: ReadonlyArray<string>, root: string, checker: Checker): Promise<{ readonly key: Digest; readonly sources: ReadonlyArray<Source> }> => {
  const seen = new Set<string>();
  const sources: Source[] = [];
  for (const spec of specs) {
    for (const s of [...(await collectLocalSources(spec)), ...(await collectPackageFiles(spec))]) {
      if (seen.has(s.file)) continue;
      seen.add(s.file);
      sources.push(s);
    }
  }
  return { key: computeCheckKey(sources, root, `${checkerIdentity()}:checker=${checkerName(checker)}`), sources };
};

/**
 * Whether every file a record names is still there with the digest it was checked at:
 * a few read at once, and none after the first that differs.
 */
const stillHolds = (record: CheckRecord, root: string): Promise<boolean> =>
  forEachLimit(record.files, 16, async ([rel, digest]) => {
    if (sourceDigest(await fs.promises.readFile(path.resolve(root, rel), "utf8")) !== digest) throw new Error(`${rel} changed`);
  }).then(
    () => true,
    () => false,
  );

/**
 * The files a check read, with their digests, unless one of them is not what the key
 * was computed from: a file edited while it was checked leaves the result unrecorded.
 */
const readFilesOf = async (keyed: ReadonlyArray<Source>, read: ReadonlyArray<Source>, root: string): Promise<CheckRecord["files"] | undefined> => {
  const files = new Map<string, Digest>(read.map((s) => [s.file, sourceDigest(s.text)]));
  for (const m of await collectManifests(read.map((s) => s.file))) if (!files.has(m.file)) files.set(m.file, sourceDigest(m.text));
  for (const k of keyed) {
    const digest = files.get(k.file);
    if (digest !== undefined && digest !== sourceDigest(k.text)) return undefined;
  }
  return [...files.entries()].map(([file, digest]) => [path.relative(root, file), digest] as const);
};

/** A diagnostic with its file, if it names one, mapped by `f`. */
const withFile = (d: Diagnostic, f: (file: string) => string): Diagnostic => (d.file === undefined ? d : { ...d, file: f(d.file) });

/**
 * Checks spec files. With a store, the result is recorded there, and a check of
 * sources it has a record of is answered from it while every file the record names is
 * unchanged.
 *
 * @category destructors
 */
export const runCheck = async (files: ReadonlyArray<string>, store: Store | undefined): Promise<ReadonlyArray<Diagnostic>> => {
  const root = path.dirname(path.resolve(files[0] ?? "."));
  const checker = chooseChecker(files, LADING_ROOT, process.env);
  // A source that cannot be read is the checker's to report: the result is not recorded.
  const keyed = store === undefined ? undefined : await checkKeyOf(files.map((f) => path.resolve(f)), root, checker).catch(() => undefined);
  if (store !== undefined && keyed !== undefined) {
    const recorded = await store.getCheck(keyed.key);
    if (recorded !== undefined && (await stillHolds(recorded, root))) {
      return recorded.diagnostics.map((d) => withFile(d, (rel) => display(path.resolve(root, rel))));
    }
  }
  // Checked with absolute paths: the record holds them relative to the specs, the user
  // is shown them relative to the working directory.
  const found = await checkSpecs(files, LADING_ROOT, (abs) => abs, checker);
  const read = keyed === undefined ? undefined : await readFilesOf(keyed.sources, found.read, root);
  // A record that cannot be written (a full or read-only disk) only means checking again.
  if (store !== undefined && keyed !== undefined && read !== undefined) {
    const diagnostics = found.diagnostics.map((d) => withFile(d, (abs) => path.relative(root, abs)));
    await store.putCheck(keyed.key, { diagnostics, files: read }).catch(() => undefined);
  }
  return found.diagnostics.map((d) => withFile(d, display));
};
