/**
 * A user-facing error or warning that names its place: the spec file (with line and
 * column when known), the export, the layer and the in-image path.
 *
 * @category model
 */
export interface Diagnostic {
  readonly severity: "error" | "warning";
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly exportName?: string;
  readonly layer?: string;
  readonly path?: string;
  readonly hint?: string;
}

/**
 * Where a diagnostic happened, without its message: threaded through eval and plan.
 *
 * @category model
 */
export type Place = Pick<Diagnostic, "file" | "exportName" | "layer" | "path">;

/**
 * An error diagnostic at a place, with an optional hint on how to fix it.
 *
 * @category constructors
 */
export const error = (place: Place, message: string, hint?: string): Diagnostic => ({
  severity: "error",
  message,
  ...place,
  ...(hint === undefined ? {} : { hint }),
});

/**
 * A warning diagnostic at a place: something that builds but looks like a mistake.
 *
 * @category constructors
 */
export const warning = (place: Place, message: string, hint?: string): Diagnostic => ({ ...error(place, message, hint), severity: "warning" });

/**
 * Renders `file:line:col: export "e", layer "l", path "/p": message` with an
 * optional indented hint line.
 *
 * @category destructors
 */
export const formatDiagnostic = (d: Diagnostic): string => {
  const parts: string[] = [];
  if (d.file !== undefined) {
    parts.push(d.line === undefined ? d.file : `${d.file}:${d.line}:${d.column ?? 1}`);
  }
  const where: string[] = [];
  if (d.exportName !== undefined) where.push(`export "${d.exportName}"`);
  if (d.layer !== undefined) where.push(`layer "${d.layer}"`);
  if (d.path !== undefined) where.push(`path "${d.path}"`);
  if (where.length > 0) parts.push(where.join(", "));
  const head = parts.length > 0 ? `${parts.join(": ")}: ` : "";
  const sev = d.severity === "warning" ? "warning: " : "";
  return `${head}${sev}${d.message}${d.hint === undefined ? "" : `\n  hint: ${d.hint}`}`;
};

/**
 * A failure carrying diagnostics, thrown only across async effect boundaries
 * (plan and build) and caught by the CLI; pure stages return `Either` instead.
 *
 * @category model
 */
export class DiagnosticError extends Error {
  constructor(readonly diagnostics: ReadonlyArray<Diagnostic>) {
    super(diagnostics.map(formatDiagnostic).join("\n"));
    this.name = "DiagnosticError";
  }
}

/**
 * Throws one error diagnostic placed at `file` (a spec, an image location, an archive):
 * the way a reader stops at the first thing it cannot accept.
 *
 * @category destructors
 */
export const failAt = (file: string, message: string, hint?: string): never => {
  throw new DiagnosticError([error({ file }, message, hint)]);
};
