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

/**
 * The platform of an index descriptor: os and architecture, optionally variant and
 * `os.version`.
 *
 * @category codecs
 */
export const Platform = t.intersection([
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
  t.type({ mediaType: t.string, digest: DigestC, size: t.number }),
  t.partial({ annotations: StringMap, platform: Platform, urls: t.array(t.string) }),
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
export const Manifest = t.intersection([
  t.type({ schemaVersion: t.literal(2), config: Descriptor, layers: t.array(Descriptor) }),
  t.partial({ mediaType: t.string, annotations: StringMap }),
]);
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
export const Index = t.intersection([
  t.type({ schemaVersion: t.literal(2), manifests: t.array(Descriptor) }),
  t.partial({ mediaType: t.string, annotations: StringMap }),
]);
/**
 * A decoded index; derived from the codec.
 *
 * @category model
 */
export type Index = t.TypeOf<typeof Index>;

const EmptyObjectMap = t.record(t.string, t.UnknownRecord);

/**
 * An image config: platform, runtime config (in Docker's field spelling, which OCI
 * kept), the diff_ids of the uncompressed layers, and history.
 *
 * @category codecs
 */
export const ImageConfig = t.intersection([
  t.type({
    architecture: t.string,
    os: t.string,
    rootfs: t.type({ type: t.literal("layers"), diff_ids: t.array(DigestC) }),
  }),
  t.partial({
    variant: t.string,
    created: t.string,
    author: t.string,
    config: t.partial({
      User: t.string,
      ExposedPorts: EmptyObjectMap,
      Env: t.array(t.string),
      Entrypoint: t.union([t.array(t.string), t.null]),
      Cmd: t.union([t.array(t.string), t.null]),
      Volumes: EmptyObjectMap,
      WorkingDir: t.string,
      Labels: StringMap,
      StopSignal: t.string,
    }),
    history: t.array(
      t.partial({ created: t.string, created_by: t.string, author: t.string, comment: t.string, empty_layer: t.boolean }),
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
