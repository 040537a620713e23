/**
 * Flags what makes a spec impure: reading the clock, randomness, the environment, the
 * file system, the network, or spawning processes. A spec that needs such a value takes
 * it as an explicit parameter instead, so the same spec always gives the same image.
 */
import type { ts } from "ts-morph";
import type { Diagnostic } from "../core/index.ts";

const IMPURE_MODULES = new Map<string, string>([
  ["fs", "reads the file system"],
  ["fs/promises", "reads the file system"],
  ["child_process", "runs processes"],
  ["http", "uses the network"],
  ["https", "uses the network"],
  ["http2", "uses the network"],
  ["net", "uses the network"],
  ["dgram", "uses the network"],
  ["dns", "uses the network"],
  ["tls", "uses the network"],
  ["os", "reads the machine's state"],
  ["worker_threads", "runs threads"],
]);

const IMPURE_ACCESS = new Map<string, string>([
  ["Date.now", "reads the clock"],
  ["performance.now", "reads the clock"],
  ["Math.random", "is random"],
  ["crypto.randomUUID", "is random"],
  ["crypto.getRandomValues", "is random"],
  ["process.env", "reads the environment"],
  ["process.cwd", "reads the working directory"],
  ["process.argv", "reads the command line"],
  ["process.hrtime", "reads the clock"],
  ["process.platform", "reads the machine's state"],
  ["process.arch", "reads the machine's state"],
]);

const IMPURE_CALLS = new Map<string, string>([
  ["fetch", "uses the network"],
  ["require", "loads modules at run time"],
  ["setTimeout", "depends on time"],
  ["setInterval", "depends on time"],
]);

const HINT = "pass the value to the spec as an explicit parameter (for times, lading build applies SOURCE_DATE_EPOCH)";

/**
 * The impure uses in one source file, parsed by `compiler` (the TypeScript that ts-morph
 * carries: ts-morph's check hands it its own, the native check loads it alone). A syntax
 * walk: no program, no types.
 *
 * @category destructors
 */
export const findImpurities = (compiler: typeof ts, sf: ts.SourceFile, displayName: string): ReadonlyArray<Diagnostic> => {
  const out: Diagnostic[] = [];
  const at = (node: ts.Node): { readonly line: number; readonly column: number } => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    return { line: line + 1, column: character + 1 };
  };
  const report = (node: ts.Node, what: string, why: string): void => {
    out.push({ severity: "error", file: displayName, ...at(node), message: `impure: ${what} ${why}`, hint: HINT });
  };
  const checkModule = (node: ts.Node, spec: string): void => {
    const name = spec.replace(/^node:/, "");
    const why = IMPURE_MODULES.get(name);
    if (why !== undefined) report(node, `module "${spec}"`, why);
  };
  const text = (node: ts.Node): string => node.getText(sf);
  for (const d of sf.statements) {
    if (compiler.isImportDeclaration(d) && compiler.isStringLiteral(d.moduleSpecifier)) checkModule(d, d.moduleSpecifier.text);
  }
  for (const d of sf.statements) {
    if (compiler.isExportDeclaration(d) && d.moduleSpecifier !== undefined && compiler.isStringLiteral(d.moduleSpecifier)) checkModule(d, d.moduleSpecifier.text);
  }
  const visit = (node: ts.Node): void => {
    // A run step that opts into the network is allowed, and shown: its layer may depend
    // on what the network serves when it runs.
    if (compiler.isPropertyAssignment(node) && text(node.name) === "network") {
      const value = node.initializer;
      if (compiler.isStringLiteral(value) && value.text === "host") {
        out.push({
          severity: "warning",
          file: displayName,
          ...at(node),
          message: 'a run step uses the host\'s network (network: "host"): its layer may depend on what the network serves',
          hint: "fetch inputs by digest where you can; lading build --check shows whether the step gives the same layer twice",
        });
      }
    } else if (compiler.isPropertyAccessExpression(node)) {
      const accessed = text(node).replace(/^globalThis\./, "");
      const why = IMPURE_ACCESS.get(accessed);
      if (why !== undefined) report(node, accessed, why);
    } else if (compiler.isNewExpression(node)) {
      if (text(node.expression) === "Date" && (node.arguments ?? []).length === 0) report(node, "new Date()", "reads the clock");
    } else if (compiler.isCallExpression(node)) {
      const callee = node.expression;
      if (compiler.isIdentifier(callee)) {
        const why = IMPURE_CALLS.get(text(callee));
        if (why !== undefined) report(node, `${text(callee)}()`, why);
        if (text(callee) === "Date" && node.arguments.length === 0) report(node, "Date()", "reads the clock");
      } else if (callee.kind === compiler.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (arg !== undefined && compiler.isStringLiteral(arg)) checkModule(node, arg.text);
        else report(node, "import()", "loads a module chosen at run time");
      }
    }
    compiler.forEachChild(node, visit);
  };
  compiler.forEachChild(sf, visit);
  return out;
};
