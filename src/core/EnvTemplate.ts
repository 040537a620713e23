/**
 * Environment values as Docker's ENV writes them: `$NAME` and `${NAME}` expand to the
 * value the image has so far, `${NAME:-word}` to `word` when it is unset or empty,
 * `${NAME:+word}` to `word` when it is set and not empty. `\$` is a literal `$` (the
 * escape Docker uses); any other backslash, and a `$` not followed by a name or `{`,
 * stay as written.
 *
 * Expansion happens in two steps, so that a spec can build on a base whose env is known
 * only when the image is planned: `substituteKnown` resolves references to what the spec
 * has set so far and keeps the others (and escapes) as template text, and
 * `expandTemplate` expands what is left against the base's env, once.
 */

/** One piece of a template: literal text, an escaped `$`, or a reference. */
type Part =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Dollar" }
  | { readonly _tag: "Ref"; readonly name: string; readonly braced: boolean; readonly op?: ":-" | ":+"; readonly word: ReadonlyArray<Part> };

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Parses from `i` up to an unmatched `}` (when `inBraces`) or the end. */
const parse = (s: string, i: number, inBraces: boolean): { readonly parts: Part[]; readonly end: number } => {
  const parts: Part[] = [];
  let text = "";
  const flush = (): void => {
    if (text !== "") parts.push({ _tag: "Text", text });
    text = "";
  };
  while (i < s.length) {
    const c = s[i]!;
    if (inBraces && c === "}") break;
    if (c === "\\" && s[i + 1] === "$") {
      flush();
      parts.push({ _tag: "Dollar" });
      i += 2;
      continue;
    }
    if (c === "$" && s[i + 1] !== undefined && NAME_START.test(s[i + 1]!)) {
      flush();
      let j = i + 1;
      while (j < s.length && NAME_CHAR.test(s[j]!)) j++;
      parts.push({ _tag: "Ref", name: s.slice(i + 1, j), braced: false, word: [] });
      i = j;
      continue;
    }
    if (c === "$" && s[i + 1] === "{") {
      let j = i + 2;
      while (j < s.length && NAME_CHAR.test(s[j]!)) j++;
      const name = s.slice(i + 2, j);
      const op = s.slice(j, j + 2);
      if (name !== "" && NAME_START.test(name[0]!) && s[j] === "}") {
        flush();
        parts.push({ _tag: "Ref", name, braced: true, word: [] });
        i = j + 1;
        continue;
      }
      if (name !== "" && NAME_START.test(name[0]!) && (op === ":-" || op === ":+")) {
        const inner = parse(s, j + 2, true);
        if (s[inner.end] === "}") {
          flush();
          parts.push({ _tag: "Ref", name, braced: true, op, word: inner.parts });
          i = inner.end + 1;
          continue;
        }
      }
    }
    text += c;
    i++;
  }
  flush();
  return { parts, end: i };
};

type Ref = Extract<Part, { readonly _tag: "Ref" }>;

/** A template's parts as text: literal text as it is, `\$` as `dollar`, each reference by `ref`. */
const textOf = (parts: ReadonlyArray<Part>, dollar: string, ref: (p: Ref) => string): string =>
  parts.map((p) => (p._tag === "Text" ? p.text : p._tag === "Dollar" ? dollar : ref(p))).join("");

/** The parts written back as template text. */
const render = (parts: ReadonlyArray<Part>): string =>
  textOf(parts, "\\$", (p) => (p.op === undefined ? `\${${p.name}}` : `\${${p.name}${p.op}${render(p.word)}}`));

/**
 * Resolves the references to names in `known` (whose values are templates themselves,
 * inserted as written) and keeps every other reference and escape as template text.
 *
 * @category combinators
 */
export const substituteKnown = (template: string, known: Readonly<Record<string, string>>): string => {
  const has = (n: string): boolean => Object.prototype.hasOwnProperty.call(known, n);
  const go = (parts: ReadonlyArray<Part>): string =>
    textOf(parts, "\\$", (p) => {
      if (!has(p.name)) return p.op === undefined ? render([p]) : `\${${p.name}${p.op}${go(p.word)}}`;
      const value = known[p.name]!;
      if (p.op === ":-") return value === "" ? go(p.word) : value;
      if (p.op === ":+") return value === "" ? "" : go(p.word);
      return value;
    });
  return go(parse(template, 0, false).parts);
};

/**
 * Expands a template against `env`, once: a name `env` lacks expands to the empty
 * string (as in Docker) and is reported in `unset`; `\$` becomes `$`.
 *
 * @category destructors
 */
export const expandTemplate = (template: string, env: ReadonlyMap<string, string>): { readonly value: string; readonly unset: ReadonlyArray<string> } => {
  const unset = new Set<string>();
  const go = (parts: ReadonlyArray<Part>): string =>
    textOf(parts, "$", (p) => {
      const value = env.get(p.name);
      if (p.op === ":-") return value === undefined || value === "" ? go(p.word) : value;
      if (p.op === ":+") return value === undefined || value === "" ? "" : go(p.word);
      if (value === undefined) unset.add(p.name);
      return value ?? "";
    });
  return { value: go(parse(template, 0, false).parts), unset: [...unset] };
};
