/**
 * Text renderings of plans, builds and inspections for the terminal.
 */
import { formatMode, formatSize } from "../core/index.ts";
import type { BuildPlan } from "../plan/index.ts";
import type { Inspection, OpenedImage } from "../sink/index.ts";

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

/**
 * The plan as `lading plan` prints it: the image line, config, annotations, then each
 * layer with its entries.
 *
 * @category destructors
 */
export const formatPlan = (plan: BuildPlan): string => {
  const p = plan.platform;
  const lines = [
    `image ${plan.exportName}  ${p.os}/${p.architecture}${p.variant === undefined ? "" : `/${p.variant}`}  created ${new Date(plan.created * 1000).toISOString()}`,
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
    lines.push(`layer ${l.name}: ${l.entries.length} entries, ${formatSize(l.contentSize)}, cache key ${l.cacheKey}`);
    for (const p of l.packages ?? []) lines.push(`  package  ${p.name} ${p.version} ${p.architecture}${p.installed ? "" : " (files only)"}  ${p.sha256}`);
    for (const e of l.entries) lines.push(entryLine(e));
  }
  return lines.join("\n");
};

/**
 * An inspected image as `lading inspect` prints it: digest, platform, config and a line
 * per layer; with `withFiles`, every entry too.
 *
 * @category destructors
 */
export const formatInspection = (image: OpenedImage, inspection: Inspection, withFiles: boolean): string => {
  const c = image.config;
  const lines = [
    `image ${image.source}`,
    ...(image.digest === undefined ? [] : [`digest ${image.digest}`]),
    `platform ${c.os}/${c.architecture}${c.variant === undefined ? "" : `/${c.variant}`}  created ${c.created ?? "-"}`,
    "config:",
    ...configLines(c.config ?? {}),
  ];
  for (const [i, l] of inspection.layers.entries()) {
    lines.push(`layer ${i + 1}: ${l.digest}  ${formatSize(l.size)}  ${l.files.length} entries${c.history?.[i]?.created_by === undefined ? "" : `  (${c.history[i]!.created_by})`}`);
    if (withFiles) for (const f of l.files) lines.push(entryLine(f));
  }
  return lines.join("\n");
};
