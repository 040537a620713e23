/**
 * plan: an evaluated image plus the host gives the BuildPlan. Host copies are expanded
 * to files, every file gets its content digest, implied parent directories are added,
 * entries are sorted, and each layer gets its cache key.
 */
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import picomatch from "picomatch";
import type { Diagnostic, Digest, ImagePath, Place } from "../core/index.ts";
import { canonicalJson, DiagnosticError, digestOf, digestOfLines, error, sortBytewise } from "../core/index.ts";
import type { EntryIR, ImageIR, LayerIR } from "../eval/index.ts";
import { isWhiteoutName } from "../eval/index.ts";
import type { ConfigIR } from "../eval/index.ts";
import type { BuildPlan, LayerFormat, PlanInputs, PlannedBase, PlannedEntry, PlannedLayer, PlannedPackage } from "./BuildPlan.ts";
import type { Host, HostStat } from "./Host.ts";
import type { PackageHost } from "./PackageHost.ts";
import type { DpkgState } from "./packages.ts";
import { emptyDpkgState, planPackageFile, planPackageSets } from "./packages.ts";

/**
 * What plan needs besides the image and the host: where the spec is, the `created` time
 * and the layer format.
 *
 * @category model
 */
export interface PlanOptions {
  /** The spec file as shown in diagnostics. */
  readonly file: string;
  /** The directory host paths are relative to: the spec file's directory. */
  readonly specDir: string;
  /** SOURCE_DATE_EPOCH, or 0. */
  readonly created: number;
  readonly format: LayerFormat;
  /** The resolved base, when the image pulls one. */
  readonly base?: PlannedBase;
  /** Debian archives, for images that hold packages. */
  readonly packages?: PackageHost;
}

/**
 * Every problem plan found, or the plan with the inputs its build reads.
 *
 * @category model
 */
export type PlanResult = E.Either<ReadonlyArray<Diagnostic>, { readonly plan: BuildPlan; readonly inputs: PlanInputs }>;

type Mutable<A> = { -readonly [K in keyof A]: A[K] };

interface Pending {
  readonly entry: Mutable<PlannedEntry>;
  readonly abs?: string;
  readonly stat?: HostStat;
}

const HASH_CONCURRENCY = 16;

const toPosix = (p: string): string => p.split(path.sep).join("/");

/** Expands a host copy into entries; hashing is left to the caller, batched. */
const expandHostCopy = async (
  host: Host,
  e: Extract<EntryIR, { _tag: "HostCopy" }>,
  opts: PlanOptions,
  place: Place,
  out: Diagnostic[],
  pending: Pending[],
): Promise<void> => {
  const root = path.resolve(opts.specDir, e.source);
  const rootStat = await host.stat(root);
  if (rootStat === undefined) {
    out.push(error(place, `host path not found: ${e.source}`, `host paths are relative to the spec file's directory`));
    return;
  }
  if (e.path === "/" && rootStat.kind !== "dir") {
    out.push(error(place, `host path ${e.source} is not a directory, so it cannot be copied to /`));
    return;
  }
  const excluded = e.exclude.length === 0 ? () => false : picomatch([...e.exclude], { dot: true });
  const owner = { uid: e.uid, gid: e.gid };
  const visit = async (abs: string, st: HostStat, dest: ImagePath, rel: string): Promise<void> => {
    // As written when absolute (a system file), else relative to the spec: never a path
    // that depends on where the checkout lives.
    const source = path.isAbsolute(e.source) ? toPosix(abs) : toPosix(path.relative(opts.specDir, abs)) || ".";
    switch (st.kind) {
      case "file":
        pending.push({
          entry: { path: dest, type: "file", mode: e.mode ?? (st.executable ? 0o755 : 0o644), ...owner, size: st.size, source },
          abs,
          stat: st,
        });
        return;
      case "symlink":
        pending.push({ entry: { path: dest, type: "symlink", mode: 0o777, ...owner, target: await host.readlink(abs) } });
        return;
      case "dir": {
        pending.push({ entry: { path: dest, type: "dir", mode: e.dirMode, ...owner } });
        const names = sortBytewise(await host.readdir(abs), (n) => n);
        for (const name of names) {
          const childRel = rel === "" ? name : `${rel}/${name}`;
          if (excluded(childRel)) continue;
          if (isWhiteoutName(name)) {
            out.push(error({ ...place, path: `${dest}/${name}` }, `host file ${childRel} has a name starting with .wh., an OCI whiteout that would delete files of lower layers`, "exclude it, or rename it"));
            continue;
          }
          const childAbs = path.join(abs, name);
          const childStat = await host.stat(childAbs);
          if (childStat === undefined) continue;
          const childDest: ImagePath = dest === "/" ? `/${name}` : `${dest}/${name}`;
          await visit(childAbs, childStat, childDest, childRel);
        }
        return;
      }
      case "other":
        out.push(error({ ...place, path: dest }, `host path ${source} is not a file, directory or symlink`));
        return;
    }
  };
  await visit(root, rootStat, e.path, "");
};

const hashAll = async (host: Host, pending: ReadonlyArray<Pending>): Promise<void> => {
  const files = pending.filter((p) => p.abs !== undefined);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const p = files[next++]!;
      p.entry.digest = await host.hashFile(p.abs!, p.stat!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, files.length) }, worker));
};

/** The parent of a normalized path, or undefined for a top-level one. */
const parentOf = (p: ImagePath): ImagePath | undefined => {
  const i = p.lastIndexOf("/");
  return i <= 0 ? undefined : (p.slice(0, i) as ImagePath);
};

const entryKind: Record<PlannedEntry["type"], string> = { file: "file", dir: "directory", symlink: "symlink", hardlink: "hardlink" };

/** Orders entries, rejects collisions, adds implied parent directories. */
const finishLayer = (
  entries: ReadonlyArray<PlannedEntry>,
  below: ReadonlyMap<string, PlannedEntry & { readonly layer: string }>,
  onBase: boolean,
  place: Place,
  out: Diagnostic[],
): PlannedEntry[] => {
  const byPath = new Map<string, PlannedEntry>();
  for (const e of entries) {
    const prev = byPath.get(e.path);
    if (prev !== undefined) {
      if (prev.type === "dir" && e.type === "dir") {
        byPath.set(e.path, e);
        continue;
      }
      out.push(error({ ...place, path: e.path }, `two entries at one path (${entryKind[prev.type]} and ${entryKind[e.type]})`));
      continue;
    }
    byPath.set(e.path, e);
  }
  for (const e of [...byPath.values()]) {
    // Inside out, stopping at the first parent already known: its own ancestors were
    // added with it, or are checked when its own entry comes round.
    for (let parent = parentOf(e.path); parent !== undefined; parent = parentOf(parent)) {
      const p = byPath.get(parent);
      if (p === undefined) {
        // An implied parent keeps what a lower layer made of it: its owner and mode, or,
        // if it is a symlink there, an error (the layer would replace the link).
        const lower = below.get(parent);
        // On a base image, a parent no layer of the spec makes is left to the base: an
        // entry for it would replace the base's owner and mode. A runtime makes one
        // the base lacks (0755, root), as it would from this entry.
        if (lower === undefined && onBase) continue;
        if (lower !== undefined && lower.type !== "dir") {
          out.push(
            error({ ...place, path: e.path }, `parent ${parent} is a ${entryKind[lower.type]} in layer "${lower.layer}"`, lower.type === "symlink" ? `write to the path it points to (${lower.target})` : undefined),
          );
          break;
        }
        byPath.set(parent, lower === undefined ? { path: parent, type: "dir", mode: 0o755, uid: 0, gid: 0 } : { path: parent, type: "dir", mode: lower.mode, uid: lower.uid, gid: lower.gid });
        continue;
      }
      if (p.type !== "dir") out.push(error({ ...place, path: e.path }, `parent ${parent} is a ${entryKind[p.type]}, not a directory`));
      break;
    }
    if (e.type === "hardlink") {
      const t = byPath.get(e.target!);
      if (t === undefined || t.type !== "file") {
        out.push(error({ ...place, path: e.path }, `hardlink target ${e.target} is not a regular file of this layer`));
      }
    }
  }
  byPath.delete("/");
  return linkToFirstName(sortBytewise([...byPath.values()], (e) => e.path));
};

/**
 * A hard link must come after the file it links to, or no tar reader can make it. For
 * each set of names of one file, the name that sorts first carries the content and the
 * others link to it: the same file, in an order every reader follows.
 */
const linkToFirstName = (sorted: PlannedEntry[]): PlannedEntry[] => {
  const names = new Map<ImagePath, ImagePath[]>();
  for (const e of sorted) {
    if (e.type !== "hardlink") continue;
    // Hard link targets are in-image paths: eval normalized them.
    const target = e.target as ImagePath;
    names.set(target, [...(names.get(target) ?? [target]), e.path]);
  }
  if (names.size === 0) return sorted;
  const replaced = new Map<string, PlannedEntry>();
  const index = new Map(sorted.map((e, i) => [e.path, i]));
  for (const [target, group] of names) {
    const first = group.reduce((a, b) => ((index.get(a) ?? 0) <= (index.get(b) ?? 0) ? a : b));
    if (first === target) continue;
    const file = sorted[index.get(target)!]!;
    for (const name of group) {
      const own = sorted[index.get(name)!]!;
      replaced.set(name, name === first ? { ...file, path: name } : { path: name, type: "hardlink", mode: own.mode, uid: own.uid, gid: own.gid, target: first });
    }
  }
  return sorted.map((e) => replaced.get(e.path) ?? e);
};

/**
 * The cache key of a layer: the hash of its entries (without host paths, which do not
 * shape the bytes), the mtime, and the tar and compression formats.
 *
 * @category destructors
 */
export const computeLayerCacheKey = (entries: ReadonlyArray<PlannedEntry>, created: number, format: LayerFormat): Digest =>
  digestOfLines(
    (function* () {
      yield canonicalJson({ created, format });
      // One fixed-order array a line: unambiguous, and far cheaper than canonical JSON
      // of twenty thousand objects.
      for (const e of entries) yield JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.size ?? null, e.digest ?? null, e.target ?? null]);
    })(),
  );

const planLayer = async (
  host: Host,
  layer: LayerIR,
  opts: PlanOptions,
  place: Place,
  inline: Map<Digest, Uint8Array>,
  below: ReadonlyMap<string, PlannedEntry & { readonly layer: string }>,
  out: Diagnostic[],
  dpkg: { state: DpkgState },
): Promise<PlannedLayer> => {
  const at: Place = { ...place, layer: layer.name };
  const pending: Pending[] = [];
  const packages: PlannedPackage[] = [];
  /** Runs a package host call; its diagnostics get this layer's place. */
  const viaPackageHost = async <A>(where: Place, f: (host: PackageHost) => Promise<A>): Promise<A | undefined> => {
    if (opts.packages === undefined) {
      out.push(error(where, "this image holds Debian packages, and plan was given no package host"));
      return undefined;
    }
    try {
      return await f(opts.packages);
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      out.push(...e.diagnostics.map((d) => ({ ...where, ...d })));
      return undefined;
    }
  };
  if (layer.packages !== undefined) {
    const planned = await viaPackageHost(at, (host) => planPackageSets(host, layer.packages!, dpkg.state, inline));
    if (planned !== undefined) {
      for (const entry of planned.entries) pending.push({ entry: { ...entry } });
      packages.push(...planned.packages);
      dpkg.state = planned.state;
    }
  }
  for (const e of layer.entries) {
    const owner = { uid: e.uid, gid: e.gid };
    switch (e._tag) {
      case "File": {
        const digest = digestOf(e.content);
        inline.set(digest, e.content);
        pending.push({ entry: { path: e.path, type: "file", mode: e.mode, ...owner, size: e.content.byteLength, digest, source: "inline" } });
        break;
      }
      case "Directory":
        pending.push({ entry: { path: e.path, type: "dir", mode: e.mode, ...owner } });
        break;
      case "Symlink":
        pending.push({ entry: { path: e.path, type: "symlink", mode: 0o777, ...owner, target: e.target } });
        break;
      case "Hardlink":
        pending.push({ entry: { path: e.path, type: "hardlink", mode: 0o644, ...owner, target: e.target } });
        break;
      case "HostCopy":
        await expandHostCopy(host, e, opts, { ...at, path: e.path }, out, pending);
        break;
      case "PackageFile": {
        const found = await viaPackageHost({ ...at, path: e.path }, (h) => planPackageFile(h, e.archive, e.package, e.from));
        if (found === undefined) break;
        if (!packages.some((p) => p.sha256 === found.pkg.sha256)) packages.push(found.pkg);
        if (found.entry === undefined) out.push(error({ ...at, path: e.path }, `package ${found.pkg.name} ${found.pkg.version} has no file ${e.from}`));
        else pending.push({ entry: { ...found.entry, path: e.path, mode: e.mode ?? found.entry.mode, ...owner } });
        break;
      }
      default: {
        const never: never = e;
        throw new Error(`unhandled entry ${JSON.stringify(never)}`);
      }
    }
  }
  await hashAll(host, pending);
  const entries = finishLayer(
    pending.map((p) => p.entry),
    below,
    opts.base !== undefined,
    at,
    out,
  );
  const contentSize = entries.reduce((n, e) => n + (e.size ?? 0), 0);
  return {
    name: layer.name,
    ...(layer.comment === undefined ? {} : { comment: layer.comment }),
    entries,
    contentSize,
    cacheKey: computeLayerCacheKey(entries, opts.created, opts.format),
    ...(packages.length === 0 ? {} : { packages }),
  };
};

/** The OCI annotations that name the image a manifest was built on. */
const BASE_NAME = "org.opencontainers.image.base.name";
const BASE_DIGEST = "org.opencontainers.image.base.digest";

const envMap = (env: unknown): Map<string, string> => {
  const m = new Map<string, string>();
  for (const kv of Array.isArray(env) ? env : []) {
    if (typeof kv !== "string") continue;
    const i = kv.indexOf("=");
    m.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? "" : kv.slice(i + 1));
  }
  return m;
};

/**
 * The config of an image built on a base: the base's config changed by the spec's, the
 * way Dockerfile instructions change an inherited one. Env and Labels merge (the spec
 * wins), ExposedPorts and Volumes add up, other fields the spec sets replace the base's,
 * and an Entrypoint set without a Cmd drops the base's Cmd. The base's OnBuild triggers
 * are dropped, as a Dockerfile build does; other fields lading does not know (a
 * Healthcheck) are kept.
 *
 * @category combinators
 */
export const mergeConfig = (base: Readonly<Record<string, unknown>>, spec: ConfigIR): ConfigIR => {
  const out: Record<string, unknown> = { ...base };
  for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
  // The base's ONBUILD triggers were for images built on it: this is one, so they end here.
  delete out["OnBuild"];
  const env = envMap(base["Env"]);
  for (const [k, v] of envMap(spec.Env)) env.set(k, v);
  if (env.size > 0) out["Env"] = [...env].map(([k, v]) => `${k}=${v}`).sort();
  if (spec.Entrypoint !== undefined) {
    out["Entrypoint"] = spec.Entrypoint;
    if (spec.Cmd === undefined) delete out["Cmd"];
  }
  if (spec.Cmd !== undefined) out["Cmd"] = spec.Cmd;
  for (const k of ["WorkingDir", "User", "StopSignal"] as const) if (spec[k] !== undefined) out[k] = spec[k];
  for (const k of ["ExposedPorts", "Volumes", "Labels"] as const) {
    const merged = { ...(base[k] as object | undefined), ...spec[k] };
    if (Object.keys(merged).length > 0) out[k] = merged;
  }
  return out as ConfigIR;
};

/**
 * Plans an evaluated image, reading the machine only through `host`; on failure it
 * returns every problem found, not only the first.
 *
 * @category constructors
 */
export const planImage = async (host: Host, image: ImageIR, opts: PlanOptions): Promise<PlanResult> => {
  const place: Place = { file: opts.file, exportName: image.exportName };
  const out: Diagnostic[] = [];
  const inline = new Map<Digest, Uint8Array>();
  const layers: PlannedLayer[] = [];
  // What the layers planned so far make of each path, for the implied parents above them.
  const below = new Map<string, PlannedEntry & { readonly layer: string }>();
  const dpkg = { state: emptyDpkgState };
  for (const layer of image.layers) {
    const planned = await planLayer(host, layer, opts, place, inline, below, out, dpkg);
    for (const e of planned.entries) below.set(e.path, { ...e, layer: layer.name });
    layers.push(planned);
  }
  if (out.length > 0) return E.left(out);
  const base = opts.base;
  return E.right({
    plan: {
      exportName: image.exportName,
      ...(base === undefined ? {} : { base }),
      platform: image.platform,
      config: base === undefined ? image.config : mergeConfig(base.config, image.config),
      annotations: base === undefined ? image.annotations : { [BASE_NAME]: base.reference, [BASE_DIGEST]: base.digest, ...image.annotations },
      created: opts.created,
      format: opts.format,
      layers,
    },
    inputs: { specDir: opts.specDir, inline, ...(opts.packages === undefined ? {} : { packageContent: opts.packages.contentPath }) },
  });
};
