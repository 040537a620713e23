/**
 * io-ts codecs for the OCI documents lading reads from outside, and a decoder that turns
 * a failure into a diagnostic saying what was expected, what came, and where. The static
 * types are derived from the codecs, so they cannot drift apart.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Diagnostic, Digest } from "../core/index.ts";
import { error, isDigest } from "../core/index.ts";

/**
 * Accepts only a `sha256:<64 lowercase hex>` string, typed as a `Digest`; anything else
 * fails with that expectation.
 *
 * @category codecs
 */
export const DigestC = new t.Type<Digest, string, unknown>(
  "Digest",
  (u): u is Digest => typeof u === "string" && isDigest(u),
  (u, c) => (typeof u === "string" && isDigest(u) ? t.success(u) : t.failure(u, c, "a sha256:<64 hex> digest")),
  (d) => d,
);

const StringMap = t.record(t.string, t.string);

/** A string `test` accepts; `expected` says what in a failure. */
const stringWhere = (name: string, expected: string, test: (s: string) => boolean): t.Type<string, string, unknown> =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === "string" && test(u),
    (u, c) => (typeof u === "string" && test(u) ? t.success(u) : t.failure(u, c, expected)),
    (s) => s,
  );

/**
 * `codec`, refusing a document that also has any of `fields`: a manifest that is also
 * an index (CVE-2021-41190) means one thing to one reader and another to the next.
 */
const without = <A, O>(codec: t.Type<A, O, unknown>, fields: ReadonlyArray<string>, what: string): t.Type<A, O, unknown> =>
  new t.Type<A, O, unknown>(
    codec.name,
    (u): u is A => codec.is(u) && fields.every((f) => !(f in (u as object))),
    (u, c) => {
      const found = typeof u === "object" && u !== null ? fields.find((f) => f in u) : undefined;
      return found === undefined ? codec.validate(u, c) : t.failure(u, [...c, { key: found, type: codec, actual: (u as Record<string, unknown>)[found] }], `no ${found} field: ${what}`);
    },
    codec.encode,
  );

const Size = new t.Type<number, number, unknown>(
  "Size",
  (u): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 0,
  (u, c) => (typeof u === "number" && Number.isSafeInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c, "a size in bytes (a whole number, 0 or more)")),
  (n) => n,
);

/**
 * The platform of an index descriptor: os and architecture, optionally variant and
 * `os.version`.
 *
 * @category codecs
 */
export const PlatformC = t.intersection([
  t.type({ architecture: t.string, os: t.string }),
  t.partial({ variant: t.string, "os.version": t.string }),
]);

/**
 * A reference to a blob: media type, digest and size in bytes, optionally annotations,
 * platform and download urls.
 *
 * @category codecs
 */
export const Descriptor = t.intersection([
  t.type({ mediaType: t.string, digest: DigestC, size: Size }),
  t.partial({ annotations: StringMap, platform: PlatformC, urls: t.array(t.string) }),
]);
/**
 * A decoded descriptor; derived from the codec, so type and check cannot disagree.
 *
 * @category model
 */
export type Descriptor = t.TypeOf<typeof Descriptor>;

/**
 * An image manifest (schema version 2): the config descriptor and the layer descriptors,
 * bottom layer first.
 *
 * @category codecs
 */
export const Manifest = without(
  t.intersection([
    t.type({ schemaVersion: t.literal(2), config: Descriptor, layers: t.array(Descriptor) }),
    t.partial({ mediaType: stringWhere("ManifestMediaType", "a manifest media type, not an index's", (m) => !m.endsWith("image.index.v1+json") && !m.endsWith("manifest.list.v2+json")), annotations: StringMap }),
  ]),
  ["manifests"],
  "a manifest that is also an index is ambiguous",
);
/**
 * A decoded manifest; derived from the codec.
 *
 * @category model
 */
export type Manifest = t.TypeOf<typeof Manifest>;

/**
 * An image index, such as an OCI layout's `index.json`: one descriptor per manifest.
 *
 * @category codecs
 */
export const Index = without(
  t.intersection([
    t.type({ schemaVersion: t.literal(2), manifests: t.array(Descriptor) }),
    t.partial({ mediaType: stringWhere("IndexMediaType", "an index media type, not a manifest's", (m) => !m.endsWith("image.manifest.v1+json") && !m.endsWith("manifest.v2+json")), annotations: StringMap }),
  ]),
  ["layers", "config"],
  "an index that is also a manifest is ambiguous",
);
/**
 * A decoded index; derived from the codec.
 *
 * @category model
 */
export type Index = t.TypeOf<typeof Index>;

const EmptyObjectMap = t.record(t.string, t.UnknownRecord);

/** `KEY=VALUE`, KEY not empty: what the image spec says an Env entry is. */
const EnvEntry = stringWhere("EnvEntry", "an Env entry VARIABLE=VALUE", (e) => e.indexOf("=") > 0);

/** `port/protocol` or `port`, as the image spec writes an exposed port. */
const isPort = (p: string): boolean => {
  const m = /^([0-9]{1,5})(\/(tcp|udp|sctp))?$/.exec(p);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535;
};

/** A set of exposed ports, keyed `PORT[/PROTO]`; every key checked (a record codec would drop a bad one silently). */
const ExposedPorts = new t.Type<Record<string, Record<string, unknown>>, Record<string, Record<string, unknown>>, unknown>(
  "ExposedPorts",
  (u): u is Record<string, Record<string, unknown>> => EmptyObjectMap.is(u) && Object.keys(u).every(isPort),
  (u, c) => {
    const bad = typeof u === "object" && u !== null ? Object.keys(u).find((k) => !isPort(k)) : undefined;
    return bad === undefined ? EmptyObjectMap.validate(u, c) : t.failure(bad, c, "a port as PORT/tcp, PORT/udp, PORT/sctp or PORT");
  },
  (m) => m,
);

/** An RFC 3339 date-time, as the image spec's `created` fields are. */
const DateTime = stringWhere("DateTime", "an RFC 3339 date-time", (d) => /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(d) && !Number.isNaN(Date.parse(d)));

const NonEmpty = stringWhere("NonEmptyString", "a non-empty string", (s) => s !== "");

/**
 * An image config: platform, runtime config (in Docker's field spelling, which OCI
 * kept), the diff_ids of the uncompressed layers, and history, held to the image spec's
 * rules (Env entries `NAME=VALUE`, ports `PORT[/PROTO]`, RFC 3339 times), so every
 * reader refuses the same configs.
 *
 * @category codecs
 */
export const ImageConfig = t.intersection([
  t.type({
    architecture: NonEmpty,
    os: NonEmpty,
    rootfs: t.type({ type: t.literal("layers"), diff_ids: t.array(DigestC) }),
  }),
  t.partial({
    variant: t.string,
    created: DateTime,
    author: t.string,
    config: t.partial({
      User: t.string,
      ExposedPorts,
      Env: t.array(EnvEntry),
      Entrypoint: t.union([t.array(t.string), t.null]),
      Cmd: t.union([t.array(t.string), t.null]),
      Volumes: EmptyObjectMap,
      WorkingDir: t.string,
      Labels: StringMap,
      StopSignal: t.string,
    }),
    history: t.array(
      t.partial({ created: DateTime, created_by: t.string, author: t.string, comment: t.string, empty_layer: t.boolean }),
    ),
  }),
]);
/**
 * A decoded image config; derived from the codec.
 *
 * @category model
 */
export type ImageConfig = t.TypeOf<typeof ImageConfig>;

/**
 * The `manifest.json` of a docker-archive (`docker save`) tarball: per image, the
 * config file, the layer files bottom first, and the names it is tagged with.
 *
 * @category codecs
 */
export const DockerArchiveManifest = t.array(
  t.intersection([
    t.type({ Config: t.string, Layers: t.array(t.string) }),
    t.partial({ RepoTags: t.union([t.array(t.string), t.null]) }),
  ]),
);
/**
 * A decoded docker-archive `manifest.json`; derived from the codec.
 *
 * @category model
 */
export type DockerArchiveManifest = t.TypeOf<typeof DockerArchiveManifest>;

/**
 * The `oci-layout` file at the root of an OCI layout, which names the layout version.
 *
 * @category codecs
 */
export const OciLayout = t.type({ imageLayoutVersion: t.string });

const describe = (errors: t.Errors): string =>
  errors
    .slice(0, 3)
    .map((e) => {
      const path = e.context
        .map((c) => c.key)
        .filter((k) => k !== "")
        .join(".");
      const expected = e.message ?? e.context[e.context.length - 1]?.type.name ?? "?";
      const got = JSON.stringify(e.value);
      return `at ${path === "" ? "(top)" : path}: expected ${expected}, got ${got === undefined ? "nothing" : got.length > 60 ? `${got.slice(0, 57)}...` : got}`;
    })
    .join("; ");

/**
 * Decodes untrusted JSON text with a codec; `where` names the source in the diagnostic.
 *
 * @category destructors
 */
export const decodeJson = <A>(codec: t.Decoder<unknown, A>, text: string, where: string): E.Either<Diagnostic, A> => {
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch (e) {
    return E.left(error({ file: where }, `not valid JSON: ${(e as Error).message}`));
  }
  return E.mapLeft((errs: t.Errors) => error({ file: where }, `not a valid ${codec.name}: ${describe(errs)}`))(codec.decode(u));
};

/**
 * lading's runtime settings as an image carries them in its `org.lading.runtime` label
 * (canonical JSON): limits, capability changes, a read-only root with tmpfs mounts,
 * sysctls and the network. Lowered into the OCI runtime config of a bundle or a run.
 *
 * @category model
 */
export const RuntimeSettings = t.partial({
  memory: t.number,
  cpus: t.number,
  pids: t.number,
  capAdd: t.array(t.string),
  capDrop: t.array(t.string),
  readOnlyRoot: t.boolean,
  tmpfs: t.array(t.string),
  sysctls: StringMap,
  network: t.union([t.literal("none"), t.literal("host")]),
});
/**
 * Decoded runtime settings; derived from the codec.
 *
 * @category model
 */
export type RuntimeSettings = t.TypeOf<typeof RuntimeSettings>;
