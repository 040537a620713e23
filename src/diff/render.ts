/**
 * Renderings of a diff: text (like git diff, coloured on request), markdown (a
 * pull-request comment: the summary table first, details folded), and the JSON schema
 * documented in the README.
 */
import { formatMode, formatSize } from "../core/index.ts";
import type { FieldChange, FileChange, ImageDiff, LayerChange } from "./compare.ts";
import type { FileView } from "./ImageView.ts";

/**
 * How {@link renderText} draws: with ANSI colours or not, and with per-item detail or
 * summary lines only.
 *
 * @category model
 */
export interface TextOptions {
  readonly color: boolean;
  /** Summary lines only. */
  readonly stat: boolean;
}

const signed = (n: number): string => (n > 0 ? `+${formatSize(n)}` : n < 0 ? formatSize(n) : "±0 B");

const show = (v: unknown): string => (v === undefined ? "(unset)" : JSON.stringify(v));

const describeFile = (f: FileView): string =>
  f.type === "file"
    ? `file ${formatMode(f.mode)} ${f.uid}:${f.gid} ${formatSize(f.size)}`
    : f.type === "symlink"
      ? `symlink -> ${f.target ?? ""}`
      : f.type === "hardlink"
        ? `hardlink => ${f.target ?? ""}`
        : `${f.type} ${formatMode(f.mode)} ${f.uid}:${f.gid}`;

/** What changed at a path, in words: `content 270 B -> 300 B, mode 0644 -> 0600`. */
const describeChange = (c: FileChange): string => {
  if (c.change !== "changed") return describeFile((c.after ?? c.before)!);
  const b = c.before!;
  const a = c.after!;
  return c.aspects
    .map((aspect) => {
      switch (aspect) {
        case "type":
          return `type ${b.type} -> ${a.type}`;
        case "content":
          return `content ${formatSize(b.size)} -> ${formatSize(a.size)}`;
        case "mode":
          return `mode ${formatMode(b.mode)} -> ${formatMode(a.mode)}`;
        case "owner":
          return `owner ${b.uid}:${b.gid} -> ${a.uid}:${a.gid}`;
        case "target":
          return `target ${b.target ?? "(none)"} -> ${a.target ?? "(none)"}`;
      }
    })
    .join(", ");
};

const fieldSign = (c: FieldChange): "+" | "-" | "~" => (c.before === undefined ? "+" : c.after === undefined ? "-" : "~");

const fileSign = (c: FileChange): "+" | "-" | "~" => (c.change === "added" ? "+" : c.change === "removed" ? "-" : "~");

const layerSign = (l: LayerChange): "+" | "-" | "~" | "=" =>
  l.change === "added" ? "+" : l.change === "removed" ? "-" : l.change === "changed" ? "~" : "=";

const shortKey = (k: string | undefined): string => (k === undefined ? "" : k.slice(0, 19));

/**
 * A layer's line. Keys are shown only when both sides have the same kind: a spec's key
 * is a cache key and a built image's a diff_id, two hashes of different things, so a
 * spec against an image shows the one side's key alone, and the layers compare by files.
 */
const layerLine = (l: LayerChange, d: ImageDiff): string => {
  const sameKind = d.before.kind === d.after.kind;
  const keys =
    l.before === undefined || l.after === undefined
      ? ""
      : !sameKind
        ? `  ${d.after.kind === "spec" ? "cache key" : "diff_id"} ${shortKey(l.after.key)}`
        : l.before.key !== l.after.key
          ? `  ${shortKey(l.before.key)} -> ${shortKey(l.after.key)}`
          : "";
  const size = l.before !== undefined && l.after !== undefined ? `${formatSize(l.before.size)} -> ${formatSize(l.after.size)}` : formatSize((l.after ?? l.before)!.size);
  return `${l.name}  ${size}${keys}${l.reason === undefined ? "" : `  (${l.reason})`}${l.rebuild ? "  [rebuild]" : ""}`;
};

const summaryLine = (d: ImageDiff): string =>
  `${d.summary.added} added, ${d.summary.removed} removed, ${d.summary.changed} changed; size ${formatSize(d.summary.sizeBefore)} -> ${formatSize(d.summary.sizeAfter)} (${signed(d.summary.sizeDelta)})`;

/**
 * The text rendering, like `git diff`: `-`, `+` and `~` for removed, added and changed
 * items, then a summary line.
 *
 * @category destructors
 */
export const renderText = (d: ImageDiff, opts: TextOptions): string => {
  const paint = (sign: string, s: string): string => {
    if (!opts.color) return s;
    const code = sign === "+" ? 32 : sign === "-" ? 31 : sign === "~" ? 33 : 0;
    return code === 0 ? s : `\u001b[${code}m${s}\u001b[0m`;
  };
  const lines = [paint("-", `--- ${d.before.source}`), paint("+", `+++ ${d.after.source}`)];
  if (d.identical) return [...lines, "no differences"].join("\n");
  const rebuilt = d.layers.filter((l) => l.rebuild).map((l) => l.name);
  if (opts.stat) {
    lines.push(`config: ${d.config.length + d.platform.length + d.annotations.length} changes`);
    lines.push(`layers: ${d.layers.filter((l) => l.change !== "unchanged").length} of ${d.layers.length} differ${d.reordered ? ", reordered" : ""}${rebuilt.length > 0 ? `; rebuild ${rebuilt.join(", ")}` : ""}`);
    lines.push(`files: ${summaryLine(d)}`);
    return lines.join("\n");
  }
  const fields = [...d.platform, ...d.config, ...d.annotations.map((c) => ({ ...c, field: `annotations.${c.field}` }))];
  if (fields.length > 0) {
    lines.push("config:");
    for (const c of fields) {
      const sign = fieldSign(c);
      lines.push(paint(sign, `  ${sign} ${c.field}: ${sign === "+" ? show(c.after) : sign === "-" ? show(c.before) : `${show(c.before)} -> ${show(c.after)}`}`));
    }
  }
  if (d.layers.some((l) => l.change !== "unchanged") || d.reordered) {
    lines.push(`layers:${d.reordered ? " (reordered)" : ""}`);
    for (const l of d.layers) {
      const sign = layerSign(l);
      lines.push(paint(sign, `  ${sign} ${layerLine(l, d)}`));
    }
  }
  const packages = d.packages ?? [];
  if (packages.length > 0) {
    lines.push("packages:");
    for (const p of packages) {
      const sign = p.change === "added" ? "+" : p.change === "removed" ? "-" : "~";
      const version = p.change === "changed" ? `${p.before!} -> ${p.after!}` : (p.after ?? p.before)!;
      lines.push(paint(sign, `  ${sign} ${p.name} ${version} ${p.architecture}${p.files > 0 ? `  (${p.files} file${p.files === 1 ? "" : "s"})` : ""}`));
    }
  }
  // A package's files are told by its line above; the rest one by one.
  const own = d.files.filter((c) => c.package === undefined);
  if (d.files.length > 0) {
    lines.push("files:");
    for (const c of own) {
      const sign = fileSign(c);
      lines.push(paint(sign, `  ${sign} ${c.path}  ${describeChange(c)}`));
    }
    const hidden = d.files.length - own.length;
    if (hidden > 0) lines.push(`  (${hidden} changes of the packages above; --format json lists them)`);
  }
  lines.push(`summary: ${summaryLine(d)}${rebuilt.length > 0 ? `; rebuild ${rebuilt.join(", ")}` : ""}`);
  return lines.join("\n");
};

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/**
 * The markdown rendering, for a pull-request comment.
 *
 * @category destructors
 */
export const renderMarkdown = (d: ImageDiff): string => {
  const out = [`### lading diff: \`${cell(d.before.source)}\` → \`${cell(d.after.source)}\``, ""];
  if (d.identical) return [...out, "No differences."].join("\n");
  const rebuilt = d.layers.filter((l) => l.rebuild).map((l) => `\`${l.name}\``);
  const fields = [...d.platform, ...d.config, ...d.annotations.map((c) => ({ ...c, field: `annotations.${c.field}` }))];
  out.push(
    "| | |",
    "| --- | --- |",
    `| files | ${d.summary.added} added, ${d.summary.removed} removed, ${d.summary.changed} changed |`,
    `| size | ${formatSize(d.summary.sizeBefore)} → ${formatSize(d.summary.sizeAfter)} (${signed(d.summary.sizeDelta)}) |`,
    `| config | ${fields.length} change${fields.length === 1 ? "" : "s"} |`,
    `| layers | ${d.layers.filter((l) => l.change !== "unchanged").length} of ${d.layers.length} differ${d.reordered ? ", reordered" : ""} |`,
    `| rebuild | ${rebuilt.length > 0 ? rebuilt.join(", ") : "nothing"} |`,
    "",
  );
  const details = (summary: string, body: string[]): void => {
    out.push(`<details><summary>${summary}</summary>`, "", ...body, "", "</details>", "");
  };
  if (fields.length > 0) {
    details(`Config (${fields.length})`, [
      "| field | before | after |",
      "| --- | --- | --- |",
      ...fields.map((c) => `| \`${cell(c.field)}\` | ${c.before === undefined ? "" : `\`${cell(JSON.stringify(c.before))}\``} | ${c.after === undefined ? "" : `\`${cell(JSON.stringify(c.after))}\``} |`),
    ]);
  }
  if (d.layers.some((l) => l.change !== "unchanged")) {
    details(`Layers (${d.layers.filter((l) => l.change !== "unchanged").length})`, [
      "| | layer | size | what changed |",
      "| --- | --- | --- | --- |",
      ...d.layers.map(
        (l) =>
          `| ${layerSign(l)} | \`${cell(l.name)}\` | ${l.before !== undefined && l.after !== undefined ? `${formatSize(l.before.size)} → ${formatSize(l.after.size)}` : formatSize((l.after ?? l.before)!.size)} | ${cell(l.reason ?? l.change)}${l.rebuild ? " (rebuild)" : ""} |`,
      ),
    ]);
  }
  if (d.files.length > 0) {
    details(`Files (${d.files.length})`, ["| | path | change |", "| --- | --- | --- |", ...d.files.map((c) => `| ${fileSign(c)} | \`${cell(c.path)}\` | ${cell(describeChange(c))} |`)]);
  }
  return out.join("\n").trimEnd();
};

/**
 * The JSON rendering: the diff value itself, with a schema version.
 *
 * @category destructors
 */
export const renderJson = (d: ImageDiff): string => JSON.stringify({ schema: "lading.diff/v1", ...d }, null, 2);
