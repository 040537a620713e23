/**
 * Flags what makes a spec impure: reading the clock, randomness, the environment, the
 * file system, the network, or spawning processes. A spec that needs such a value takes
 * it as an explicit parameter instead, so the same spec always gives the same image.
 */
import { Node, type SourceFile, SyntaxKind } from "ts-morph";
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
 * The impure uses in one source file.
 *
 * @category destructors
 */
export const findImpurities = (sf: SourceFile, displayName: string): ReadonlyArray<Diagnostic> => {
  const out: Diagnostic[] = [];
  const report = (node: Node, what: string, why: string): void => {
    const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
    out.push({ severity: "error", file: displayName, line, column, message: `impure: ${what} ${why}`, hint: HINT });
  };
  const checkModule = (node: Node, spec: string): void => {
    const name = spec.replace(/^node:/, "");
    const why = IMPURE_MODULES.get(name);
    if (why !== undefined) report(node, `module "${spec}"`, why);
  };
  for (const d of sf.getImportDeclarations()) checkModule(d, d.getModuleSpecifierValue());
  for (const d of sf.getExportDeclarations()) {
    const spec = d.getModuleSpecifierValue();
    if (spec !== undefined) checkModule(d, spec);
  }
  sf.forEachDescendant((node) => {
    // A run step that opts into the network is allowed, and shown: its layer may depend
    // on what the network serves when it runs.
    if (Node.isPropertyAssignment(node) && node.getName() === "network") {
      const value = node.getInitializer();
      if (value !== undefined && Node.isStringLiteral(value) && value.getLiteralValue() === "host") {
        const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
        out.push({
          severity: "warning",
          file: displayName,
          line,
          column,
          message: 'a run step uses the host\'s network (network: "host"): its layer may depend on what the network serves',
          hint: "fetch inputs by digest where you can; lading build --check shows whether the step gives the same layer twice",
        });
      }
      return;
    }
    if (Node.isPropertyAccessExpression(node)) {
      const text = node.getText().replace(/^globalThis\./, "");
      const why = IMPURE_ACCESS.get(text);
      if (why !== undefined) report(node, text, why);
      return;
    }
    if (Node.isNewExpression(node)) {
      if (node.getExpression().getText() === "Date" && (node.getArguments().length === 0)) report(node, "new Date()", "reads the clock");
      return;
    }
    if (Node.isCallExpression(node)) {
      const callee = node.getExpression();
      if (Node.isIdentifier(callee)) {
        const why = IMPURE_CALLS.get(callee.getText());
        if (why !== undefined) report(node, `${callee.getText()}()`, why);
        if (callee.getText() === "Date" && node.getArguments().length === 0) report(node, "Date()", "reads the clock");
      } else if (callee.getKind() === SyntaxKind.ImportKeyword) {
        const arg = node.getArguments()[0];
        if (arg !== undefined && Node.isStringLiteral(arg)) checkModule(node, arg.getLiteralValue());
        else report(node, "import()", "loads a module chosen at run time");
      }
    }
  });
  return out;
};
