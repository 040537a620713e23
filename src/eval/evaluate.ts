/**
 * eval: forces one image export into its IR, or reports every problem found, each
 * naming the export, the layer and the path. Pure: reads no file, runs no effect
 * other than the spec's own pure generators.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Diagnostic, Digest, ImagePath, Place } from "../core/index.ts";
import type { Reference } from "../core/index.ts";
import { error, hasLoneSurrogate, isDigest, normalizeImagePath, parseReference, showPath } from "../core/index.ts";
import * as Image from "../spec/Image.ts";
import type { Entry } from "../spec/Entry.ts";
import type { Below, Derived, Layer } from "../spec/Layer.ts";
import { isLayer } from "../spec/Layer.ts";
import { architectures } from "../spec/Platform.ts";
import { whiteoutComponent } from "../oci/index.ts";
import { isRun } from "../spec/Run.ts";
import type { ConfigIR, EntryIR, HealthcheckIR, ImageIR, LayerIR, PackageSetIR, RunIR } from "./IR.ts";
import type { Healthcheck } from "../spec/Config.ts";
import { debianArchitecture, evalArchive, evalPackageName, evalPackageSet } from "./packages.ts";
import { evalRun } from "./run.ts";
import { evalRuntime } from "./runtime.ts";
import { RUNTIME_LABEL } from "../spec/Runtime.ts";

/**
 * The largest uid/gid a USTAR header holds (6 octal digits).
 *
 * @category model
 */
export const MAX_ID = 0o777777;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER = /^([a-z_][a-z0-9_.-]*|[0-9]+)(:([a-z_][a-z0-9_.-]*|[0-9]+))?$/i;
/**
 * The Linux signal names runtimes accept (podman refuses others when it creates the
 * container), plus the real-time ones by offset.
 */
const SIGNALS = new Set(
  "ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ RTMIN RTMAX"
    .split(" ")
    .map((n) => `SIG${n}`),
);
const REALTIME_SIGNAL = /^SIGRTMIN\+([1-9]|1[0-5])$|^SIGRTMAX-([1-9]|1[0-4])$/;
const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;
const NANOS: Record<string, number> = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const PORT = /^([0-9]+)\/(tcp|udp|sctp)$/;
const LAYER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Problems = Diagnostic[];

const checkPath = (raw: unknown, place: Place, out: Problems, what = "path"): ImagePath | undefined => {
  if (typeof raw !== "string") {
    out.push(error(place, `${what} must be a string, got ${typeof raw}`));
    return undefined;
  }
  const r = normalizeImagePath(raw);
  if (E.isLeft(r)) {
    out.push(error({ ...place, path: showPath(raw) }, r.left));
    return undefined;
  }
  // In any component, not only the last: runtimes read /a/.wh.b/c differently, and some
  // delete b of a lower layer.
  const whiteout = whiteoutComponent(r.right);
  if (whiteout !== undefined) {
    out.push(error({ ...place, path: r.right }, `${what} has the name ${whiteout}: names starting with .wh. are OCI whiteouts, which would delete files of lower layers`));
    return undefined;
  }
  return r.right;
};

const checkId = (v: unknown, what: "uid" | "gid", place: Place, out: Problems): number => {
  if (v === undefined) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_ID) {
    out.push(error(place, `invalid ${what} ${String(v)}: must be an integer from 0 to ${MAX_ID}`));
    return 0;
  }
  return v;
};

/** A wrong mode as written: octal when it is a whole number, else as it is (1.5, "755"). */
const showMode = (v: unknown): string => (typeof v === "number" && Number.isInteger(v) ? `${v < 0 ? "-" : ""}0o${Math.abs(v).toString(8)}` : JSON.stringify(v));

const checkMode = (v: unknown, fallback: number, place: Place, out: Problems): number => {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0o7777) {
    out.push(
      error(place, `invalid mode ${showMode(v)}: must be an integer from 0 to 0o7777`, "write modes as octal numbers, e.g. 0o644"),
    );
    return fallback;
  }
  return v;
};

/** A host path as a spec gives it: a non-empty string a file name can be. */
const checkHostPath = (source: unknown, what: string, at: Place, out: Problems): string | undefined => {
  if (typeof source !== "string" || source === "") {
    out.push(error(at, `${what} needs a non-empty source path`));
    return undefined;
  }
  if (source.includes("\0") || hasLoneSurrogate(source)) {
    out.push(error(at, `host path "${showPath(source)}" holds a NUL byte or an unpaired surrogate, which no file name can`));
    return undefined;
  }
  return source;
};

/** An http or https URL, as written. */
const checkUrl = (raw: unknown, at: Place, out: Problems): string | undefined => {
  const parsed = typeof raw === "string" && URL.canParse(raw) ? new URL(raw) : undefined;
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    out.push(error(at, `invalid URL ${JSON.stringify(raw)}: lading fetches http and https URLs`));
    return undefined;
  }
  return raw as string;
};

/** A sha256 as `sha256:<hex>` or bare hex, as a digest. */
const checkSha256 = (raw: unknown, at: Place, out: Problems): Digest | undefined => {
  const d = typeof raw === "string" ? (raw.startsWith("sha256:") ? raw : `sha256:${raw}`).toLowerCase() : "";
  if (!isDigest(d)) {
    out.push(error(at, `invalid sha256 ${JSON.stringify(raw)}: must be 64 hex digits, optionally after "sha256:"`, "sha256sum FILE prints it"));
    return undefined;
  }
  return d;
};

/** An archive's overrides of its own attributes (the owner as checked): undefined where the spec gives none. */
const evalOverrides = (
  entry: { readonly mode?: number; readonly uid?: number; readonly gid?: number },
  owner: { readonly uid: number; readonly gid: number },
  at: Place,
  out: Problems,
): { readonly mode: number | undefined; readonly uid: number | undefined; readonly gid: number | undefined } => ({
  mode: entry.mode === undefined ? undefined : checkMode(entry.mode, 0o644, at, out),
  uid: entry.uid === undefined ? undefined : owner.uid,
  gid: entry.gid === undefined ? undefined : owner.gid,
});

const evalEntry = (entry: Entry, place: Place, out: Problems, arch?: string): EntryIR | undefined => {
  if (typeof entry !== "object" || entry === null) {
    out.push(error(place, `an entry must be an Entry value, got ${entry === null ? "null" : typeof entry}`));
    return undefined;
  }
  const path = checkPath(entry.path, place, out);
  if (path === undefined) return undefined;
  const at: Place = { ...place, path };
  if (path === "/" && entry._tag !== "HostCopy" && entry._tag !== "Archive" && !(entry._tag === "Fetch" && entry.extract === true)) {
    out.push(error(at, `a ${entry._tag.toLowerCase()} cannot be at /: the root of the image is always a directory`));
    return undefined;
  }
  if (entry._tag === "Remove") return { _tag: "Whiteout", path };
  const owner = { uid: checkId(entry.uid, "uid", at, out), gid: checkId(entry.gid, "gid", at, out) };
  switch (entry._tag) {
    case "File": {
      const content = entry.content;
      if (typeof content !== "string" && !(content instanceof Uint8Array)) {
        out.push(error(at, "file content must be a string or a Uint8Array"));
        return undefined;
      }
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      return { _tag: "File", path, content: bytes, mode: checkMode(entry.mode, 0o644, at, out), ...owner };
    }
    case "Directory":
      return { _tag: "Directory", path, mode: checkMode(entry.mode, 0o755, at, out), ...owner };
    case "Opaque":
      return { _tag: "Directory", path, mode: checkMode(entry.mode, 0o755, at, out), ...owner, opaque: true };
    case "Symlink":
      if (typeof entry.target !== "string" || entry.target === "" || entry.target.includes("\0") || hasLoneSurrogate(entry.target)) {
        out.push(error(at, "a symlink needs a non-empty target without NUL bytes or unpaired surrogates"));
        return undefined;
      }
      return { _tag: "Symlink", path, target: entry.target, ...owner };
    case "Hardlink": {
      const target = checkPath(entry.target, at, out, "hardlink target");
      if (target === undefined) return undefined;
      if (target === path) out.push(error(at, "a hardlink cannot point to itself"));
      return { _tag: "Hardlink", path, target, ...owner };
    }
    case "HostCopy": {
      if (checkHostPath(entry.source, "a host copy", at, out) === undefined) return undefined;
      if (!Array.isArray(entry.exclude) || entry.exclude.some((p) => typeof p !== "string")) {
        out.push(error(at, "a host copy's exclude must be an array of glob patterns", 'e.g. { exclude: ["**/*.md"] }'));
        return undefined;
      }
      const mode = entry.mode === undefined ? undefined : checkMode(entry.mode, 0o644, at, out);
      return { _tag: "HostCopy", path, source: entry.source, exclude: entry.exclude, mode, dirMode: 0o755, ...owner };
    }
    case "PackageFile": {
      const archive = evalArchive(entry.archive, arch, at, out);
      const pkg = evalPackageName(entry.package, at, out);
      const from = checkPath(entry.from, at, out, "path in the package");
      const mode = entry.mode === undefined ? undefined : checkMode(entry.mode, 0o644, at, out);
      if (archive === undefined || pkg === undefined || from === undefined) return undefined;
      return { _tag: "PackageFile", path, archive, package: pkg, from, mode, ...owner };
    }
    case "FromImage": {
      const source = checkPath(entry.source, at, out, "the path taken from the image");
      // The image files are taken from is checked here, as part of this export.
      const image = evaluate(place.file ?? "", place.exportName ?? "", entry.image);
      if (E.isLeft(image)) {
        out.push(...image.left.map((d) => ({ ...d, message: `in the image files are taken from: ${d.message}` })));
        return undefined;
      }
      if (source === undefined) return undefined;
      const mode = entry.mode === undefined ? undefined : checkMode(entry.mode, 0o644, at, out);
      return { _tag: "FromImage", path, source, image: image.right, mode, ...owner };
    }
    case "Archive": {
      const source = checkHostPath(entry.source, "an archive", at, out);
      const overrides = evalOverrides(entry, owner, at, out);
      return source === undefined ? undefined : { _tag: "Archive", path, from: { _tag: "Host", source }, ...overrides };
    }
    case "Fetch": {
      const url = checkUrl(entry.url, at, out);
      const sha256 = checkSha256(entry.sha256, at, out);
      if (url === undefined || sha256 === undefined) return undefined;
      if (entry.extract === true) return { _tag: "Archive", path, from: { _tag: "Url", url, sha256 }, ...evalOverrides(entry, owner, at, out) };
      return { _tag: "Fetch", path, url, sha256, mode: checkMode(entry.mode, 0o644, at, out), ...owner };
    }
    default: {
      const never: never = entry;
      out.push(error(at, `unknown entry kind ${JSON.stringify((never as { _tag?: unknown })._tag)}`));
      return undefined;
    }
  }
};

/** Within one layer: no two entries at a path, no entry below a file or symlink. */
const checkLayerPaths = (entries: ReadonlyArray<EntryIR>, place: Place, out: Problems): void => {
  const kinds = new Map<string, EntryIR["_tag"]>();
  for (const e of entries) {
    const prev = kinds.get(e.path);
    if (prev !== undefined && (prev === "Whiteout" || e._tag === "Whiteout")) {
      out.push(error({ ...place, path: e.path }, "a layer cannot both remove a path and make it", "to replace what is there, just make it; to replace a directory whole, use Entry.opaque"));
    } else if (prev !== undefined && !(prev === "Directory" && e._tag === "Directory")) {
      out.push(error({ ...place, path: e.path }, `two entries at one path (${prev} and ${e._tag})`));
    }
    kinds.set(e.path, e._tag);
  }
  for (const e of entries) {
    const segs = e.path.split("/");
    for (let i = 2; i < segs.length; i++) {
      const parent = segs.slice(0, i).join("/");
      const kind = kinds.get(parent);
      if (kind !== undefined && kind !== "Directory" && kind !== "HostCopy" && kind !== "FromImage" && kind !== "Archive") {
        out.push(error({ ...place, path: e.path }, `parent ${parent} is a ${kind.toLowerCase()}, not a directory`));
        break;
      }
    }
    if (e._tag === "Hardlink") {
      const target = kinds.get(e.target);
      if (target !== undefined && target !== "File" && target !== "HostCopy" && target !== "FromImage" && target !== "Archive" && target !== "Fetch") {
        out.push(error({ ...place, path: e.path }, `hardlink target ${e.target} is a ${target.toLowerCase()}, not a regular file`));
      } else if (target === undefined && !entries.some((c) => (c._tag === "HostCopy" || c._tag === "FromImage" || c._tag === "Archive") && (e.target === c.path || e.target.startsWith(`${c.path === "/" ? "" : c.path}/`)))) {
        // A target inside a host copy is known only at plan time, which checks it there.
        out.push(error({ ...place, path: e.path }, `hardlink target ${e.target} is not in this layer`));
      }
    }
  }
};

/**
 * Where in the spec file `file` (as shown) a thrown error was raised: the first frame of
 * its stack in that file. Nothing when the stack does not pass through it.
 */
const throwSite = (e: unknown, file: string | undefined): { readonly line?: number; readonly column?: number } => {
  if (file === undefined || !(e instanceof Error) || typeof e.stack !== "string") return {};
  const shown = file.replace(/^\.\//, "");
  for (const frame of e.stack.split("\n").slice(1)) {
    const m = /\(?(?:file:\/\/)?([^()\s]+):(\d+):(\d+)\)?\s*$/.exec(frame);
    if (m === null) continue;
    const where = decodeURIComponent(m[1]!);
    if (where === shown || where.endsWith(`/${shown}`)) return { line: Number(m[2]), column: Number(m[3]) };
  }
  return {};
};

/**
 * Calls a spec's function for entries (a generator, a derived layer's) and adds what it
 * gives, evaluated, to `entries`: a throw, named where the spec threw it, or a result
 * that is not an array is a diagnostic instead.
 */
const addEntriesOf = (
  call: () => ReadonlyArray<Entry>,
  says: { readonly failed: string; readonly notArray: string },
  at: Place,
  out: Problems,
  arch: string | undefined,
  entries: EntryIR[],
): void => {
  let got: ReadonlyArray<Entry>;
  try {
    got = call();
  } catch (e) {
    out.push({ ...error(at, `${says.failed}: ${e instanceof Error ? e.message : String(e)}`), ...throwSite(e, at.file) });
    return;
  }
  if (!Array.isArray(got)) {
    out.push(error(at, says.notArray));
    return;
  }
  for (const g of got) {
    const ir = evalEntry(g, at, out, arch);
    if (ir !== undefined) entries.push(ir);
  }
};

const evalLayer = (layer: Layer, place: Place, out: Problems, arch?: string): LayerIR | undefined => {
  const at: Place = { ...place, layer: layer.name };
  const entries: EntryIR[] = [];
  const packages: PackageSetIR[] = [];
  const derive: Array<Derived["derive"]> = [];
  for (const source of layer.sources) {
    if (source._tag === "Derived") {
      if (typeof source.derive === "function") derive.push(source.derive);
      else out.push(error(at, "a derived layer needs a function of the image below"));
    } else if (source._tag === "DebianPackages") {
      const set = evalPackageSet(source, arch, at, out);
      if (set !== undefined) packages.push(set);
    } else if (source._tag === "Generated") {
      addEntriesOf(() => source.generate(), { failed: "generating entries failed", notArray: "a generator must return an array of entries" }, at, out, arch, entries);
    } else {
      const ir = evalEntry(source, at, out, arch);
      if (ir !== undefined) entries.push(ir);
    }
  }
  checkLayerPaths(entries, at, out);
  return { _tag: "Layer", name: layer.name, comment: layer.comment, entries, ...(packages.length === 0 ? {} : { packages }), ...(derive.length === 0 ? {} : { derive }) };
};

/**
 * A derived layer with the entries its functions give for the image `below` it, checked
 * as a layer's own entries are, after them; the functions themselves are gone. Pure when
 * they are: plan calls it again with the files a first call asked for.
 *
 * @category destructors
 */
export const deriveEntries = (file: string, exportName: string, layer: LayerIR, below: Below, arch: string | undefined): E.Either<ReadonlyArray<Diagnostic>, LayerIR> => {
  const at: Place = { file, exportName, layer: layer.name };
  const out: Problems = [];
  const entries: EntryIR[] = [...layer.entries];
  for (const derive of layer.derive ?? []) {
    addEntriesOf(() => derive(below), { failed: "deriving entries failed", notArray: "a derived layer's function must return an array of entries" }, at, out, arch, entries);
  }
  checkLayerPaths(entries, at, out);
  if (out.length > 0) return E.left(out);
  const { derive: _, ...rest } = layer;
  return E.right({ ...rest, entries });
};

const evalHealthcheck = (h: Healthcheck, place: Place, out: Problems): HealthcheckIR | undefined => {
  const at = (message: string, hint?: string): undefined => {
    out.push(error(place, `healthcheck: ${message}`, hint));
    return undefined;
  };
  if (h._tag === "None") return { Test: ["NONE"] };
  const test: string[] = [];
  switch (h._tag) {
    case "Exec":
      if (!Array.isArray(h.argv) || h.argv.length === 0 || h.argv.some((a) => typeof a !== "string" || a.includes("\0"))) {
        return at("the command must be a non-empty array of strings without NUL bytes", 'e.g. ["/bin/check", "--quick"]');
      }
      test.push("CMD", ...h.argv);
      break;
    case "Shell":
      if (typeof h.script !== "string" || h.script.trim() === "" || h.script.includes("\0")) return at("the shell script must be a non-empty string");
      test.push("CMD-SHELL", h.script);
      break;
    default: {
      const never: never = h;
      return at(`unknown kind ${JSON.stringify((never as { _tag?: unknown })._tag)}`);
    }
  }
  const ir: { -readonly [K in keyof HealthcheckIR]: HealthcheckIR[K] } = { Test: test };
  const durations = [
    ["interval", "Interval"],
    ["timeout", "Timeout"],
    ["startPeriod", "StartPeriod"],
    ["startInterval", "StartInterval"],
  ] as const;
  for (const [field, key] of durations) {
    const v: unknown = h[field];
    if (v === undefined) continue;
    const m = typeof v === "string" ? DURATION.exec(v) : null;
    const ns = m === null ? NaN : Math.round(Number(m[1]) * NANOS[m[2]!]!);
    // Docker refuses durations under a millisecond, and 0 means "the default" there.
    if (!(ns >= 1e6)) at(`invalid ${field} ${JSON.stringify(v)}`, 'a duration of at least 1ms, such as "30s", "500ms" or "2m"');
    else ir[key] = ns;
  }
  if (h.retries !== undefined) {
    if (!Number.isInteger(h.retries) || h.retries < 1) at(`invalid retries ${JSON.stringify(h.retries)}`, "a whole number from 1");
    else ir.Retries = h.retries;
  }
  return ir;
};

const evalConfig = (image: Image.Image, place: Place, out: Problems): ConfigIR => {
  const c = image.config;
  const config: { -readonly [K in keyof ConfigIR]: ConfigIR[K] } = {};
  const env = Object.entries(c.env);
  for (const [name, value] of env) {
    if (!ENV_NAME.test(name)) out.push(error(place, `invalid environment variable name ${JSON.stringify(name)}`, "names are letters, digits and _, not starting with a digit"));
    if (typeof value !== "string" || value.includes("\0")) out.push(error(place, `environment variable ${name} must be a string without NUL bytes`));
  }
  // Sorted by name: a record has no order that means anything, so the order in which
  // withEnv calls merged it must not change the image's digest.
  if (env.length > 0) config.Env = env.map(([k, v]) => `${k}=${v}`).sort();
  const argv = (what: "entrypoint" | "cmd", v: ReadonlyArray<string> | undefined): ReadonlyArray<string> | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) {
      out.push(error(place, `${what} must be an array of strings (exec form), got ${typeof v}`, `e.g. ["/bin/sh", "-c", "echo hi"]`));
      return undefined;
    }
    if (what === "entrypoint" && v.length === 0) {
      out.push(error(place, "empty entrypoint", "leave the entrypoint unset instead, or give the program to run"));
    } else if (v.length > 0 && v[0] === "") {
      out.push(error(place, `${what} starts with an empty program name`));
    }
    if (v.some((a) => typeof a !== "string" || a.includes("\0"))) out.push(error(place, `${what} arguments must be strings without NUL bytes`));
    return v;
  };
  const entrypoint = argv("entrypoint", c.entrypoint);
  if (entrypoint !== undefined) config.Entrypoint = entrypoint;
  const cmd = argv("cmd", c.cmd);
  if (cmd !== undefined) config.Cmd = cmd;
  if (c.workingDir !== undefined) {
    const wd = checkPath(c.workingDir, place, out, "working directory");
    if (wd !== undefined) config.WorkingDir = wd;
  }
  if (c.user !== undefined) {
    if (typeof c.user !== "string") out.push(error(place, `user must be a string, got ${typeof c.user}`, 'write a uid as a string, e.g. "1000"'));
    else if (!USER.test(c.user)) out.push(error(place, `invalid user ${JSON.stringify(c.user)}`, "use a name or uid, optionally :group"));
    config.User = c.user;
  }
  if (c.exposedPorts.length > 0) {
    const ports: Record<string, Record<string, never>> = {};
    for (const p of c.exposedPorts) {
      const m = PORT.exec(p);
      const n = m === null ? NaN : Number(m[1]);
      if (m === null || !(n >= 1 && n <= 65535)) out.push(error(place, `invalid port ${JSON.stringify(p)}`, "ports are 1-65535 with a protocol, e.g. \"8080/tcp\""));
      else ports[`${n}/${m[2]}`] = {};
    }
    config.ExposedPorts = ports;
  }
  if (c.volumes.length > 0) {
    const volumes: Record<string, Record<string, never>> = {};
    for (const v of c.volumes) {
      const p = checkPath(v, place, out, "volume");
      if (p !== undefined) volumes[p] = {};
    }
    config.Volumes = volumes;
  }
  const labels = Object.entries(c.labels);
  if (labels.length > 0) {
    for (const [k, v] of labels) {
      if (k === "") out.push(error(place, "a label needs a non-empty key"));
      if (typeof v !== "string") out.push(error(place, `label ${k} must be a string`));
    }
    config.Labels = c.labels;
  }
  if (c.stopSignal !== undefined) {
    if (typeof c.stopSignal !== "string" || !(SIGNALS.has(c.stopSignal) || REALTIME_SIGNAL.test(c.stopSignal))) {
      out.push(error(place, `unknown stop signal ${JSON.stringify(c.stopSignal)}`, "use a Linux signal name such as \"SIGTERM\", \"SIGQUIT\" or \"SIGRTMIN+3\""));
    }
    config.StopSignal = c.stopSignal;
  }
  if (c.healthcheck !== undefined) {
    const h = evalHealthcheck(c.healthcheck, place, out);
    if (h !== undefined) config.Healthcheck = h;
  }
  return config;
};

/**
 * Evaluates the export `exportName` of the spec `file` (shown in diagnostics) whose
 * value is `value`.
 *
 * @category destructors
 */
export const evaluate = (file: string, exportName: string, value: unknown): E.Either<ReadonlyArray<Diagnostic>, ImageIR> => {
  const place: Place = { file, exportName };
  if (!Image.isImage(value)) {
    return E.left([error(place, "is not an Image", "export an Image value, e.g. pipe(Image.scratch, Image.withLayer(...))")]);
  }
  const out: Problems = [];
  const names = new Set<string>();
  const layers: Array<LayerIR | RunIR> = [];
  let steps = 0;
  value.layers.forEach((layer, i) => {
    if (isRun(layer)) {
      // The config a step runs with was checked where it is the image's; problems in it
      // are reported once, by the image's own config below.
      const config = evalConfig({ ...value, config: layer.config }, place, []);
      const ir = evalRun(layer, ++steps, config, place, out);
      if (ir === undefined) return;
      if (names.has(ir.name)) out.push(error({ ...place, layer: ir.name }, "two layers have this name", "layer and step names are unique within an image"));
      names.add(ir.name);
      layers.push(ir);
      return;
    }
    if (!isLayer(layer) || !Array.isArray(layer.sources)) {
      out.push(error(place, `layer #${i + 1} is not a Layer value`, "make layers with Layer.make or Layer.generated"));
      return;
    }
    if (typeof layer.name !== "string" || !LAYER_NAME.test(layer.name)) {
      out.push(error({ ...place, layer: String(layer.name) }, "invalid layer name", "names are letters, digits, '.', '_' and '-'"));
    } else if (names.has(layer.name)) {
      out.push(error({ ...place, layer: layer.name }, "two layers have this name", "layer names are unique within an image"));
    }
    names.add(layer.name);
    const ir = evalLayer(layer, place, out, debianArchitecture(value.platform));
    if (ir?.derive !== undefined && steps > 0) {
      out.push(error({ ...place, layer: ir.name }, "a derived layer cannot come after a run step: what the step makes is known only once it has run", "move the derived layer below the step, or make the change in a run step"));
    }
    if (ir !== undefined) layers.push(ir);
  });
  let base: Reference | undefined;
  if (value.base !== undefined) {
    const raw: unknown = (value.base as { reference?: unknown }).reference;
    const r = typeof raw === "string" ? parseReference(raw) : E.left(`a pulled image's reference must be a string, got ${typeof raw}`);
    if (E.isLeft(r)) out.push(error(place, `cannot pull ${r.left}`, /host/i.test(r.left) ? "name the registry, e.g. docker.io/library/debian:bookworm-slim" : undefined));
    else base = r.right;
  }
  const evaluated = evalConfig(value, place, out);
  if (evaluated.Labels?.[RUNTIME_LABEL] !== undefined) out.push(error(place, `the label ${RUNTIME_LABEL} is lading's own`, "set runtime settings with Image.withRuntime"));
  const runtime = value.runtime === undefined ? undefined : evalRuntime(value.runtime, place, out);
  const config: ConfigIR = runtime === undefined ? evaluated : { ...evaluated, Labels: { ...evaluated.Labels, [RUNTIME_LABEL]: runtime } };
  const p = value.platform;
  if (p.os !== "linux") out.push(error(place, `unsupported os ${JSON.stringify(p.os)}`));
  if (!architectures.includes(p.architecture)) out.push(error(place, `unknown architecture ${JSON.stringify(p.architecture)}`));
  for (const [k, v] of Object.entries(value.annotations)) {
    if (k === "" || typeof v !== "string") out.push(error(place, `invalid annotation ${JSON.stringify(k)}`));
  }
  if (out.length > 0) return E.left(out);
  return E.right({
    exportName,
    ...(base === undefined ? {} : { base }),
    layers,
    config,
    platform: p.variant === undefined ? { os: p.os, architecture: p.architecture } : { os: p.os, architecture: p.architecture, variant: p.variant },
    annotations: value.annotations,
  });
};
