/**
 * A `Packages` index: the binary packages of one suite, component and architecture,
 * with what resolution needs (name, version, architecture, Multi-Arch, Essential,
 * priority, relations) and what fetching needs (path in the archive, sha256, size).
 * Relations stay text until the resolver asks for them: of sixty thousand packages, a
 * resolution reads a few hundred.
 */
import type { Digest } from "../core/index.ts";
import { isDigest } from "../core/index.ts";
import type { Paragraph } from "./Control.ts";
import { compareVersions } from "./Version.ts";

/**
 * One binary package of an index.
 *
 * @category model
 */
export interface PackageRecord {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch: "same" | "foreign" | "allowed" | "no";
  readonly essential: boolean;
  readonly priority: string;
  readonly depends: string;
  readonly preDepends: string;
  readonly provides: string;
  readonly source: string;
  /** The path of the `.deb` under the archive's root, e.g. `pool/main/b/bash/bash_5.2.15-2+b2_amd64.deb`. */
  readonly filename: string;
  readonly sha256: Digest;
  readonly size: number;
}

/**
 * The fields of a Packages paragraph a record keeps (lower case).
 *
 * @category constants
 */
export const INDEX_FIELDS: ReadonlySet<string> = new Set([
  "package", "version", "architecture", "multi-arch", "essential", "priority", "depends", "pre-depends", "provides", "source", "filename", "sha256", "size",
]);

const MULTI_ARCH = new Set(["same", "foreign", "allowed", "no"]);

/**
 * A record from a Packages paragraph whose fields were read by `paragraphSplitter`
 * with {@link INDEX_FIELDS}, or undefined when it lacks what lading needs.
 *
 * @category constructors
 */
export const recordOf = (p: Paragraph): PackageRecord | undefined => {
  const name = p.get("package");
  const version = p.get("version");
  const architecture = p.get("architecture");
  const filename = p.get("filename");
  const sha256 = `sha256:${(p.get("sha256") ?? "").toLowerCase()}`;
  if (name === undefined || version === undefined || architecture === undefined || filename === undefined || !isDigest(sha256)) return undefined;
  const ma = p.get("multi-arch") ?? "no";
  return {
    name,
    version,
    architecture,
    multiArch: (MULTI_ARCH.has(ma) ? ma : "no") as PackageRecord["multiArch"],
    essential: p.get("essential") === "yes",
    priority: p.get("priority") ?? "optional",
    depends: p.get("depends") ?? "",
    preDepends: p.get("pre-depends") ?? "",
    provides: p.get("provides") ?? "",
    source: p.get("source") ?? name,
    filename,
    sha256,
    size: Number(p.get("size") ?? "0"),
  };
};

/**
 * One alternative of a dependency: `name[:arch] [(rel version)]`.
 *
 * @category model
 */
export interface Alternative {
  readonly name: string;
  readonly archQualifier?: string;
  readonly relation?: "<<" | "<=" | "=" | ">=" | ">>";
  readonly version?: string;
}

/**
 * A field of relations, `a (>= 1) | b, c`: a list of dependencies, each a list of
 * alternatives. Architecture restrictions `[...]` (source packages only) are dropped.
 *
 * @category constructors
 */
export const parseRelations = (text: string): ReadonlyArray<ReadonlyArray<Alternative>> =>
  text
    .split(",")
    .map((dep) => dep.trim())
    .filter((dep) => dep !== "")
    .map((dep) =>
      dep.split("|").flatMap((alt): Alternative[] => {
        const m = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?/.exec(alt.replace(/\[[^\]]*\]/g, ""));
        if (m === null) return [];
        const rel = m[3] === "<" ? "<=" : m[3] === ">" ? ">=" : (m[3] as Alternative["relation"]);
        return [{ name: m[1]!, ...(m[2] === undefined ? {} : { archQualifier: m[2] }), ...(rel === undefined ? {} : { relation: rel, version: m[4]! }) }];
      }),
    )
    .filter((alts) => alts.length > 0);

/**
 * Packages by name (every version, highest first), and who provides each virtual name.
 *
 * @category model
 */
export interface PackageIndex {
  readonly architecture: string;
  readonly byName: ReadonlyMap<string, ReadonlyArray<PackageRecord>>;
  readonly providers: ReadonlyMap<string, ReadonlyArray<{ readonly by: PackageRecord; readonly version?: string }>>;
}

/**
 * An index of the records of one architecture and `all`; others are skipped.
 *
 * @category constructors
 */
export const makeIndex = (architecture: string, records: Iterable<PackageRecord>): PackageIndex => {
  const byName = new Map<string, PackageRecord[]>();
  const providers = new Map<string, { by: PackageRecord; version?: string }[]>();
  for (const r of records) {
    if (r.architecture !== architecture && r.architecture !== "all") continue;
    const list = byName.get(r.name);
    if (list === undefined) byName.set(r.name, [r]);
    else if (!list.some((o) => o.version === r.version && o.architecture === r.architecture)) list.push(r);
    if (r.provides === "") continue;
    for (const [alt] of parseRelations(r.provides)) {
      if (alt === undefined) continue;
      const list = providers.get(alt.name) ?? [];
      list.push({ by: r, ...(alt.relation === "=" ? { version: alt.version! } : {}) });
      providers.set(alt.name, list);
    }
  }
  for (const list of byName.values()) list.sort((a, b) => compareVersions(b.version, a.version));
  return { architecture, byName, providers };
};
