#!/usr/bin/env node
// Registers the TypeScript loader (specs are TypeScript), then runs the CLI.
import { register } from "tsx/esm/api";

register();
const { run } = await import("../src/cli/main.ts");
process.exitCode = await run(process.argv.slice(2));
