/**
 * The build plan's codecs: `lading plan --json` decoded back into a {@link BuildPlan},
 * every field checked, so a plan read from a file or another tool is data lading can
 * trust, and tests read plans as values rather than casting JSON. An entry is a tagged
 * union on `type`: a file has its size and digest, a link its target.
 */
import type * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Diagnostic, ImagePath } from "../core/index.ts";
import { decodeJson, DigestC } from "../oci/index.ts";
import type { BuildPlan } from "./BuildPlan.ts";

const ImagePathC = new t.Type<ImagePath, string, unknown>(
  "ImagePath",
  (u): u is ImagePath => typeof u === "string" && u.startsWith("/"),
  (u, c) => (typeof u === "string" && u.startsWith("/") ? t.success(u as ImagePath) : t.failure(u, c, "an absolute image path")),
  (p) => p,
);

const Owned = { path: ImagePathC, mode: t.number, uid: t.number, gid: t.number };
const StringMap = t.record(t.string, t.string);

/**
 * A union told apart by its `type` field: a value is checked against its type's codec
 * alone, so a diagnostic names what that kind lacks rather than what another kind wants.
 */
const byType = <M extends Record<string, t.Mixed>>(name: string, members: M): t.Type<t.TypeOf<M[keyof M]>, t.OutputOf<M[keyof M]>, unknown> => {
  const kinds = Object.keys(members);
  const memberOf = (u: unknown): t.Mixed | undefined => {
    const type = typeof u === "object" && u !== null ? (u as { type?: unknown }).type : undefined;
    return typeof type === "string" && Object.hasOwn(members, type) ? members[type] : undefined;
  };
  return new t.Type(
    name,
    (u): u is t.TypeOf<M[keyof M]> => memberOf(u)?.is(u) === true,
    (u, c) => {
      const member = memberOf(u);
      if (member !== undefined) return member.validate(u, c) as t.Validation<t.TypeOf<M[keyof M]>>;
      const type = typeof u === "object" && u !== null ? (u as { type?: unknown }).type : undefined;
      return t.failure(type, t.appendContext(c, "type", t.string, type), `a type: ${kinds.join(", ")}`);
    },
    (a) => memberOf(a)!.encode(a) as t.OutputOf<M[keyof M]>,
  );
};

const Linked = t.intersection([t.type({ ...Owned, type: t.union([t.literal("symlink"), t.literal("hardlink")]), target: t.string }), t.partial({ xattrs: StringMap })]);

/** A planned tar entry, by type: a file has its size and digest, a link its target. */
export const PlannedEntryC = byType("PlannedEntry", {
  file: t.intersection([t.type({ ...Owned, type: t.literal("file"), size: t.number, digest: DigestC }), t.partial({ source: t.string, xattrs: StringMap })]),
  dir: t.intersection([t.type({ ...Owned, type: t.literal("dir") }), t.partial({ xattrs: StringMap })]),
  symlink: Linked,
  hardlink: Linked,
});

const PlannedMountC = t.union([
  t.type({ type: t.literal("bind"), target: t.string, source: t.string, digest: DigestC }),
  t.type({ type: t.literal("cache"), target: t.string, id: t.string }),
  t.intersection([t.type({ type: t.literal("secret"), target: t.string }), t.partial({ env: t.string, file: t.string })]),
]);

const PlannedRunC = t.intersection([
  t.type({
    argv: t.array(t.string),
    env: t.array(t.string),
    workingDir: t.string,
    user: t.string,
    mounts: t.array(PlannedMountC),
    network: t.union([t.literal("none"), t.literal("host")]),
    limits: t.partial({ memory: t.number, cpus: t.number, pids: t.number, timeout: t.number }),
  }),
  t.partial({ shell: t.string }),
]);

/**
 * A Debian package as lading.lock pins it: a planned package but for whether it is
 * installed or only gives files.
 *
 * @category instances
 */
export const PinnedPackageC = t.type({
  name: t.string,
  version: t.string,
  architecture: t.string,
  sha256: DigestC,
  size: t.number,
  filename: t.string,
  source: t.string,
});

const PlannedPackageC = t.intersection([PinnedPackageC, t.type({ installed: t.boolean })]);

const FileStatC = t.type({ type: t.union([t.literal("file"), t.literal("dir"), t.literal("other")]), mode: t.number, uid: t.number, gid: t.number, size: t.number });

const PlannedLayerC = t.intersection([
  t.type({ name: t.string, entries: t.array(PlannedEntryC), contentSize: t.number, cacheKey: DigestC }),
  t.partial({
    comment: t.string,
    run: PlannedRunC,
    packages: t.array(PlannedPackageC),
    fetched: t.array(t.type({ url: t.string, sha256: DigestC })),
    archives: t.array(t.type({ source: t.string, digest: DigestC, path: ImagePathC })),
    reads: t.array(t.intersection([t.type({ path: ImagePathC }), t.partial({ stat: FileStatC, digest: DigestC })])),
  }),
]);

const PlannedBaseC = t.type({
  reference: t.string,
  pinned: DigestC,
  digest: DigestC,
  config: t.UnknownRecord,
  history: t.array(t.partial({ created: t.string, created_by: t.string, author: t.string, comment: t.string, empty_layer: t.boolean })),
  layers: t.array(t.type({ mediaType: t.string, digest: DigestC, size: t.number, diffId: DigestC })),
});

const PortMap = t.record(t.string, t.type({}));

const ConfigC = t.partial({
  Env: t.array(t.string),
  Entrypoint: t.array(t.string),
  Cmd: t.array(t.string),
  WorkingDir: t.string,
  User: t.string,
  ExposedPorts: PortMap,
  Volumes: PortMap,
  Labels: StringMap,
  StopSignal: t.string,
  Healthcheck: t.intersection([
    t.type({ Test: t.array(t.string) }),
    t.partial({ Interval: t.number, Timeout: t.number, StartPeriod: t.number, StartInterval: t.number, Retries: t.number }),
  ]),
});

/**
 * A whole build plan, as `lading plan --json` prints it.
 *
 * @category instances
 */
export const BuildPlanC = t.intersection(
  [
    t.type({
      exportName: t.string,
      platform: t.intersection([t.type({ os: t.string, architecture: t.string }), t.partial({ variant: t.string })]),
      config: ConfigC,
      annotations: StringMap,
      created: t.number,
      format: t.type({ tar: t.string, compression: t.string }),
      layers: t.array(PlannedLayerC),
    }),
    t.partial({ arguments: StringMap, base: PlannedBaseC }),
  ],
  "BuildPlan",
);

// What the codec decodes is a BuildPlan: this line stops compiling if the two drift apart.
const _decodesToPlan = (p: t.TypeOf<typeof BuildPlanC>): BuildPlan => p;
void _decodesToPlan;

/**
 * Decodes `lading plan --json` output; the diagnostic names `where` and the first field
 * that is not what a plan holds.
 *
 * @category destructors
 */
export const decodePlan = (text: string, where: string): E.Either<Diagnostic, BuildPlan> => decodeJson(BuildPlanC, text, where);
