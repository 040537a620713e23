/**
 * lading.lock: the digest every pulled reference named when it was locked, so a build
 * months later (or `--frozen` in CI) gets the same base whatever the tag says now. It
 * lives beside the spec, as JSON with sorted keys and one reference a line, so a review
 * shows exactly which base moved.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, error, isDigest, parseReference, sortBytewise } from "../core/index.ts";
import { decodeJson } from "../oci/index.ts";

/**
 * The lock file's name, in the spec's directory.
 *
 * @category constants
 */
export const LOCK_FILE = "lading.lock";

/**
 * The lock format's version, written as `lockVersion`.
 *
 * @category constants
 */
export const LOCK_VERSION = 1;

const LockC = t.type({ lockVersion: t.literal(LOCK_VERSION), pins: t.record(t.string, t.string) });

/**
 * The lock file of the spec at `specFile`.
 *
 * @category constructors
 */
export const lockPathFor = (specFile: string): string => path.join(path.dirname(path.resolve(specFile)), LOCK_FILE);

/**
 * Reads a lock file: its pins by reference, or undefined when there is none. A file
 * that is not a lading lock is an error naming it.
 *
 * @category destructors
 */
export const readLock = async (file: string, shown: string): Promise<ReadonlyMap<string, Digest> | undefined> => {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const r = decodeJson(LockC, text, shown);
  if (E.isLeft(r)) throw new DiagnosticError([{ ...r.left, hint: "it is written by 'lading lock': run it again" }]);
  const pins = new Map<string, Digest>();
  for (const [ref, digest] of Object.entries(r.right.pins)) {
    if (E.isLeft(parseReference(ref)) || !isDigest(digest)) throw new DiagnosticError([error({ file: shown }, `invalid pin ${JSON.stringify(ref)}: ${JSON.stringify(digest)}`, "it is written by 'lading lock': run it again")]);
    pins.set(ref, digest);
  }
  return pins;
};

/**
 * The lock file's text: sorted keys, one pin a line, a final newline.
 *
 * @category destructors
 */
export const formatLock = (pins: ReadonlyMap<string, Digest>): string => {
  const sorted = sortBytewise([...pins], ([ref]) => ref);
  const lines = sorted.map(([ref, digest], i) => `    ${JSON.stringify(ref)}: ${JSON.stringify(digest)}${i < sorted.length - 1 ? "," : ""}`);
  return `{\n  "lockVersion": ${LOCK_VERSION},\n  "pins": {${lines.length === 0 ? "}" : `\n${lines.join("\n")}\n  }`}\n}\n`;
};
