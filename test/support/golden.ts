/**
 * Golden files: compared byte for byte, rewritten when UPDATE_GOLDEN=1 (then reviewed in
 * the diff like code).
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { expect } from "vitest";
import { REPO } from "./cli.ts";

/** Checks `actual` against test/golden/<dir>/<name>. */
export const expectGolden = async (dir: string, name: string, actual: string): Promise<void> => {
  const file = path.join(REPO, "test", "golden", dir, name);
  if (process.env["UPDATE_GOLDEN"] === "1") {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, actual);
  }
  expect(actual).toBe(await fs.readFile(file, "utf8"));
};
