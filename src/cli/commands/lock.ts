/**
 * `lading lock`: pins every pulled base image, Debian package set and fetched URL in lading.lock.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { Digest } from "../../core/index.ts";
import { DiagnosticError, formatReference } from "../../core/index.ts";
import { debianPackageHost } from "../../deb/index.ts";
import type { ImageIR } from "../../eval/index.ts";
import { evaluate } from "../../eval/index.ts";
import { resolveImagePackages } from "../../plan/index.ts";
import type { PackagePins } from "../../registry/index.ts";
import { addFetchedUrls, formatLock, lockPathFor, readLock, readPackagePins, resolveBase, resolveTag } from "../../registry/index.ts";
import { writeFileAtomic } from "../../store/index.ts";
import { isError, runCheck } from "../checked.ts";
import { parseFlags, SPEC_FLAGS } from "../flags.ts";
import type { Io } from "../io.ts";
import { display } from "../io.ts";
import { loadImages } from "../load.ts";
import { inExport } from "../planTarget.ts";
import { specFileOf } from "../specFile.ts";
import { storeOf } from "../store.ts";
import { EXIT } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading lock [FILE...] [--no-check] [--store DIR]

Resolves every image the spec files pull (every export) to the digest its tag names now,
checks that each has an image for its export's platform, resolves every Debian package
set against its archive, records every URL fetched (Entry.fetch) with its sha256, and
writes lading.lock beside each spec: JSON, sorted, one pin (or package, or URL) a line. Builds use the pins; 'build --frozen' uses nothing else. Prints each pin, and what changed. FILE defaults to lading.ts. The lock
file holds the pins of the spec files named, so name every spec of a directory.

  --no-check    skip the type check
  --store DIR   the content store (manifests and configs are kept there)`;

/** An export's image and every image it takes files from (`Entry.fromImage`), each once. */
const withStages = (ir: ImageIR): ReadonlyArray<ImageIR> => {
  const found: ImageIR[] = [];
  const visit = (image: ImageIR): void => {
    if (found.includes(image)) return;
    found.push(image);
    for (const l of image.layers) if (l._tag === "Layer") for (const e of l.entries) if (e._tag === "FromImage") visit(e.image);
  };
  visit(ir);
  return found;
};

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, SPEC_FLAGS);
  const files = (positionals.length === 0 ? ["lading.ts"] : positionals).map(specFileOf);
  const store = await storeOf(values.store, io.env);
  if (values["no-check"] !== true) {
    const diags = await runCheck(files, store);
    if (diags.some(isError)) throw new DiagnosticError(diags.filter(isError));
  }
  // Every pulled reference, with the platforms its exports want, by lock file.
  const wanted = new Map<string, Map<string, { readonly ir: ImageIR; readonly spec: string }[]>>();
  // Debian package sets, resolved afresh, by lock file.
  const packageHosts = new Map<string, ReturnType<typeof debianPackageHost>>();
  // The URLs specs fetch, with their sha256, by lock file.
  const fetchedByLock = new Map<string, Map<string, Digest>>();
  for (const f of files) {
    const abs = path.resolve(f);
    const images = await loadImages(f, display(abs));
    const lock = lockPathFor(abs);
    const refs = wanted.get(lock) ?? new Map<string, { readonly ir: ImageIR; readonly spec: string }[]>();
    wanted.set(lock, refs);
    const packages = packageHosts.get(lock) ?? debianPackageHost(store, { specDir: path.dirname(abs) });
    packageHosts.set(lock, packages);
    const fetched = fetchedByLock.get(lock) ?? new Map<string, Digest>();
    fetchedByLock.set(lock, fetched);
    for (const { exportName, value } of images) {
      const ir = evaluate(display(abs), exportName, value);
      if (E.isLeft(ir)) throw new DiagnosticError(ir.left);
      // The images it takes files from are built with it: their bases and packages too.
      for (const image of withStages(ir.right)) {
        await inExport(exportName, async () => {
          addFetchedUrls(fetched, image);
          await resolveImagePackages(packages, image);
        }).catch((e: unknown) => {
          if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => ({ file: display(abs), ...d })));
          throw e;
        });
        if (image.base === undefined || image.base.digest !== undefined) continue;
        const key = formatReference(image.base);
        refs.set(key, [...(refs.get(key) ?? []), { ir: image, spec: display(abs) }]);
      }
    }
  }
  for (const [lock, refs] of wanted) {
    const existing = await readLock(lock, display(lock));
    const packagePins: PackagePins = packageHosts.get(lock)?.resolved ?? new Map();
    const fetched = fetchedByLock.get(lock) ?? new Map<string, Digest>();
    if (refs.size === 0 && existing === undefined && packagePins.size === 0 && fetched.size === 0) {
      io.err(`${display(lock)}: nothing to pin (no export pulls an image by tag), not written`);
      continue;
    }
    const before = existing ?? new Map<string, Digest>();
    const pins = new Map<string, Digest>();
    for (const [key, users] of [...refs].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const ref = users[0]!.ir.base!;
      const digest = await resolveTag(store, ref, { env: io.env });
      // The pin must serve every export that pulls it, each on its platform.
      for (const { ir, spec } of users) {
        await inExport(ir.exportName, () => resolveBase(store, ref, ir.platform, digest, { env: io.env })).catch((e: unknown) => {
          if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => ({ ...d, file: spec })));
          throw e;
        });
      }
      pins.set(key, digest);
      const old = before.get(key);
      io.out(`${key} ${digest}${old === undefined ? " (new)" : old === digest ? "" : ` (was ${old})`}`);
    }
    for (const key of before.keys()) if (!pins.has(key)) io.out(`${key} removed`);
    const packagesBefore: PackagePins = (await readPackagePins(lock, display(lock))) ?? new Map();
    for (const [key, list] of packagePins) {
      const old = new Map((packagesBefore.get(key) ?? []).map((p) => [p.name, p.version]));
      const moved = list.filter((p) => old.get(p.name) !== p.version).map((p) => `${p.name} ${old.get(p.name) ?? "(new)"} -> ${p.version}`);
      io.out(`${key}: ${list.length} package${list.length === 1 ? "" : "s"}${packagesBefore.has(key) ? (moved.length === 0 ? "" : `; ${moved.join(", ")}`) : " (new)"}`);
    }
    for (const [url, sha256] of fetched) io.out(`${url} ${sha256}`);
    const text = formatLock(pins, packagePins, fetched);
    const current = await fs.promises.readFile(lock, "utf8").catch(() => undefined);
    if (current !== text) await writeFileAtomic(lock, text);
    io.err(`${display(lock)}: ${pins.size} pin${pins.size === 1 ? "" : "s"}, ${packagePins.size} package set${packagePins.size === 1 ? "" : "s"}${fetched.size === 0 ? "" : `, ${fetched.size} download${fetched.size === 1 ? "" : "s"}`}${current === text ? ", unchanged" : ""}`);
  }
  return EXIT.ok;
};
