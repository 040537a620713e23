/**
 * Debian version numbers, `[epoch:]upstream[-revision]`, compared as dpkg compares them
 * (deb-version(7)): the epoch as a number, then upstream and revision by alternating runs
 * of non-digits (letters before other characters, `~` before everything, even the end)
 * and digits (as numbers).
 */

/**
 * A version split into its three parts; a missing epoch is 0, a missing revision "".
 *
 * @category model
 */
export interface DebianVersion {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

/**
 * Splits a version string at its first `:` and last `-`, as dpkg does.
 *
 * @category constructors
 */
export const parseVersion = (text: string): DebianVersion => {
  const v = text.trim();
  const colon = v.indexOf(":");
  const epoch = colon > 0 && /^[0-9]+$/.test(v.slice(0, colon)) ? Number(v.slice(0, colon)) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf("-");
  return dash < 0 ? { epoch, upstream: rest, revision: "" } : { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) };
};

/** dpkg's weight of one character in a non-digit run: `~` below the end, letters below the rest. */
const order = (c: string | undefined): number => {
  if (c === undefined) return 0;
  if (c === "~") return -1;
  if (/[0-9]/.test(c)) return 0;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

/** dpkg's verrevcmp: one part (upstream or revision) against another. */
const comparePart = (a: string, b: string): number => {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let first = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const d = order(a[i]) - order(b[j]);
      if (d !== 0) return d;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (first === 0) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (first !== 0) return first;
  }
  return 0;
};

/**
 * Compares two versions: negative, zero or positive, as `dpkg --compare-versions` orders
 * them.
 *
 * @category destructors
 */
export const compareVersions = (a: string, b: string): number => {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return Math.sign(comparePart(x.upstream, y.upstream)) || Math.sign(comparePart(x.revision, y.revision));
};

/**
 * A version relation of a dependency, as written in a control file.
 *
 * @category model
 */
export type Relation = "<<" | "<=" | "=" | ">=" | ">>";

/**
 * Whether `version` satisfies `relation constraint`. The obsolete `<` and `>` mean `<=`
 * and `>=`, as dpkg still reads them.
 *
 * @category refinements
 */
export const satisfies = (version: string, relation: Relation, constraint: string): boolean => {
  const c = compareVersions(version, constraint);
  switch (relation) {
    case "<<":
      return c < 0;
    case "<=":
      return c <= 0;
    case "=":
      return c === 0;
    case ">=":
      return c >= 0;
    case ">>":
      return c > 0;
    default: {
      const never: never = relation;
      throw new Error(`unknown relation ${String(never)}`);
    }
  }
};
