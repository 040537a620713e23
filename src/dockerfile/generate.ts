/**
 * A translated Dockerfile written out as a lading spec with ts-morph: imports, one
 * constant a stage (each a `pipe`), the last stage as the default export, and, when the
 * Dockerfile has ARGs, the stages in a function of typed parameters.
 */
import { IndentationText, Project, QuoteKind, VariableDeclarationKind } from "ts-morph";
import type { Stage, Translation } from "./translate.ts";
import { propertyKey } from "./translate.ts";

const MODULES = ["Entry", "Image", "Layer", "Mount", "Param", "Platform", "pipe"] as const;

const stageCode = (s: Stage): string => {
  const lines = [`${s.from},`];
  for (const step of s.steps) lines.push(step._tag === "Expr" ? `${step.code},` : `// ${step.text.replace(/\n/g, "\n// ")}`);
  return `pipe(\n${lines.join("\n")}\n)`;
};

/**
 * The spec's TypeScript source, formatted, for the Dockerfile named `source` (shown in
 * its header comment).
 *
 * @category destructors
 */
export const generateSpec = (t: Translation, source: string): string => {
  const project = new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Double },
  });
  const file = project.createSourceFile("lading.ts", "");
  const uses = new Set(t.uses);
  if (t.params.length > 0) uses.add("Param");
  file.addStatements(`/**\n * Translated from ${source} by \`lading import\`. Review the comments below: each\n * marks a line that has no lading form yet.\n */`);
  file.addImportDeclaration({ moduleSpecifier: "lading", namedImports: MODULES.filter((m) => uses.has(m)).map((m) => m) });
  const last = t.stages[t.stages.length - 1];
  if (t.params.length === 0) {
    for (const s of t.stages) {
      file.addVariableStatement({
        isExported: s !== last,
        declarationKind: VariableDeclarationKind.Const,
        declarations: [{ name: s.ident, initializer: stageCode(s) }],
      });
    }
    if (last !== undefined) file.addExportAssignment({ isExportEquals: false, expression: last.ident });
  } else {
    // The ARGs: each a string parameter with the Dockerfile's default.
    file.addVariableStatement({
      declarationKind: VariableDeclarationKind.Const,
      declarations: [
        {
          name: "params",
          initializer: `Param.struct({\n${t.params.map((p) => `${propertyKey(p.name)}: pipe(Param.string, Param.withDefault(${JSON.stringify(p.default)})),`).join("\n")}\n})`,
        },
      ],
    });
    file.addTypeAlias({ name: "Args", type: `{ ${t.params.map((p) => `readonly ${propertyKey(p.name)}: string`).join("; ")} }` });
    file.addFunction({
      name: "stages",
      docs: ["The build stages, made from the arguments."],
      parameters: [{ name: "args", type: "Args" }],
      statements: [
        ...t.stages.map((s) => `const ${s.ident} = ${stageCode(s)};`),
        `return { ${t.stages.map((s) => s.ident).join(", ")} };`,
      ],
    });
    for (const s of t.stages) {
      file.addVariableStatement({
        isExported: s !== last,
        declarationKind: VariableDeclarationKind.Const,
        declarations: [{ name: s.ident, initializer: `Image.parameterized(params, (args) => stages(args).${s.ident})` }],
      });
    }
    if (last !== undefined) file.addExportAssignment({ isExportEquals: false, expression: last.ident });
  }
  file.formatText({ indentSize: 2, convertTabsToSpaces: true });
  return file.getFullText();
};
