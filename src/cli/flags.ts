/**
 * A command's flags, declared as io-ts codecs of their values: `t.boolean`, `t.string`,
 * or `t.array(t.string)` for a repeatable one. Node's parser reads the command line by
 * that declaration, and the codec decodes what it gives, so a command's flags have the
 * static type of the declaration and no value is taken on trust.
 */
import type { ParseArgsConfig } from "node:util";
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { LayerCompression } from "../build/index.ts";
import { UsageError } from "./usage.ts";

/**
 * What a flag can hold: a switch, a value, or a value given any number of times.
 *
 * @category model
 */
export type FlagCodec = t.BooleanC | t.StringC | t.ArrayC<t.StringC>;

/**
 * The flags of a command: long name to codec.
 *
 * @category model
 */
export type Flags = Readonly<Record<string, FlagCodec>>;

/**
 * The flags of every command that takes a spec: skip its type check, and choose the store.
 *
 * @category constants
 */
export const SPEC_FLAGS = { "no-check": t.boolean, store: t.string } as const;

/**
 * The flag of the commands that plan layers: how built layers are compressed.
 *
 * @category constants
 */
export const COMPRESSION_FLAG = { compression: t.string } as const;

/**
 * The `--compression` flag's value: gzip when not given; anything but gzip or zstd is a
 * usage error followed by `help`.
 *
 * @category destructors
 */
export const layerCompressionFlag = (value: string | undefined, help: string): LayerCompression => {
  if (value === undefined || value === "gzip" || value === "zstd") return value ?? "gzip";
  throw new UsageError(`--compression ${value}: expected gzip or zstd\n\n${help}`);
};

/**
 * A command line, decoded: the positional arguments and each flag given.
 *
 * @category model
 */
export interface ParsedArgs<F extends Flags> {
  readonly positionals: ReadonlyArray<string>;
  readonly values: Readonly<t.TypeOf<t.PartialC<F>>>;
}

/**
 * Parses `args` against `flags` (`short` gives one-letter aliases); any flag not
 * declared, or given without its value, is a usage error followed by `help`. Every
 * command also takes `-h`/`--help`.
 *
 * @category destructors
 */
export const parseFlags = <F extends Flags>(
  help: string,
  args: ReadonlyArray<string>,
  flags: F,
  short: Readonly<Record<string, string>> = {},
): ParsedArgs<F> => {
  const options: NonNullable<ParseArgsConfig["options"]> = { help: { type: "boolean", short: "h" } };
  for (const [name, codec] of Object.entries(flags)) {
    const letter = short[name];
    options[name] = {
      type: codec instanceof t.BooleanType ? "boolean" : "string",
      multiple: codec instanceof t.ArrayType,
      ...(letter === undefined ? {} : { short: letter }),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}\n\n${help}`);
  }
  // The parser already holds each value to its declared type: a failure here is a flag
  // declared with a codec the parser cannot give.
  const decoded = t.partial(flags).decode(parsed.values);
  if (E.isLeft(decoded)) throw new Error(`flags not of their declared types: ${Object.keys(flags).join(", ")}`);
  return { positionals: parsed.positionals, values: decoded.right };
};
