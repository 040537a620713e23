/**
 * What a spec imports of lading, in lading's own sources, relative to its package: where a
 * spec's project has no lading installed, the CLI's loader and its checker both take these.
 * A module of its own so that the loader does not load the checker.
 *
 * @category constants
 */
export const OWN_ENTRIES: Readonly<Record<string, string>> = { lading: "src/index.ts", "lading/stdlib": "stdlib/index.ts" };
