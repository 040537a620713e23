/**
 * The composition root: parses the command line, wires the host, the store and the
 * sinks, runs effects and prints. Exit codes: 0 success, 1 the spec or image has errors
 * (each printed with its place), 2 wrong usage, 70 an internal error (a bug in lading).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import type { Diagnostic, Digest } from "../core/index.ts";
import { DiagnosticError, digestOf, error, formatDiagnostic, formatReference, formatSize } from "../core/index.ts";
import type { ImageIR, PlatformIR } from "../eval/index.ts";
import { evaluate } from "../eval/index.ts";
import { Param } from "../spec/index.ts";
import type { PlanInputs, BuildPlan, PlannedBase } from "../plan/index.ts";
import type { Host } from "../plan/index.ts";
import { memoizedHost, nodeHost, planImage, planJsonChunks, resolveImagePackages } from "../plan/index.ts";
import { debianPackageHost } from "../deb/index.ts";
import { spdxDocument } from "../sbom/index.ts";
import type { BuildEvent, BuiltImage, StepRunner } from "../build/index.ts";
import { buildImage, layerFormat } from "../build/index.ts";
import type { Store } from "../store/index.ts";
import { defaultStoreDir, openStore } from "../store/index.ts";
import type { Transport } from "../sink/index.ts";
import { importImage, inspectBase, inspectImage, openImage, parseTransport, TRANSPORTS, writeImage } from "../sink/index.ts";
import { checkSpecs, collectLocalSources, computeCheckKey } from "../check/index.ts";
import { baseLayerFetcher, formatLock, lockPathFor, readLock, readPackagePins, resolveBase, resolveTag } from "../registry/index.ts";
import type { PackagePins } from "../registry/index.ts";
import { writeFileAtomic } from "../store/index.ts";
import { formatInspection, formatPlan } from "./format.ts";
import type { Side } from "./sides.ts";
import { checkoutAtRevision, parseSide } from "./sides.ts";
import type { ImageView } from "../diff/index.ts";
import { diffImages, fromImage, fromPlan, renderJson, renderMarkdown, renderText } from "../diff/index.ts";
import { loadExport, loadImages, parseTarget } from "./load.ts";
import { createStepRunner, runContainerOf, SANDBOX_VERSION, takeFromImage } from "../run/index.ts";
import { parseMemory } from "../eval/index.ts";
import { recheckSteps } from "./recheck.ts";
import { terminalStderr } from "./terminal.ts";
import type { ContextReader } from "../dockerfile/index.ts";
import { generateSpec, translateDockerfile } from "../dockerfile/index.ts";

/**
 * lading's own directory: the launcher's (bin/lading.js says which), else the nearest
 * one above this module whose package is lading.
 */
const LADING_ROOT = (() => {
  const fromLauncher: unknown = (globalThis as Record<symbol, unknown>)[Symbol.for("lading.root")];
  if (typeof fromLauncher === "string") return fromLauncher;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: unknown }).name === "lading") return dir;
    if (path.dirname(dir) === dir) throw new Error("lading's package.json was not found above its sources");
  }
})();
const VERSION = (JSON.parse(fs.readFileSync(path.join(LADING_ROOT, "package.json"), "utf8")) as { version: string }).version;

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
 * Exit codes, documented in the README.
 *
 * @category model
 */
export const EXIT = { ok: 0, errors: 1, usage: 2, internal: 70 } as const;

class UsageError extends Error {}

/** The locations lading reads images from: all but the write-only runtime bundle. */
const READABLE = TRANSPORTS.filter((t) => !t.startsWith("bundle:"));

const HELP: Record<string, string> = {
  main: `lading ${VERSION}: typed container image specs, compiled to reproducible OCI images

usage: lading <command> [options]

commands:
  check FILE...                 type check spec files and flag impure calls
  plan FILE[#EXPORT]            print the build plan of an image, building nothing
  build FILE[#EXPORT] --out T   build an image and write it to T
  inspect T                     show an image's config, layers and files, verifying every blob
  run FILE[#EXPORT]|T [-- ARGS] run an image as a container under runc, with a fresh writable layer
  diff A B                      what changes from image A to image B: specs, git revisions or built images
  lock [FILE...]                pin every pulled base image and Debian package set in lading.lock
  copy SRC DST                  copy an image between any two locations, by digest
  sbom FILE[#EXPORT]            the image's bill of lading: an SPDX 2.3 document, from its plan
  import [DOCKERFILE]           translate a Dockerfile into a lading spec, printed
  init                          write a starter lading.ts (and a tsconfig.json for editors) here

image locations (T): ${TRANSPORTS.join(", ")}

Run 'lading <command> --help' for a command's options.
exit codes: 0 success, 1 errors in the spec or image, 2 wrong usage, 70 internal error
(diff: 0 the same, 1 different, 2 trouble)`,
  check: `usage: lading check FILE... [--json]

Type checks each spec file (and the local files it imports) under lading's strict
compiler options, and flags impure calls (clock, randomness, environment, file system,
network). Prints file:line:col: message for each problem; exits 1 if there is any.

  --json        print the diagnostics as JSON (file, line, column, message, hint)`,
  sbom: `usage: lading sbom FILE[#EXPORT] [--out FILE] [--frozen] [--no-check] [--store DIR]

Writes an SPDX 2.3 JSON document of what the image holds, from its plan, before
anything is built: every Debian package (version, package URL pkg:deb/debian/NAME@VERSION
?arch=ARCH, the .deb's sha256, and the licenses its machine-readable copyright file
declares, else NOASSERTION), the base image by digest, and each host file copied in, with
its sha256. The same plan gives the same document.

  --out FILE    write it to FILE (whole or not at all) instead of stdout
  --frozen      resolve only through lading.lock, as build --frozen does
  --no-check    skip the type check
  --store DIR   the content store`,
  plan: `usage: lading plan FILE[#EXPORT] [--arg NAME=VALUE...] [--files] [--json] [--frozen] [--no-check] [--store DIR]

Evaluates one image export and prints its plan: config, and for each layer its entry
count, content size and cache key (with --files, every entry with its mode, owner, size
and content digest). Nothing is built; only host files the export copies are read (and
hashed), and a pulled base image's manifest and config are resolved (its layers are not
downloaded). FILE may be a directory: its lading.ts.

  --files       list every layer's entries
  --arg N=V     an argument of a parameterized export (repeatable); part of the plan
  --json        print the plan as JSON (every entry)
  --frozen      resolve pulled images only through lading.lock (see 'lading lock')
  --no-check    skip the type check (remembered per spec source anyway)
  --store DIR   the content store (default: $XDG_CACHE_HOME/lading or ~/.cache/lading)`,
  build: `usage: lading build FILE[#EXPORT] --out T [--out T...] [--arg NAME=VALUE...] [--check] [--json] [--frozen] [--no-check] [--store DIR]

Builds one image export reproducibly and writes it to each T:
  oci:DIR[:TAG]                 an OCI image layout (tag default "latest")
  oci-archive:FILE[:TAG]        the same, as a tar file
  docker-archive:FILE[:NAME:TAG] for 'podman load' and 'docker load' (default localhost/EXPORT:latest)
  docker://HOST/REPO[:TAG]      a registry (credentials from the docker config file;
                                plain http only for localhost, 127.0.0.1 and the hosts
                                in LADING_INSECURE_REGISTRIES, comma-separated)
  bundle:DIR                    an OCI runtime bundle (rootfs/ and config.json) for 'runc run'
FILE may be a directory: its lading.ts.
Prints the manifest digest. Layers already in the store are not rebuilt. Run steps run
in order under runc (as root), their output on stderr prefixed with the step's name; a
step whose cache key is in the store does not run again. Outputs appear
whole or not at all. SOURCE_DATE_EPOCH sets 'created' and every file's mtime (default 0).
A pulled base image is resolved through lading.lock beside the spec when it pins it; its
layers are fetched (verified, into the store) only for outputs that need their bytes, and
a registry output on the same registry mounts them instead.

  --arg N=V     an argument of a parameterized export (Image.parameterized), decoded
                against its parameters; a missing or malformed one is an error
  --json        print the digest, config and layer descriptors as JSON
  --check       run every run step again, ignoring the cache, on the same layers below
                it, and report each step whose layer differs and the files that differ
                (exit 1 if any); --out is optional then
  --frozen      for CI: resolve pulled images only through lading.lock, never by tag;
                fails if the lock file is missing or does not pin a pulled reference
  --no-check    skip the type check
  --store DIR   the content store`,
  run: `usage: lading run FILE[#EXPORT]|T [options] [-- ARGS...]

Runs an image as a container with runc, without any engine: a spec export is built first
(steps run, cached layers reused); an image location T (${READABLE.join(", ")}) is read into
the store. The image's layers are the read-only lower directories of an overlay, a fresh
upper directory takes the container's writes, and all of it is removed when the container
exits. ARGS replace the image's Cmd. The container's exit code is lading's.

  -e, --env NAME=VALUE          set an environment variable (repeatable)
  -v, --volume HOST:PATH[:ro]   bind a host directory or file (repeatable)
  --network none|host           only loopback (default), or the host's network
                                (these flags override the image's Image.withRuntime settings)
  --memory SIZE                 memory limit, bytes or e.g. 512m
  --cpus N                      CPU limit, in cores (e.g. 0.5)
  --pids N                      process limit
  -u, --user USER[:GROUP]       run as this user instead of the image's
  -i, --interactive             keep stdin open
  -t, --tty                     run in a terminal (-it for an interactive shell)
  --no-check                    skip the type check of a spec
  --store DIR                   the content store`,
  lock: `usage: lading lock [FILE...] [--no-check] [--store DIR]

Resolves every image the spec files pull (every export) to the digest its tag names now,
checks that each has an image for its export's platform, resolves every Debian package
set against its archive, and writes lading.lock beside each spec: JSON, sorted, one pin
(or package) a line. Builds use the pins; 'build --frozen' uses nothing else. Prints each pin, and what changed. FILE defaults to lading.ts. The lock
file holds the pins of the spec files named, so name every spec of a directory.

  --no-check    skip the type check
  --store DIR   the content store (manifests and configs are kept there)`,
  copy: `usage: lading copy SRC DST [--platform OS/ARCH[/VARIANT]] [--store DIR]

Copies an image from SRC (${TRANSPORTS.filter((t) => !t.startsWith("bundle:")).join(", ")})
to DST (any location, bundle:DIR included). The manifest is copied as it is, so the
copy has the source's digest (a docker archive holds none: it gets an OCI manifest).
From a multi-platform index, one platform's image is copied: its digest is not the
index's.
Every blob is checked against its digest. Between registries, only blobs the destination
lacks move, and a blob on the same registry is mounted, not downloaded.

  --platform P  the image to take from a multi-platform index (default linux/amd64)
  --store DIR   the content store`,
  diff: `usage: lading diff A B [options]
       lading diff B --base REV [options]

Shows what changes from A to B. Each side is one of:
  FILE[#EXPORT]                 a spec export, compared as its plan: nothing is built
  git:REV:FILE[#EXPORT]         the same spec export at a git revision
  ${READABLE.join(", ")}   a built image, read from its layers
Reports config, platform and annotation changes, layers added, removed, changed or
reordered (and, for specs, which layers a build would rebuild), and every file added,
removed or changed in content, type, mode, owner or link target, with the size delta.

  --base REV            compare B's spec at git revision REV with B (A is git:REV:B)
  --format F            text (default), json (schema lading.diff/v1), markdown (for a pull request)
  --stat                the summary only
  --quiet               print nothing; the exit code says it all
  --ignore GLOB         leave out in-image paths matching GLOB (repeatable)
  --color WHEN          auto (default: on a terminal, unless NO_COLOR is set), always, never
  --no-check            skip the type check of spec sides
  --store DIR           the content store
exit codes: 0 the same, 1 different, 2 trouble (a bad spec, an unreadable image, wrong usage)`,
  import: `usage: lading import [DOCKERFILE] > lading.ts

Translates a Dockerfile (default ./Dockerfile) into a lading spec and prints it: FROM to
Image.pull (or the stage it names), COPY and ADD of the build context to Entry.copy
(honouring .dockerignore; host paths are relative to the Dockerfile's directory, so
write the spec there), COPY --from to Entry.fromImage, RUN to Image.run or
Image.runShell (with its cache and secret mounts), ARGs to parameters, and every other
instruction to its combinator. A line with no lading form becomes a comment and a
warning on stderr, with its line number.`,
  init: `usage: lading init

Writes a starter spec, lading.ts, into the current directory, and a tsconfig.json (when
there is none) with the compiler options lading checks specs under, so that an editor
shows the same errors as 'lading check'. Neither file is overwritten.`,
  inspect: `usage: lading inspect T [--json] [--files]

Reads an image from T (${READABLE.join(", ")}), re-hashes every blob
against its digest and diff_id, and prints its config and layers. Exits 1 if a blob does
not verify.

  --files       list every layer's files
  --json        print everything as JSON (files included)`,
};

interface Io {
  readonly out: (s: string) => void;
  /** Writes to stdout as it is, and waits while the reader is behind: for long outputs. */
  readonly write: (s: string) => Promise<void>;
  readonly err: (s: string) => void;
  /** On a terminal, a line rewritten in place (undefined clears it); elsewhere nothing. */
  readonly status?: (s: string | undefined) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isTTY: boolean;
  readonly stdoutTTY: boolean;
}

const display = (abs: string): string => {
  const rel = path.relative(process.cwd(), abs);
  return rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel;
};

const sourceDateEpoch = (env: Io["env"]): number => {
  const raw = env["SOURCE_DATE_EPOCH"];
  if (raw === undefined || raw === "") return 0;
  // Tar headers hold mtimes up to 2^31 - 1 here (2038-01-19); past that they would wrap.
  if (!/^[0-9]{1,10}$/.test(raw) || Number(raw) > 2 ** 31 - 1) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds up to 2147483647, got "${raw}"`);
  }
  return Number(raw);
};

const storeOf = (dir: string | undefined, env: Io["env"]): Promise<Store> => openStore(path.resolve(dir ?? defaultStoreDir(env)));

const runCheck = async (files: ReadonlyArray<string>, store: Store | undefined): Promise<ReadonlyArray<Diagnostic>> => {
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

const isError = (d: Diagnostic): boolean => d.severity === "error";

/** The spec file an argument names: a directory means its lading.ts, as `lading build .`. */
const specFileOf = (file: string): string => {
  const spec = fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() === true ? path.join(file, "lading.ts") : file;
  if (!fs.existsSync(spec)) throw new DiagnosticError([{ severity: "error", file: display(path.resolve(spec)), message: "no such spec file" }]);
  return spec;
};

/** Adds the export to diagnostics that do not name one yet. */
const inExport = <A>(exportName: string, f: () => Promise<A>): Promise<A> =>
  f().catch((e: unknown) => {
    if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => ({ exportName, ...d })));
    throw e;
  });

/**
 * The base image an evaluated export pulls, resolved: through lading.lock when it pins
 * the reference; with `frozen`, only through it.
 */
const resolveImageBase = async (
  ir: ImageIR,
  specAbs: string,
  opts: { readonly frozen: boolean; readonly store: Store; readonly env: Io["env"] },
): Promise<PlannedBase | undefined> => {
  const ref = ir.base;
  if (ref === undefined) return undefined;
  const key = formatReference(ref);
  const lockFile = lockPathFor(specAbs);
  const pins = await readLock(lockFile, display(lockFile));
  const pin = pins?.get(key);
  if (opts.frozen && ref.digest === undefined && pin === undefined) {
    throw new DiagnosticError([
      pins === undefined
        ? error({ file: display(lockFile) }, "--frozen needs lading.lock, and there is none", `run 'lading lock ${display(specAbs)}' and commit the lock file`)
        : error({ file: display(lockFile), exportName: ir.exportName }, `${key} is not pinned: the lock file is stale`, `run 'lading lock ${display(specAbs)}' and commit the lock file`),
    ]);
  }
  // A registry's answer is about the spec's export: the diagnostic names both.
  return resolveBase(opts.store, ref, ir.platform, pin, { env: opts.env }).catch((e: unknown) => {
    if (!(e instanceof DiagnosticError)) throw e;
    throw new DiagnosticError(
      e.diagnostics.map((d) => ({ ...d, file: display(specAbs), exportName: ir.exportName, message: d.file?.startsWith("docker://") === true ? `${d.file}: ${d.message}` : d.message })),
    );
  });
};

/** check → load → eval → resolve the base → plan: the shared front of `plan` and `build`. */
const planTarget = async (
  arg: string,
  opts: {
    readonly noCheck: boolean;
    readonly store: Store;
    readonly env: Io["env"];
    readonly host?: Host;
    readonly frozen?: boolean;
    readonly args?: Param.Arguments;
    /** Runs the steps of the images an export takes files from. */
    readonly runStep?: StepRunner;
    readonly onBuildEvent?: (e: BuildEvent) => void;
  },
): Promise<{ readonly plan: BuildPlan; readonly inputs: PlanInputs; readonly warnings?: ReadonlyArray<Diagnostic> }> => {
  const parsed = parseTarget(arg);
  const target = { ...parsed, file: specFileOf(parsed.file) };
  const abs = path.resolve(target.file);
  const shown = display(abs);
  const created = sourceDateEpoch(opts.env);
  if (!opts.noCheck) {
    const diags = await runCheck([target.file], opts.store);
    if (diags.some(isError)) throw new DiagnosticError(diags.filter(isError));
  }
  const { exportName, value: exported } = await loadExport(target, shown);
  const args = opts.args ?? {};
  let value: unknown = exported;
  if (Param.isParameterized(exported)) {
    const applied = Param.applyArguments(exported, args);
    if (E.isLeft(applied)) throw new DiagnosticError(applied.left.map((m) => error({ file: shown, exportName }, m, "give arguments as --arg NAME=VALUE")));
    value = applied.right;
  } else if (Object.keys(args).length > 0) {
    throw new DiagnosticError([error({ file: shown, exportName }, `takes no parameters, but ${Object.keys(args).map((k) => `--arg ${k}`).join(", ")} was given`, "make the export with Image.parameterized to give it parameters")]);
  }
  const ir = evaluate(shown, exportName, value);
  if (E.isLeft(ir)) throw new DiagnosticError(ir.left);
  const lockFile = lockPathFor(abs);
  // Debian archives are read only when the export holds packages: the host is lazy.
  const packages = debianPackageHost(opts.store, { specDir: path.dirname(abs), pins: (await readPackagePins(lockFile, display(lockFile))) ?? new Map(), frozen: opts.frozen === true, lockShown: display(lockFile) });
  const cache = opts.host === undefined ? await opts.store.openHashCache() : undefined;
  const host = opts.host ?? nodeHost(cache, baseLayerFetcher(opts.store, { env: opts.env }));
  const planOf = async (image: ImageIR, top: boolean): Promise<{ readonly plan: BuildPlan; readonly inputs: PlanInputs; readonly warnings?: ReadonlyArray<Diagnostic> }> => {
    const base = await resolveImageBase(image, abs, { frozen: opts.frozen === true, store: opts.store, env: opts.env });
    const planned = await planImage(host, image, {
      file: shown,
      specDir: path.dirname(abs),
      created,
      format: layerFormat,
      sandbox: SANDBOX_VERSION,
      env: opts.env,
      packages,
      ...(base === undefined ? {} : { base }),
      ...(top && Param.isParameterized(exported) ? { arguments: Object.fromEntries(Object.entries(args).sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
      // A stage is built, as lazily as any image, before the files it gives are planned.
      takeFromImage: async (stage, source, place) => {
        const { plan, inputs } = await planOf(stage, false);
        const built = await buildImage(opts.store, plan, inputs, opts.onBuildEvent, opts.runStep === undefined ? {} : { runStep: opts.runStep });
        return takeFromImage(opts.store, built, source, place, opts.env);
      },
    });
    if (E.isLeft(planned)) throw new DiagnosticError(planned.left);
    return planned.right;
  };
  try {
    return await planOf(ir.right, true);
  } finally {
    await cache?.save();
  }
};

/** What `lading init` writes: a spec that builds as it is, to start from. */
const STARTER_SPEC = `/**
 * An image, as a lading spec: build it with \`lading build . --out docker-archive:image.tar\`.
 */
import { Entry, Image, Layer, pipe } from "lading";

const files = Layer.make("files", [
  Entry.file("/etc/motd", "Built with lading.\\n"),
  // Entry.copy("dist", "/app"), // a directory of this project, relative to this file
]);

export default pipe(
  Image.scratch, // or Image.pull("docker.io/library/debian:bookworm-slim")
  Image.withLayer(files),
  Image.withEnv({ PATH: "/usr/local/bin:/usr/bin:/bin" }),
);
`;

/** The compiler options lading checks specs under (see src/check), for editors. */
const EDITOR_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022"],
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
  },
  include: ["lading.ts"],
};

/**
 * The name of an image exported as `default`, so that projects do not all load as
 * `localhost/default`: the name in the package.json nearest the spec, else the spec's
 * directory name, as a repository name (lower case; letters, digits, '.', '_', '-').
 */
const projectName = (spec: string): string => {
  const dir = path.dirname(path.resolve(spec));
  let name = path.basename(dir);
  for (let d = dir; ; d = path.dirname(d)) {
    const manifest = path.join(d, "package.json");
    if (fs.existsSync(manifest)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: unknown };
        if (typeof pkg.name === "string" && pkg.name !== "") name = pkg.name.replace(/^@/, "");
      } catch {
        // Not JSON: the directory's name will do.
      }
      break;
    }
    if (path.dirname(d) === d) break;
  }
  const clean = name.toLowerCase().replace(/[^a-z0-9._/-]+/g, "-").replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return clean === "" ? "default" : clean;
};

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

/** The arguments of `--arg NAME=VALUE` options, by name; a malformed or repeated one is a usage error. */
const argumentsOf = (raw: unknown): Param.Arguments => {
  const out: Record<string, string> = {};
  for (const a of (raw as string[] | undefined) ?? []) {
    const i = a.indexOf("=");
    if (i <= 0) throw new UsageError(`--arg must be NAME=VALUE, not "${a}"`);
    const name = a.slice(0, i);
    if (name in out) throw new UsageError(`--arg ${name} is given twice`);
    out[name] = a.slice(i + 1);
  }
  return out;
};

/** The step runner of a command: a step's output goes to stderr, prefixed with its name. */
const stepRunnerFor = (store: Store, io: Io): StepRunner =>
  createStepRunner({
    store,
    env: io.env,
    // On a terminal the step's latest line stands in one status line (its last lines are
    // printed anyway if it fails); in logs every line is kept, prefixed.
    onLine: (step, line) => (io.isTTY && io.status !== undefined ? io.status(`${step} | ${line}`) : io.err(`${step} | ${line}`)),
    onDropped: (step, paths) => io.err(`step ${step}: left out of its layer (not a file, directory or link): ${paths.join(", ")}`),
  });

type OptionSpec = Record<string, { readonly type: "string" | "boolean"; readonly short?: string; readonly multiple?: boolean }>;

const parse = (
  command: string,
  args: ReadonlyArray<string>,
  options: OptionSpec,
): { readonly positionals: ReadonlyArray<string>; readonly values: Readonly<Record<string, string | boolean | ReadonlyArray<string | boolean> | undefined>> } => {
  try {
    return parseArgs({ args: [...args], options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${HELP[command]}`);
  }
};

const commands: Record<string, (args: ReadonlyArray<string>, io: Io) => Promise<number>> = {
  check: async (args, io) => {
    const { positionals, values } = parse("check", args, { json: { type: "boolean" } });
    if (positionals.length === 0) throw new UsageError(`no spec file given\n\n${HELP["check"]}`);
    const specs = positionals.map(specFileOf);
    const diags = await runCheck(specs, undefined);
    if (values.json === true) io.out(JSON.stringify({ diagnostics: diags }, null, 2));
    else {
      for (const d of diags) io.err(formatDiagnostic(d));
      if (!diags.some(isError)) io.out(`ok: ${positionals.length} spec file${positionals.length === 1 ? "" : "s"} checked`);
    }
    return diags.some(isError) ? EXIT.errors : EXIT.ok;
  },
  sbom: async (args, io) => {
    const { positionals, values } = parse("sbom", args, { out: { type: "string" }, frozen: { type: "boolean" }, "no-check": { type: "boolean" }, store: { type: "string" } });
    if (positionals.length !== 1) throw new UsageError(`expected one FILE[#EXPORT]\n\n${HELP["sbom"]}`);
    const store = await storeOf(values.store as string | undefined, io.env);
    const { plan, inputs } = await planTarget(positionals[0]!, { noCheck: values["no-check"] === true, store, env: io.env, frozen: values.frozen === true });
    // A package's copyright file was unpacked into the store when the plan listed it.
    const copyright = (_pkg: unknown, digest: Digest): string | undefined => {
      try {
        return inputs.packageContent === undefined ? undefined : fs.readFileSync(inputs.packageContent(digest), "utf8");
      } catch {
        return undefined;
      }
    };
    const text = `${JSON.stringify(spdxDocument(plan, copyright, `lading-${VERSION}`), null, 2)}\n`;
    if (values.out === undefined) io.out(text.trimEnd());
    else await writeFileAtomic(path.resolve(values.out as string), text);
    return EXIT.ok;
  },
  plan: async (args, io) => {
    const { positionals, values } = parse("plan", args, {
      json: { type: "boolean" },
      files: { type: "boolean" },
      arg: { type: "string", multiple: true },
      frozen: { type: "boolean" },
      "no-check": { type: "boolean" },
      store: { type: "string" },
    });
    if (positionals.length !== 1) throw new UsageError(`expected one FILE[#EXPORT]\n\n${HELP["plan"]}`);
    const specArgs = argumentsOf(values.arg);
    const store = await storeOf(values.store as string | undefined, io.env);
    const { plan, warnings = [] } = await planTarget(positionals[0]!, { noCheck: values["no-check"] === true, store, env: io.env, frozen: values.frozen === true, args: specArgs, runStep: stepRunnerFor(store, io) });
    for (const w of warnings) io.err(formatDiagnostic(w));
    if (values.json === true) {
      for (const chunk of planJsonChunks(plan)) await io.write(chunk);
      await io.write("\n");
    } else {
      const cachedSteps = new Set<string>();
      for (const l of plan.layers) if (l.run !== undefined && (await store.getLayer(l.cacheKey)) !== undefined) cachedSteps.add(l.name);
      io.out(formatPlan(plan, values.files === true, cachedSteps));
    }
    return EXIT.ok;
  },
  build: async (args, io) => {
    const { positionals, values } = parse("build", args, {
      out: { type: "string", short: "o", multiple: true },
      arg: { type: "string", multiple: true },
      json: { type: "boolean" },
      frozen: { type: "boolean" },
      "no-check": { type: "boolean" },
      check: { type: "boolean" },
      store: { type: "string" },
    });
    if (positionals.length !== 1) throw new UsageError(`expected one FILE[#EXPORT]\n\n${HELP["build"]}`);
    const outs = ((values.out as string[] | undefined) ?? []).map((o): Transport => {
      const t = parseTransport(o);
      if (E.isLeft(t)) throw new UsageError(t.left);
      return t.right;
    });
    if (outs.length === 0 && values.check !== true) throw new UsageError(`missing --out\n\n${HELP["build"]}`);
    const store = await storeOf(values.store as string | undefined, io.env);
    const specArgs = argumentsOf(values.arg);
    const progress = (e: BuildEvent): void => {
      // A step's start is shown always: its output, prefixed with its name, follows.
      if (e._tag === "StepStarted") io.err(`step ${e.layer}: ${e.run.shell ?? JSON.stringify(e.run.argv)}`);
      if (!io.isTTY) return;
      if (e._tag === "LayerStarted") io.err(`building layer ${e.layer} (${formatSize(e.contentSize)})...`);
      if (e._tag === "LayerCached") io.err(`layer ${e.layer}: cached`);
      if (e._tag === "LayerBuilt") io.err(`layer ${e.layer}: ${e.blob.digest} (${formatSize(e.blob.size)})`);
    };
    const runStep = stepRunnerFor(store, io);
    const { plan, inputs, warnings = [] } = await planTarget(positionals[0]!, { noCheck: values["no-check"] === true, store, env: io.env, frozen: values.frozen === true, args: specArgs, runStep, onBuildEvent: progress });
    for (const w of warnings) io.err(formatDiagnostic(w));
    const image = await inExport(plan.exportName, () => buildImage(store, plan, inputs, progress, { runStep }));
    if (values.check === true) {
      const checks = await inExport(plan.exportName, () => recheckSteps(store, plan, inputs, image, runStep));
      for (const c of checks) io.out(c.same ? `step ${c.step}: same layer` : `step ${c.step}: a different layer when run again\n${c.report ?? ""}`);
      if (checks.some((c) => !c.same)) return EXIT.errors;
    }
    const name = plan.exportName === "default" ? projectName(specFileOf(parseTarget(positionals[0]!).file)) : plan.exportName;
    for (const t of outs) await writeImage(store, image, t, { defaultName: name, platform: plan.platform, env: io.env });
    if (values.json === true) {
      io.out(JSON.stringify({ digest: image.manifest.digest, manifest: image.manifest.value, config: image.config.value, cached: image.cached }, null, 2));
    } else io.out(image.manifest.digest);
    return EXIT.ok;
  },
  run: async (args, io) => {
    const { positionals, values } = parse("run", args, {
      env: { type: "string", short: "e", multiple: true },
      volume: { type: "string", short: "v", multiple: true },
      network: { type: "string" },
      memory: { type: "string" },
      cpus: { type: "string" },
      pids: { type: "string" },
      user: { type: "string", short: "u" },
      interactive: { type: "boolean", short: "i" },
      tty: { type: "boolean", short: "t" },
      "no-check": { type: "boolean" },
      store: { type: "string" },
    });
    const [target, ...rest] = positionals;
    if (target === undefined) throw new UsageError(`expected FILE[#EXPORT] or an image location\n\n${HELP["run"]}`);
    const network = values.network as string | undefined;
    if (network !== undefined && network !== "none" && network !== "host") throw new UsageError(`--network must be none or host, not "${network}"`);
    const env = ((values.env as string[] | undefined) ?? []).map((e) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw new UsageError(`--env takes NAME=VALUE, not "${e}"`);
      return e;
    });
    const volumes = ((values.volume as string[] | undefined) ?? []).map((v) => {
      const m = /^([^:]+):(\/[^:]*)(:ro|:rw)?$/.exec(v);
      if (m === null) throw new UsageError(`--volume takes HOST:PATH[:ro], not "${v}"`);
      if (!fs.existsSync(m[1]!)) throw new UsageError(`--volume: no such host path ${m[1]}`);
      return { source: path.resolve(m[1]!), target: m[2]!, readOnly: m[3] === ":ro" };
    });
    const number = (flag: string, integer: boolean): number | undefined => {
      const raw = values[flag] as string | undefined;
      if (raw === undefined) return undefined;
      const n = Number(raw);
      if (!(n > 0) || (integer && !Number.isInteger(n))) throw new UsageError(`--${flag} must be a positive ${integer ? "whole " : ""}number, not "${raw}"`);
      return n;
    };
    let memory: number | undefined;
    if (values.memory !== undefined) {
      const m = parseMemory(values.memory);
      if (E.isLeft(m)) throw new UsageError(`--memory: ${m.left}`);
      memory = m.right;
    }
    const cpus = number("cpus", false);
    const pids = number("pids", true);
    const limits = { ...(memory === undefined ? {} : { memory }), ...(cpus === undefined ? {} : { cpus }), ...(pids === undefined ? {} : { pids }) };
    const store = await storeOf(values.store as string | undefined, io.env);
    const location = parseTransport(target);
    let image: BuiltImage;
    if (E.isRight(location) && /^[a-z-]+:/.test(target) && !fs.existsSync(parseTarget(target).file)) {
      if (location.right._tag === "Bundle") throw new UsageError("a runtime bundle runs with 'runc run --bundle DIR ID' itself");
      image = await importImage(store, location.right, undefined, io.env);
    } else {
      const runStep = stepRunnerFor(store, io);
      const { plan, inputs } = await planTarget(target, { noCheck: values["no-check"] === true, store, env: io.env, runStep });
      image = await inExport(plan.exportName, () => buildImage(store, plan, inputs, undefined, { runStep }));
    }
    return runContainerOf(
      store,
      image,
      { args: rest, env, volumes, ...(network === undefined ? {} : { network }), limits, ...(values.user === undefined ? {} : { user: values.user as string }), stdin: values.interactive === true || values.tty === true, terminal: values.tty === true },
      io.env,
    );
  },
  diff: async (args, io) => {
    const { positionals, values } = parse("diff", args, {
      base: { type: "string" },
      format: { type: "string" },
      stat: { type: "boolean" },
      quiet: { type: "boolean" },
      ignore: { type: "string", multiple: true },
      color: { type: "string" },
      "no-check": { type: "boolean" },
      store: { type: "string" },
    });
    const base = values.base as string | undefined;
    const sideArgs = base === undefined ? positionals : [`git:${base}:${positionals[0] ?? ""}`, ...positionals];
    if (sideArgs.length !== 2 || (base !== undefined && positionals.length !== 1)) throw new UsageError(`expected two sides, or one with --base\n\n${HELP["diff"]}`);
    const format = (values.format as string | undefined) ?? "text";
    if (!["text", "json", "markdown"].includes(format)) throw new UsageError(`--format must be text, json or markdown, not "${format}"`);
    const color = (values.color as string | undefined) ?? "auto";
    if (!["auto", "always", "never"].includes(color)) throw new UsageError(`--color must be auto, always or never, not "${color}"`);
    const sides = sideArgs.map((a) => {
      const side = parseSide(a);
      if (E.isLeft(side)) throw new UsageError(side.left);
      if (side.right._tag === "Image" && side.right.transport._tag === "Bundle") throw new UsageError("a runtime bundle cannot be read back: diff the image it came from");
      return side.right;
    });
    const store = await storeOf(values.store as string | undefined, io.env);
    const cleanups: Array<() => Promise<void>> = [];
    // Both sides share one host: a tree both copy is stat'ed and hashed once.
    const cache = await store.openHashCache();
    const host = memoizedHost(nodeHost(cache, baseLayerFetcher(store, { env: io.env })));
    try {
      // A base image's files come from its layers: fetched into the store for the diff.
      const specView = async (source: string, plan: BuildPlan): Promise<ImageView> => {
        if (plan.base === undefined) return fromPlan(source, plan);
        const inspection = await inspectBase(store, plan.base, io.env);
        if (inspection.problems.length > 0) throw new DiagnosticError(inspection.problems);
        return fromPlan(source, plan, inspection.layers);
      };
      const view = async (side: Side): Promise<ImageView> => {
        switch (side._tag) {
          case "Spec":
            return specView(side.arg, (await planTarget(side.arg, { noCheck: values["no-check"] === true, store, env: io.env, host })).plan);
          case "GitSpec": {
            const { target, dir } = await checkoutAtRevision(side.rev, side.arg);
            cleanups.push(() => fs.promises.rm(dir, { recursive: true, force: true }));
            return specView(`git:${side.rev}:${side.arg}`, (await planTarget(target, { noCheck: values["no-check"] === true, store, env: io.env, host })).plan);
          }
          case "Image": {
            const image = await openImage(side.transport, io.env);
            cleanups.push(() => image.close());
            const inspection = await inspectImage(image);
            if (inspection.problems.length > 0) throw new DiagnosticError(inspection.problems);
            return fromImage(image, inspection.layers);
          }
        }
      };
      const before = await view(sides[0]!);
      const after = await view(sides[1]!);
      const d = diffImages(before, after, { ignore: ((values.ignore as string[] | undefined) ?? []) });
      if (values.quiet !== true) {
        if (format === "json") io.out(renderJson(d));
        else if (format === "markdown") io.out(renderMarkdown(d));
        else io.out(renderText(d, { stat: values.stat === true, color: color === "always" || (color === "auto" && io.stdoutTTY && (io.env["NO_COLOR"] ?? "") === "") }));
      }
      return d.identical ? EXIT.ok : EXIT.errors;
    } finally {
      await cache.save();
      for (const c of cleanups) await c();
    }
  },
  lock: async (args, io) => {
    const { positionals, values } = parse("lock", args, { "no-check": { type: "boolean" }, store: { type: "string" } });
    const files = (positionals.length === 0 ? ["lading.ts"] : positionals).map(specFileOf);
    const store = await storeOf(values.store as string | undefined, io.env);
    if (values["no-check"] !== true) {
      const diags = await runCheck(files, store);
      if (diags.some(isError)) throw new DiagnosticError(diags.filter(isError));
    }
    // Every pulled reference, with the platforms its exports want, by lock file.
    const wanted = new Map<string, Map<string, { readonly ir: ImageIR; readonly spec: string }[]>>();
    // Debian package sets, resolved afresh, by lock file.
    const packageHosts = new Map<string, ReturnType<typeof debianPackageHost>>();
    for (const f of files) {
      const abs = path.resolve(f);
      const images = await loadImages(f, display(abs));
      const lock = lockPathFor(abs);
      const refs = wanted.get(lock) ?? new Map<string, { readonly ir: ImageIR; readonly spec: string }[]>();
      wanted.set(lock, refs);
      const packages = packageHosts.get(lock) ?? debianPackageHost(store, { specDir: path.dirname(abs) });
      packageHosts.set(lock, packages);
      for (const { exportName, value } of images) {
        const ir = evaluate(display(abs), exportName, value);
        if (E.isLeft(ir)) throw new DiagnosticError(ir.left);
        // The images it takes files from are built with it: their bases and packages too.
        for (const image of withStages(ir.right)) {
          await inExport(exportName, () => resolveImagePackages(packages, image)).catch((e: unknown) => {
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
      if (refs.size === 0 && existing === undefined && packagePins.size === 0) {
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
      const text = formatLock(pins, packagePins);
      const current = await fs.promises.readFile(lock, "utf8").catch(() => undefined);
      if (current !== text) await writeFileAtomic(lock, text);
      io.err(`${display(lock)}: ${pins.size} pin${pins.size === 1 ? "" : "s"}, ${packagePins.size} package set${packagePins.size === 1 ? "" : "s"}${current === text ? ", unchanged" : ""}`);
    }
    return EXIT.ok;
  },
  copy: async (args, io) => {
    const { positionals, values } = parse("copy", args, { platform: { type: "string" }, store: { type: "string" } });
    if (positionals.length !== 2) throw new UsageError(`expected SRC and DST\n\n${HELP["copy"]}`);
    const [from, to] = positionals.map((a) => {
      const t = parseTransport(a);
      if (E.isLeft(t)) throw new UsageError(t.left);
      return t.right;
    }) as [Transport, Transport];
    if (from._tag === "Bundle") throw new UsageError("a runtime bundle is an output only: copy the image it came from");
    let platform: PlatformIR | undefined;
    if (values.platform !== undefined) {
      const m = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(values.platform as string);
      if (m === null) throw new UsageError(`--platform must be OS/ARCH[/VARIANT], e.g. linux/arm64, not "${String(values.platform)}"`);
      platform = m[3] === undefined ? { os: m[1]!, architecture: m[2]! } : { os: m[1]!, architecture: m[2]!, variant: m[3] };
    }
    const store = await storeOf(values.store as string | undefined, io.env);
    const image = await importImage(store, from, platform, io.env);
    const c = image.config.value;
    const name = from._tag === "Registry" ? from.reference.repository.slice(from.reference.repository.lastIndexOf("/") + 1) : "image";
    await writeImage(store, image, to, {
      defaultName: name,
      platform: { os: c.os, architecture: c.architecture, ...(c.variant === undefined ? {} : { variant: c.variant }) },
      env: io.env,
    });
    io.out(image.manifest.digest);
    return EXIT.ok;
  },
  init: async (args, io) => {
    const { positionals } = parse("init", args, {});
    if (positionals.length > 0) throw new UsageError(`init takes no arguments: it writes into the current directory\n\n${HELP["init"]}`);
    const spec = path.resolve("lading.ts");
    if (fs.existsSync(spec)) throw new DiagnosticError([error({ file: display(spec) }, "already exists: not overwritten")]);
    await writeFileAtomic(spec, STARTER_SPEC);
    io.out(`wrote ${display(spec)}`);
    const tsconfig = path.resolve("tsconfig.json");
    if (!fs.existsSync(tsconfig)) {
      await writeFileAtomic(tsconfig, `${JSON.stringify(EDITOR_TSCONFIG, null, 2)}\n`);
      io.out(`wrote ${display(tsconfig)}`);
    }
    io.out("next: lading build . --out docker-archive:image.tar");
    return EXIT.ok;
  },
  import: async (args, io) => {
    const { positionals } = parse("import", args, {});
    if (positionals.length > 1) throw new UsageError(`expected at most one Dockerfile\n\n${HELP["import"]}`);
    const given = positionals[0] ?? "Dockerfile";
    const file = fs.statSync(given, { throwIfNoEntry: false })?.isDirectory() === true ? path.join(given, "Dockerfile") : given;
    const text = await fs.promises.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
      throw new DiagnosticError([error({ file: display(path.resolve(file)) }, e.code === "ENOENT" ? "no such Dockerfile" : `cannot read it: ${e.message}`)]);
    });
    const root = path.dirname(path.resolve(file));
    const inside = (rel: string): string => path.join(root, rel);
    const ignoreText = await fs.promises.readFile(path.join(root, ".dockerignore"), "utf8").catch(() => "");
    const context: ContextReader = {
      kind: (rel) => {
        const st = fs.statSync(inside(rel), { throwIfNoEntry: false });
        return st === undefined ? undefined : st.isDirectory() ? "dir" : "file";
      },
      list: (rel) => (fs.existsSync(inside(rel)) ? fs.readdirSync(inside(rel)) : []),
      ignore: ignoreText.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")),
    };
    const translation = translateDockerfile(text, context);
    if (translation.stages.length === 0) throw new DiagnosticError([error({ file: display(path.resolve(file)) }, "no FROM: nothing to translate")]);
    io.out(generateSpec(translation, path.basename(file)).trimEnd());
    for (const w of translation.warnings) io.err(`${display(path.resolve(file))}${w.line > 0 ? `:${w.line}` : ""}: warning: ${w.message}`);
    return EXIT.ok;
  },
  inspect: async (args, io) => {
    const { positionals, values } = parse("inspect", args, { json: { type: "boolean" }, files: { type: "boolean" } });
    if (positionals.length !== 1) throw new UsageError(`expected one image location\n\n${HELP["inspect"]}`);
    const t = parseTransport(positionals[0]!);
    if (E.isLeft(t)) throw new UsageError(t.left);
    const image = await openImage(t.right, io.env);
    try {
      const inspection = await inspectImage(image);
      if (values.json === true) {
        io.out(
          JSON.stringify(
            { source: image.source, digest: image.digest, manifest: image.manifest, config: image.config, layers: inspection.layers, problems: inspection.problems },
            null,
            2,
          ),
        );
      } else io.out(formatInspection(image, inspection, values.files === true));
      for (const p of inspection.problems) io.err(formatDiagnostic(p));
      return inspection.problems.length === 0 ? EXIT.ok : EXIT.errors;
    } finally {
      await image.close();
    }
  },
};

/** The process's own stdout and stderr; on a terminal, stderr keeps a status line. */
const defaultIo = (): Io => {
  const stderr = terminalStderr((s) => process.stderr.write(s), () => process.stderr.columns ?? 80);
  const isTTY = process.stderr.isTTY === true;
  return {
    out: (s) => process.stdout.write(`${s}\n`),
    write: (s) => (process.stdout.write(s) ? Promise.resolve() : new Promise((resolve) => process.stdout.once("drain", () => resolve()))),
    err: isTTY ? stderr.line : (s) => process.stderr.write(`${s}\n`),
    ...(isTTY ? { status: stderr.status } : {}),
    env: process.env,
    isTTY,
    stdoutTTY: process.stdout.isTTY === true,
  };
};

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 *
 * @category destructors
 */
export const run = async (
  argv: ReadonlyArray<string>,
  io: Io = defaultIo(),
): Promise<number> => {
  const [command, ...rest] = argv;
  if (command === "help" && rest[0] !== undefined && rest[0] !== "main" && HELP[rest[0]] !== undefined) {
    io.out(HELP[rest[0]]!);
    return EXIT.ok;
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.out(HELP["main"]!);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === "--version") {
    io.out(VERSION);
    return EXIT.ok;
  }
  const handler = commands[command];
  if (handler === undefined) {
    io.err(`lading: unknown command "${command}"\n\n${HELP["main"]}`);
    return EXIT.usage;
  }
  // What follows `--` is the container's (lading run), not lading's.
  const own = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (own.includes("--help") || own.includes("-h")) {
    io.out(HELP[command]!);
    return EXIT.ok;
  }
  try {
    const code = await handler(rest, io);
    // A step's status line is not left under the command's last output.
    io.status?.(undefined);
    return code;
  } catch (e) {
    // diff, like diff(1), keeps 1 for "different": any trouble is 2.
    if (e instanceof DiagnosticError) {
      for (const d of e.diagnostics) io.err(formatDiagnostic(d));
      return command === "diff" ? EXIT.usage : EXIT.errors;
    }
    if (e instanceof UsageError) {
      io.err(`lading ${command}: ${e.message}`);
      return EXIT.usage;
    }
    // The machine said no (a store on a read-only disk, an unreadable host file): say
    // which path and why, without a stack trace.
    const errno = e as NodeJS.ErrnoException;
    if (typeof errno.code === "string" && typeof errno.syscall === "string") {
      io.err(formatDiagnostic({ severity: "error", message: `cannot ${errno.syscall}: ${errno.message}`, ...(errno.path === undefined ? {} : { file: errno.path }) }));
      return command === "diff" ? EXIT.usage : EXIT.errors;
    }
    io.err(`lading: internal error (please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT.internal;
  }
};
