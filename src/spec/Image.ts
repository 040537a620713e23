/**
 * Images: an ordered list of layers plus configuration, as an immutable value.
 * Every combinator is curried and data-last, so an image reads as
 * `pipe(Image.scratch, Image.withLayer(l), Image.withCmd([...]))`. Building on another
 * image is just starting the pipe from it: its layers and config are inherited. An image
 * from a registry is `Image.pull(reference)`: a value naming it, resolved only when the
 * image is planned.
 */
import type { ImagePath } from "../core/ImagePath.ts";
import { substituteKnown } from "../core/EnvTemplate.ts";
import type { Config, HealthcheckOptions, Port, Signal } from "./Config.ts";
import { empty as emptyConfig } from "./Config.ts";
import type { PackageSet } from "./Debian.ts";
import { layer as packageLayer } from "./Debian.ts";
import type { Layer } from "./Layer.ts";
import type { Run, RunOptions } from "./Run.ts";
import type { Runtime } from "./Runtime.ts";
import type { Platform } from "./Platform.ts";
import { linuxAmd64 } from "./Platform.ts";
import { hasTag } from "./Tagged.ts";

/**
 * A registry reference with its host: `HOST/REPOSITORY[:TAG][@DIGEST]`, e.g.
 * `docker.io/library/debian:bookworm-slim`. A name without a host is a type error, so
 * an image never comes from a registry the spec does not name.
 *
 * @category model
 */
export type PullReference = `${string}/${string}`;

/**
 * A base image from a registry, as the spec names it: nothing is fetched until plan.
 *
 * @category model
 */
export interface Pull {
  readonly _tag: "Pull";
  readonly reference: PullReference;
}

/**
 * An image as an immutable value: its base (none for `scratch`), its own layers bottom
 * first, runtime config, platform, and the annotations of its manifest. Describing one
 * reads and builds nothing.
 *
 * @category model
 */
export interface Image {
  readonly _tag: "Image";
  readonly base?: Pull;
  /** Layers and run steps, bottom first: a step's output is a layer at its place. */
  readonly layers: ReadonlyArray<Layer | Run>;
  readonly config: Config;
  readonly platform: Platform;
  readonly annotations: Readonly<Record<string, string>>;
  /** Runtime settings for containers of the image; none unless `withRuntime` sets them. */
  readonly runtime?: Runtime;
}

/**
 * The empty image: no layers, empty config, linux/amd64.
 *
 * @category constructors
 */
export const scratch: Image = Object.freeze({
  _tag: "Image",
  layers: Object.freeze([]),
  config: emptyConfig,
  platform: linuxAmd64,
  annotations: Object.freeze({}),
});

/**
 * An image from a registry, to build on: `pipe(Image.pull("docker.io/library/debian:bookworm-slim"), Image.withLayer(app))`.
 * Lazy: the reference is resolved at plan time, for the image's platform (chosen from
 * a multi-platform index), through `lading.lock` when it pins the reference. Its layers
 * come first; its config is the starting point that the combinators change: `withEnv`
 * and `withLabels` merge over its values, `withExposedPorts` and `withVolumes` add to
 * its own, and the others replace its values. As in a Dockerfile, setting the
 * entrypoint also drops the base's command.
 *
 * @category constructors
 */
export const pull = (reference: PullReference): Image =>
  Object.freeze({ ...scratch, base: Object.freeze({ _tag: "Pull" as const, reference }) });

const withConfig =
  (f: (c: Config) => Config) =>
  (image: Image): Image =>
    Object.freeze({ ...image, config: Object.freeze(f(image.config)) });

/**
 * Copies an argv. A non-array, which only a skipped type check lets through, is kept as
 * it is for eval to report, rather than spread into one argument per character.
 */
const copyArgv = (argv: ReadonlyArray<string>): ReadonlyArray<string> => (Array.isArray(argv) ? Object.freeze([...argv]) : argv);

/**
 * Appends a layer on top of the image's layers.
 *
 * @category combinators
 */
export const withLayer =
  (layer: Layer) =>
  (image: Image): Image =>
    Object.freeze({ ...image, layers: Object.freeze([...image.layers, layer]) });

/**
 * Appends several layers, bottom first.
 *
 * @category combinators
 */
export const withLayers =
  (...layers: ReadonlyArray<Layer>) =>
  (image: Image): Image =>
    Object.freeze({ ...image, layers: Object.freeze([...image.layers, ...layers]) });

/**
 * Runs a command on the image so far and appends what it changed as a layer: added and
 * modified files, deletions as whiteouts. The command is an argv (exec form); it runs with
 * the image's env, working dir and user as they are at this point, changed for this step
 * by `options`, in a sandbox without network unless `network: "host"`. Nothing runs until
 * the image is built, and a step whose inputs did not change never runs again.
 *
 * @category combinators
 */
export const run =
  (argv: ReadonlyArray<string>, options: RunOptions = {}) =>
  (image: Image): Image =>
    appendRun(image, Object.freeze({ _tag: "Run" as const, argv: copyArgv(argv), options: Object.freeze({ ...options }), config: image.config }));

/**
 * A shell-form run step: `/bin/sh -c script`, shown as the script. The image must have a
 * shell at /bin/sh.
 *
 * @category combinators
 */
export const runShell =
  (script: string, options: RunOptions = {}) =>
  (image: Image): Image =>
    appendRun(image, Object.freeze({ _tag: "Run" as const, argv: Object.freeze(["/bin/sh", "-c", script]), shell: script, options: Object.freeze({ ...options }), config: image.config }));

const appendRun = (image: Image, step: Run): Image => Object.freeze({ ...image, layers: Object.freeze([...image.layers, step]) });

/**
 * Appends a layer holding a Debian package set (see `Debian.layer`), named `name`:
 * `pipe(Image.scratch, Image.withPackages(Debian.packages(Debian.bookworm, ["nginx"])))`.
 * Packages already in a package layer below are not added again.
 *
 * @category combinators
 */
export const withPackages = (set: PackageSet, name = "packages") => withLayer(packageLayer(name, set));

/**
 * Merges environment variables; a later value for a name wins. As in a Dockerfile's
 * ENV, `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` in a value
 * expand to the env the image has before this call (a base's included, expanded when
 * the image is planned); `\$` is a literal `$`. A name set nowhere expands to the empty
 * string, with a warning from the plan.
 *
 * @category combinators
 */
export const withEnv = (env: Readonly<Record<string, string>>) =>
  withConfig((c) => ({
    ...c,
    env: Object.freeze({
      ...c.env,
      // A non-string value, which only a skipped type check lets through, is kept for eval to report.
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === "string" ? substituteKnown(v, c.env) : v])),
    }),
  }));

/**
 * Puts `value` in front of each named variable's value so far (the base's included),
 * joined by `separator`: `withEnvPrepended({ PATH: "/opt/app/bin" })` is
 * `/opt/app/bin:` followed by the base's PATH, or `/opt/app/bin` alone when there is none.
 *
 * @category combinators
 */
export const withEnvPrepended = (env: Readonly<Record<string, string>>, separator = ":") =>
  withEnv(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, `${v}\${${k}:+${separator}\${${k}}}`])));

/**
 * Puts `value` after each named variable's value so far, joined by `separator`; the
 * counterpart of {@link withEnvPrepended}.
 *
 * @category combinators
 */
export const withEnvAppended = (env: Readonly<Record<string, string>>, separator = ":") =>
  withEnv(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, `\${${k}:+\${${k}}${separator}}${v}`])));

/**
 * Sets the entrypoint (exec form), replacing any previous one; the default command is
 * kept.
 *
 * @category combinators
 */
export const withEntrypoint = (entrypoint: ReadonlyArray<string>) =>
  withConfig((c) => ({ ...c, entrypoint: copyArgv(entrypoint) }));

/**
 * Sets the default command (exec form), replacing any previous one. It is appended to
 * the entrypoint at run time, and arguments given when the container is run replace it.
 *
 * @category combinators
 */
export const withCmd = (cmd: ReadonlyArray<string>) => withConfig((c) => ({ ...c, cmd: copyArgv(cmd) }));

/**
 * Sets the process's working directory, replacing any previous one. It adds no entry:
 * give the layer a directory there if the image must hold it.
 *
 * @category combinators
 */
export const withWorkingDir = (workingDir: ImagePath) => withConfig((c) => ({ ...c, workingDir }));

/**
 * Sets the user the process runs as, replacing any previous one: a name or uid,
 * optionally `:group`. Names are looked up in the image's /etc/passwd and /etc/group.
 *
 * @category combinators
 */
export const withUser = (user: string) => withConfig((c) => ({ ...c, user }));

/**
 * Adds exposed ports, such as `"8080/tcp"`, to those already set. They tell a runtime
 * what the image listens on; nothing is published by them.
 *
 * @category combinators
 */
export const withExposedPorts = (...ports: ReadonlyArray<Port>) =>
  withConfig((c) => ({ ...c, exposedPorts: Object.freeze([...c.exposedPorts, ...ports]) }));

/**
 * Adds volumes, to those already set: paths where a runtime mounts storage that
 * outlives the container.
 *
 * @category combinators
 */
export const withVolumes = (...volumes: ReadonlyArray<ImagePath>) =>
  withConfig((c) => ({ ...c, volumes: Object.freeze([...c.volumes, ...volumes]) }));

/**
 * Merges labels; a later value for a key wins.
 *
 * @category combinators
 */
export const withLabels = (labels: Readonly<Record<string, string>>) =>
  withConfig((c) => ({ ...c, labels: Object.freeze({ ...c.labels, ...labels }) }));

/**
 * Sets the signal a runtime sends to stop the container, replacing any previous one;
 * unset, runtimes send SIGTERM.
 *
 * @category combinators
 */
export const withStopSignal = (stopSignal: Signal) => withConfig((c) => ({ ...c, stopSignal }));

/**
 * Sets the healthcheck a runtime runs in the container, replacing any previous one
 * (a base's included), as Docker's `HEALTHCHECK CMD ["prog", "arg"]`. It is written in
 * the image config's `Healthcheck`, which podman and docker read.
 *
 * @category combinators
 */
export const withHealthcheck = (argv: ReadonlyArray<string>, options: HealthcheckOptions = {}) =>
  withConfig((c) => ({ ...c, healthcheck: Object.freeze({ _tag: "Exec" as const, argv: copyArgv(argv), ...options }) }));

/**
 * Sets a healthcheck run as `/bin/sh -c script`, as Docker's `HEALTHCHECK CMD script`.
 *
 * @category combinators
 */
export const withHealthcheckShell = (script: string, options: HealthcheckOptions = {}) =>
  withConfig((c) => ({ ...c, healthcheck: Object.freeze({ _tag: "Shell" as const, script, ...options }) }));

/**
 * Turns off a healthcheck the base image sets, as Docker's `HEALTHCHECK NONE`.
 *
 * @category combinators
 */
export const withoutHealthcheck = withConfig((c) => ({ ...c, healthcheck: Object.freeze({ _tag: "None" as const }) }));

/**
 * Sets runtime settings for containers of the image (limits, capabilities, a read-only
 * root with tmpfs mounts, sysctls, the network), merged over earlier ones: later fields
 * win, sysctls merge. They travel in the image config's `org.lading.runtime` label and
 * lower into the runtime config of `bundle:` and `lading run`.
 *
 * @category combinators
 */
export const withRuntime =
  (runtime: Runtime) =>
  (image: Image): Image =>
    Object.freeze({
      ...image,
      runtime: Object.freeze({ ...image.runtime, ...runtime, ...(runtime.sysctls === undefined ? {} : { sysctls: Object.freeze({ ...image.runtime?.sysctls, ...runtime.sysctls }) }) }),
    });

/**
 * Merges manifest annotations; a later value for a key wins.
 *
 * @category combinators
 */
export const withAnnotations =
  (annotations: Readonly<Record<string, string>>) =>
  (image: Image): Image =>
    Object.freeze({ ...image, annotations: Object.freeze({ ...image.annotations, ...annotations }) });

/**
 * Sets the platform the image is for, replacing any previous one. It only labels the
 * image: nothing is cross-built, so the binaries in the layers must match it.
 *
 * @category combinators
 */
export const withPlatform =
  (platform: Platform) =>
  (image: Image): Image =>
    Object.freeze({ ...image, platform });

/**
 * Whether a value is an Image, by its `_tag`: how the CLI and eval tell images apart
 * from a spec's other exports.
 *
 * @category refinements
 */
export const isImage = (u: unknown): u is Image => hasTag(u, "Image");

/**
 * An image made from typed parameters, given as `--arg NAME=VALUE` on the command line;
 * see the `Param` module.
 *
 * @category constructors
 */
export { parameterized } from "./Param.ts";
