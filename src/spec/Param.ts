/**
 * Parameters of an image: an export can be a function of typed values given on the
 * command line (`lading build spec.ts#app --arg version=1.2.3`), the functional form of a
 * Dockerfile's ARG. The parameters are declared once, as an io-ts codec over the
 * arguments' strings, which gives both the static type the function is checked against
 * and the decoder the CLI runs: a missing or malformed argument is an error that names
 * it, before anything is planned.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Image } from "./Image.ts";
import { hasTag } from "./Tagged.ts";

/**
 * The arguments as given on the command line: `NAME=VALUE` pairs.
 *
 * @category model
 */
export type Arguments = Readonly<Record<string, string>>;

/**
 * A codec from one argument (a string, or `undefined` when not given) to a value.
 *
 * @category model
 */
export type Param<A> = t.Type<A, string | undefined, unknown>;

/**
 * An image that is a function of parameters: nothing is built until arguments are given
 * and decoded by `params`.
 *
 * @category model
 */
export interface Parameterized<P> {
  readonly _tag: "Parameterized";
  readonly params: t.Decoder<unknown, P>;
  readonly make: (params: P) => Image;
}

/**
 * A string argument.
 *
 * @category constructors
 */
export const string: Param<string> = new t.Type<string, string | undefined, unknown>("string", (u): u is string => typeof u === "string", (u, c) => (typeof u === "string" ? t.success(u) : t.failure(u, c, "a value is required")), (a) => a);

/**
 * A number argument, written in decimal (`3`, `0.5`).
 *
 * @category constructors
 */
export const number: Param<number> = new t.Type<number, string | undefined, unknown>(
  "number",
  (u): u is number => typeof u === "number",
  (u, c) => {
    if (typeof u !== "string") return t.failure(u, c, "a value is required");
    const n = Number(u);
    return u.trim() !== "" && Number.isFinite(n) ? t.success(n) : t.failure(u, c, "a number is expected");
  },
  (a) => String(a),
);

/**
 * A boolean argument: `true` or `false`.
 *
 * @category constructors
 */
export const boolean: Param<boolean> = new t.Type<boolean, string | undefined, unknown>(
  "boolean",
  (u): u is boolean => typeof u === "boolean",
  (u, c) => (u === "true" ? t.success(true) : u === "false" ? t.success(false) : t.failure(u, c, typeof u === "string" ? "true or false is expected" : "a value is required")),
  (a) => String(a),
);

/**
 * One of the given strings: `Param.oneOf("dev", "prod")`.
 *
 * @category constructors
 */
export const oneOf = <const L extends readonly [string, ...string[]]>(...values: L): Param<L[number]> =>
  new t.Type<L[number], string | undefined, unknown>(
    values.join(" | "),
    (u): u is L[number] => typeof u === "string" && values.includes(u),
    (u, c) => (typeof u === "string" && values.includes(u) ? t.success(u) : t.failure(u, c, typeof u === "string" ? `one of ${values.join(", ")} is expected` : "a value is required")),
    (a) => a,
  );

/**
 * The same parameter with a default, used when the argument is not given.
 *
 * @category combinators
 */
export const withDefault =
  <A>(value: A) =>
  (param: Param<A>): Param<A> =>
    new t.Type<A, string | undefined, unknown>(param.name, param.is, (u, c) => (u === undefined ? t.success(value) : param.validate(u, c)), param.encode);

/**
 * The parameters of an image, by name: `Param.struct({ version: Param.string })`.
 * An argument it does not name is an error too.
 *
 * @category constructors
 */
export const struct = <P extends t.Props>(params: P): t.Decoder<unknown, { readonly [K in keyof P]: t.TypeOf<P[K]> }> => {
  const codec = t.type(params);
  const validate: t.Validate<unknown, { readonly [K in keyof P]: t.TypeOf<P[K]> }> = (u, c) => {
      const unknownNames = typeof u === "object" && u !== null ? Object.keys(u).filter((k) => !(k in params)) : [];
    const decoded = codec.validate(u, c) as t.Validation<{ readonly [K in keyof P]: t.TypeOf<P[K]> }>;
    if (unknownNames.length === 0) return decoded;
    // Every problem at once: the names it does not take, then the values it cannot.
    return t.failures([
      ...unknownNames.map((k) => ({ value: (u as Record<string, unknown>)[k], context: [...c, { key: k, type: t.never, actual: undefined }], message: `no such parameter (this image takes ${Object.keys(params).join(", ") || "none"})` })),
      ...(E.isLeft(decoded) ? decoded.left : []),
    ]);
  };
  return { name: codec.name, validate, decode: (u) => validate(u, [{ key: "", type: codec, actual: u }]) };
};

/**
 * An image made from parameters: `Image.parameterized(Param.struct({ version: Param.string }), ({ version }) => pipe(...))`.
 *
 * @category constructors
 */
export const parameterized = <P>(params: t.Decoder<unknown, P>, make: (params: P) => Image): Parameterized<P> =>
  Object.freeze({ _tag: "Parameterized", params, make });

/**
 * Whether a value is a parameterized image, by its `_tag`.
 *
 * @category refinements
 */
export const isParameterized = (u: unknown): u is Parameterized<unknown> => hasTag(u, "Parameterized");

/**
 * Applies arguments: the image, or one message per argument that does not decode, each
 * naming it.
 *
 * @category destructors
 */
export const applyArguments = <P>(p: Parameterized<P>, args: Arguments): E.Either<ReadonlyArray<string>, Image> => {
  const r = p.params.decode(args);
  if (E.isRight(r)) return E.right(p.make(r.right));
  return E.left(
    r.left.map((e) => {
      const name = e.context[1]?.key ?? "";
      if (e.value === undefined) return `argument ${JSON.stringify(name)} is missing`;
      return `argument ${JSON.stringify(name)}: ${e.message ?? `${e.context[e.context.length - 1]?.type.name ?? "a value"} is expected`}, got ${JSON.stringify(e.value)}`;
    }),
  );
};
