/**
 * `lading plan --json` as a stream: the same text `JSON.stringify(plan, null, 2)` gives,
 * in chunks, so that printing a plan of 200,000 entries never holds a 60 MB string (and
 * the copies its making needs) at once.
 */
import type { BuildPlan } from "./BuildPlan.ts";
import { PackedEntries } from "./PackedEntries.ts";

/** Arrays at least this long are written element by element; smaller values whole. */
const STREAMED = 256;

/** About this many characters a chunk. */
const CHUNK = 1 << 16;

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== "function" && Object.getPrototypeOf(v) === Object.prototype;

/** An array, or a layer's packed entries (written as the array they stand for, an entry at a time). */
const isList = (v: unknown): v is ReadonlyArray<unknown> | PackedEntries => Array.isArray(v) || v instanceof PackedEntries;

/** Whether `v` holds a long array somewhere (the only values worth streaming). */
const holdsLongArray = (v: unknown, depth = 0): boolean => {
  if (depth > 3) return false;
  if (v instanceof PackedEntries) return v.length >= STREAMED;
  if (Array.isArray(v)) return v.length >= STREAMED || v.some((x) => holdsLongArray(x, depth + 1));
  return isPlain(v) && Object.values(v).some((x) => holdsLongArray(x, depth + 1));
};

/** Skipped by JSON.stringify as an object member; `null` as an array element. */
const isOmitted = (v: unknown): boolean => v === undefined || typeof v === "function" || typeof v === "symbol";

/** The pieces of `JSON.stringify(value, null, 2)` for a value at indentation `indent`. */
function* pieces(value: unknown, indent: string): Generator<string> {
  if (!holdsLongArray(value)) {
    const text = JSON.stringify(value, null, 2) ?? "null";
    yield indent === "" ? text : text.replace(/\n/g, `\n${indent}`);
    return;
  }
  const inner = `${indent}  `;
  if (isList(value)) {
    if (value.length === 0) return yield "[]";
    yield "[\n";
    let i = 0;
    for (const v of value as Iterable<unknown>) {
      yield inner;
      if (isOmitted(v)) yield "null";
      else yield* pieces(v, inner);
      yield ++i < value.length ? ",\n" : "\n";
    }
    return yield `${indent}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((k) => !isOmitted(record[k]));
  if (keys.length === 0) return yield "{}";
  yield "{\n";
  for (const [i, k] of keys.entries()) {
    yield `${inner}${JSON.stringify(k)}: `;
    yield* pieces(record[k], inner);
    yield i < keys.length - 1 ? ",\n" : "\n";
  }
  yield `${indent}}`;
}

/**
 * The plan as pretty-printed JSON, in chunks of about 64 KiB: joined, exactly
 * `JSON.stringify(plan, null, 2)`.
 *
 * @category destructors
 */
export function* planJsonChunks(plan: BuildPlan): Generator<string> {
  let buffered: string[] = [];
  let size = 0;
  for (const piece of pieces(plan, "")) {
    buffered.push(piece);
    size += piece.length;
    if (size < CHUNK) continue;
    yield buffered.join("");
    buffered = [];
    size = 0;
  }
  if (size > 0) yield buffered.join("");
}
