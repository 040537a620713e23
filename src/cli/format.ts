/**
 * Text renderings of plans, builds and inspections for the terminal.
 */
import { formatMode, formatPlatform, formatSize } from "../core/index.ts";
import type { BuildPlan } from "../plan/index.ts";
import type { Image } from "../oci/index.ts";
import type { Inspection } from "../sink/index.ts";

interface EntryView {
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly path: string;
  readonly size?: number | undefined;
  readonly target?: string | undefined;
}

const entryLine = (e: EntryView): string => {
  const kind = e.type.padEnd(8);
  const size = e.type === "file" ? formatSize(e.size ?? 0).padStart(8) : "".padStart(8);
  const link = e.type === "symlink" ? ` -> ${e.target}` : e.type === "hardlink" ? ` => ${e.target}` : "";
  return `  ${kind} ${formatMode(e.mode)} ${`${e.uid}:${e.gid}`.padEnd(11)} ${size}  ${e.path}${link}`;
};

const configLines = (config: object): string[] =>
  Object.entries(config)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);

/** How many entries of each type a layer has: `3 files, 2 dirs, 1 symlink`. */
const countTypes = (entries: Iterable<{ readonly type: string }>): string => {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([t, n]) => `${n} ${t}${n === 1 ? "" : "s"}`)
    .join(", ");
};

/**
 * The plan as `lading plan` prints it: the image line, config, annotations, then a line
 * per layer; with `withFiles`, each layer's entries too.
 *
 * @category destructors
 */
export const formatPlan = (plan: BuildPlan, withFiles = true, cachedSteps: ReadonlySet<string> = new Set()): string => {
  const p = plan.platform;
  const lines = [
    `image ${plan.exportName}  ${formatPlatform(p)}  created ${new Date(plan.created * 1000).toISOString()}`,
    ...(plan.arguments === undefined ? [] : ["arguments:", ...configLines(plan.arguments)]),
    "config:",
    ...configLines(plan.config),
  ];
  if (Object.keys(plan.annotations).length > 0) lines.push("annotations:", ...configLines(plan.annotations));
  const base = plan.base;
  if (base !== undefined) {
    lines.push(`base ${base.reference}: ${base.digest}${base.pinned === base.digest ? "" : ` (from index ${base.pinned})`}, ${base.layers.length} layers, ${formatSize(base.layers.reduce((n, l) => n + l.size, 0))} compressed`);
    for (const l of base.layers) lines.push(`  ${l.digest}  ${formatSize(l.size).padStart(8)}  ${l.mediaType}`);
  }
  for (const l of plan.layers) {
    const run = l.run;
    if (run !== undefined) {
      lines.push(`step ${l.name}: ${run.shell === undefined ? JSON.stringify(run.argv) : `(shell) ${run.shell}`}, cache key ${l.cacheKey}${cachedSteps.has(l.name) ? ", cached" : ", not cached"}`);
      lines.push(`  user ${run.user === "" ? "root" : run.user}, working dir ${run.workingDir}, network ${run.network}${run.network === "host" ? " (opted in)" : ""}`);
      for (const e of run.env) lines.push(`  env ${e}`);
      for (const m of run.mounts) {
        lines.push(`  mount ${m.type} ${m.target}${m.type === "bind" ? ` from ${m.source} (${m.digest})` : m.type === "cache" ? ` id ${m.id}` : m.env !== undefined ? ` from env ${m.env}` : ` from file ${m.file}`}`);
      }
      const limits = Object.entries(run.limits).map(([k, v]) => `${k} ${v}`);
      if (limits.length > 0) lines.push(`  limits ${limits.join(", ")}`);
      continue;
    }
    // What a derived layer read of the image below: part of its cache key, so shown with it.
    const reads = (l.reads ?? []).map((r) => `  reads ${r.path} (${r.stat === undefined ? "absent" : (r.digest ?? r.stat.type)})`);
    if (withFiles) {
      lines.push(`layer ${l.name}: ${l.entries.length} entries, ${formatSize(l.contentSize)}, cache key ${l.cacheKey}`, ...reads);
      for (const p of l.packages ?? []) lines.push(`  package  ${p.name} ${p.version} ${p.architecture}${p.installed ? "" : " (files only)"}  ${p.sha256}`);
      for (const f of l.fetched ?? []) lines.push(`  fetched  ${f.url}  ${f.sha256}`);
      for (const a of l.archives ?? []) lines.push(`  archive  ${a.source} -> ${a.path}  ${a.digest}`);
      for (const e of l.entries) lines.push(entryLine(e));
    } else lines.push(`layer ${l.name}: ${l.entries.length} entries (${countTypes(l.entries)}), ${formatSize(l.contentSize)}, cache key ${l.cacheKey}`, ...reads);
  }
  if (!withFiles) lines.push(`(${plan.layers.reduce((n, l) => n + l.entries.length, 0)} entries in all: --files lists them)`);
  return lines.join("\n");
};

/**
 * An inspected image as `lading inspect` prints it: digest, platform, config and a line
 * per layer; with `withFiles`, every entry too.
 *
 * @category destructors
 */
export const formatInspection = (image: Image, inspection: Inspection, withFiles: boolean): string => {
  const c = image.config.value;
  const lines = [
    `image ${image.source}`,
    ...(image.manifest === undefined ? [] : [`digest ${image.manifest.digest}`]),
    `platform ${formatPlatform(c)}  created ${c.created ?? "-"}`,
    "config:",
    ...configLines(c.config ?? {}),
  ];
  for (const [i, l] of inspection.layers.entries()) {
    lines.push(`layer ${i + 1}: ${l.digest}  ${formatSize(l.size)}  ${l.files.length} entries${c.history?.[i]?.created_by === undefined ? "" : `  (${c.history[i]!.created_by})`}`);
    if (withFiles) for (const f of l.files) lines.push(entryLine(f));
  }
  return lines.join("\n");
};
