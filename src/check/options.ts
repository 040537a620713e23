/**
 * The compiler options every spec is checked under, as a tsconfig.json states them: the
 * native compiler is handed them in a generated tsconfig, ts-morph converts them. A
 * module of its own, free of the compiler, so that the native check starts before
 * TypeScript is loaded.
 */

/**
 * The options, by their tsconfig.json names and values.
 *
 * @category constants
 */
export const SPEC_COMPILER_OPTIONS: Readonly<Record<string, string | boolean | ReadonlyArray<string>>> = {
  target: "es2022",
  module: "nodenext",
  moduleResolution: "nodenext",
  lib: ["es2022"],
  // Specs are pure: no Node.js globals (process, Buffer, require) to reach for.
  types: [],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  noImplicitReturns: true,
  allowImportingTsExtensions: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
};
