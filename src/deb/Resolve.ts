/**
 * Resolution: the packages apt would install for a request, computed from an index
 * alone. As apt's `MarkInstall` does, each package's Pre-Depends and Depends are
 * satisfied in order: a dependency already met by a chosen (or already installed)
 * package, by name or through Provides, needs nothing; otherwise its first alternative
 * that has a candidate (the highest version meeting the constraint) is taken, and a
 * virtual name goes to its best provider. Cycles through Depends are accepted, as apt
 * and dpkg accept them; a cycle of Pre-Depends is refused, as apt refuses it. Essential
 * packages are added only when asked for. Conflicts and Breaks are not considered.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Alternative, PackageIndex, PackageRecord } from "./PackageIndex.ts";
import { parseRelations } from "./PackageIndex.ts";
import { satisfies } from "./Version.ts";

/**
 * A package asked for by name, optionally at an exact version.
 *
 * @category model
 */
export interface PackageRequest {
  readonly name: string;
  readonly version?: string;
}

/**
 * Why a request cannot be resolved, naming the package and the dependency.
 *
 * @category model
 */
export interface ResolveError {
  readonly package: string;
  readonly message: string;
}

/**
 * The resolved set, in the order packages were chosen, and what chose each.
 *
 * @category model
 */
export interface Resolution {
  readonly packages: ReadonlyArray<PackageRecord>;
}

const PRIORITY: Readonly<Record<string, number>> = { required: 5, important: 4, standard: 3, optional: 2, extra: 1 };

const formatAlternative = (a: Alternative): string =>
  `${a.name}${a.archQualifier === undefined ? "" : `:${a.archQualifier}`}${a.relation === undefined ? "" : ` (${a.relation} ${a.version!})`}`;

/** Whether a real package meets an alternative, by name, version and architecture qualifier. */
const meets = (r: PackageRecord, a: Alternative, arch: string): boolean => {
  if (r.name !== a.name) return false;
  if (a.archQualifier === "any" && r.multiArch !== "allowed") return false;
  if (a.archQualifier !== undefined && a.archQualifier !== "any" && a.archQualifier !== "native" && a.archQualifier !== r.architecture) return false;
  if (a.archQualifier === "native" && r.architecture !== arch && r.architecture !== "all") return false;
  return a.relation === undefined || satisfies(r.version, a.relation, a.version!);
};

/** Whether a provider's Provides entry meets an alternative: unversioned provides meet only unversioned dependencies. */
const providesMeet = (p: { readonly version?: string }, a: Alternative): boolean =>
  a.relation === undefined || (p.version !== undefined && satisfies(p.version, a.relation, a.version!));

/**
 * Resolves `requests` against `index`. `installed` are packages already in the image
 * (from a package set below): they satisfy dependencies and are not chosen again.
 * With `essential`, every Essential package is requested too.
 *
 * @category destructors
 */
export const resolve = (
  index: PackageIndex,
  requests: ReadonlyArray<PackageRequest>,
  options: { readonly installed?: ReadonlyArray<PackageRecord>; readonly essential?: boolean } = {},
): E.Either<ResolveError, Resolution> => {
  const arch = index.architecture;
  const installed = new Map((options.installed ?? []).map((r) => [r.name, r]));
  const chosen = new Map<string, PackageRecord>();
  /** Chosen and installed packages by a name they provide, with the provided version. */
  const provided = new Map<string, { by: PackageRecord; version?: string }[]>();
  const preDepends = new Map<string, string[]>();
  const have = (name: string): PackageRecord | undefined => chosen.get(name) ?? installed.get(name);
  const addProvides = (r: PackageRecord): void => {
    for (const [alt] of parseRelations(r.provides)) {
      if (alt === undefined) continue;
      const list = provided.get(alt.name) ?? [];
      list.push({ by: r, ...(alt.relation === "=" ? { version: alt.version! } : {}) });
      provided.set(alt.name, list);
    }
  };
  for (const r of installed.values()) addProvides(r);

  const met = (a: Alternative): boolean => {
    const r = have(a.name);
    if (r !== undefined && meets(r, a, arch)) return true;
    return (provided.get(a.name) ?? []).some((p) => providesMeet(p, a));
  };
  /** The package apt would choose for an alternative, if any. */
  const candidateFor = (a: Alternative): PackageRecord | undefined => {
    const real = (index.byName.get(a.name) ?? []).find((r) => meets(r, a, arch));
    if (real !== undefined) return real;
    const providers = (index.providers.get(a.name) ?? []).filter((p) => providesMeet(p, a) && (index.byName.get(p.by.name) ?? [])[0] === p.by);
    if (providers.length === 0) return undefined;
    // apt's order of providers: one already chosen, Essential, higher Priority, native
    // before `all`, then by name for a stable answer.
    const rank = (r: PackageRecord): number[] => [have(r.name) === r ? 1 : 0, r.essential ? 1 : 0, PRIORITY[r.priority] ?? 0, r.architecture === arch ? 1 : 0];
    const sorted = [...providers].sort((x, y) => {
      const rx = rank(x.by);
      const ry = rank(y.by);
      for (let i = 0; i < rx.length; i++) if (rx[i] !== ry[i]) return ry[i]! - rx[i]!;
      return x.by.name < y.by.name ? -1 : x.by.name > y.by.name ? 1 : 0;
    });
    return sorted[0]!.by;
  };

  const stack: PackageRecord[] = [];
  const mark = (r: PackageRecord): ResolveError | undefined => {
    const prev = have(r.name);
    if (prev !== undefined) {
      return prev.version === r.version ? undefined : { package: r.name, message: `needs ${r.name} ${r.version}, but ${prev.version} is already chosen` };
    }
    chosen.set(r.name, r);
    addProvides(r);
    stack.push(r);
    return undefined;
  };
  const satisfyAll = (r: PackageRecord): ResolveError | undefined => {
    const pre = parseRelations(r.preDepends);
    const deps = [...pre.map((d) => ({ d, pre: true })), ...parseRelations(r.depends).map((d) => ({ d, pre: false }))];
    for (const { d, pre: isPre } of deps) {
      const already = d.find(met);
      if (already !== undefined) {
        if (isPre) preDepends.set(r.name, [...(preDepends.get(r.name) ?? []), (have(already.name) ?? provided.get(already.name)?.[0]?.by)!.name]);
        continue;
      }
      const pick = d.map(candidateFor).find((c) => c !== undefined);
      if (pick === undefined) {
        return { package: r.name, message: `${r.name} ${r.version} depends on ${d.map(formatAlternative).join(" | ")}, which no package of the archive satisfies` };
      }
      if (isPre) preDepends.set(r.name, [...(preDepends.get(r.name) ?? []), pick.name]);
      const err = mark(pick);
      if (err !== undefined) return { package: r.name, message: `${r.name} ${r.version} depends on ${d.map(formatAlternative).join(" | ")}: ${err.message}` };
    }
    return undefined;
  };

  const wanted: PackageRequest[] = [...requests];
  if (options.essential === true) {
    for (const [name, list] of index.byName) if (list[0]!.essential && !installed.has(name)) wanted.push({ name });
  }
  for (const req of wanted) {
    const list = index.byName.get(req.name) ?? [];
    let r = req.version === undefined ? list[0] : list.find((x) => x.version === req.version);
    if (r === undefined && req.version === undefined) {
      const providers = index.providers.get(req.name) ?? [];
      const names = [...new Set(providers.map((p) => p.by.name))].sort();
      // As apt-get does: a virtual name with one provider installs it; with several, the
      // user must choose.
      if (names.length === 1) r = candidateFor({ name: req.name });
      else if (names.length > 1) return E.left({ package: req.name, message: `${req.name} is a virtual package provided by ${names.join(", ")}: name one of them` });
    }
    if (r === undefined) {
      return E.left({
        package: req.name,
        message: req.version === undefined || list.length === 0 ? `no package ${req.name} in the archive for ${arch}` : `${req.name} has no version ${req.version} in the archive (it has ${list.map((x) => x.version).join(", ")})`,
      });
    }
    if (installed.get(r.name)?.version === r.version) continue;
    const err = mark(r);
    if (err !== undefined) return E.left(err);
    // Depth first, as apt's MarkInstall recurses: a package's dependencies are settled
    // before the next request's.
    while (stack.length > 0) {
      const next = stack.pop()!;
      const e = satisfyAll(next);
      if (e !== undefined) return E.left(e);
    }
  }
  const cycle = preDependsCycle(preDepends);
  if (cycle !== undefined) return E.left({ package: cycle[0]!, message: `a Pre-Depends cycle: ${cycle.join(" -> ")}; apt cannot order it either` });
  return E.right({ packages: [...chosen.values()] });
};

/** A cycle of the Pre-Depends graph, as the names along it, or undefined. */
const preDependsCycle = (edges: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<string> | undefined => {
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (n: string): ReadonlyArray<string> | undefined => {
    if (state.get(n) === 2) return undefined;
    if (state.get(n) === 1) return [...path.slice(path.indexOf(n)), n];
    state.set(n, 1);
    path.push(n);
    for (const m of edges.get(n) ?? []) {
      const c = visit(m);
      if (c !== undefined) return c;
    }
    path.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of [...edges.keys()].sort()) {
    const c = visit(n);
    if (c !== undefined) return c;
  }
  return undefined;
};
