/**
 * Images: an ordered list of layers plus configuration, as an immutable value.
 * Every combinator is curried and data-last, so an image reads as
 * `pipe(Image.scratch, Image.withLayer(l), Image.withCmd([...]))`. Building on another
 * image is just starting the pipe from it: its layers and config are inherited.
 */
import type { ImagePath } from "../core/ImagePath.ts";
import type { Config, Port, Signal } from "./Config.ts";
import { empty as emptyConfig } from "./Config.ts";
import type { Layer } from "./Layer.ts";
import type { Platform } from "./Platform.ts";
import { linuxAmd64 } from "./Platform.ts";

/**
 * @category model
 */
export interface Image {
  readonly _tag: "Image";
  readonly layers: ReadonlyArray<Layer>;
  readonly config: Config;
  readonly platform: Platform;
  readonly annotations: Readonly<Record<string, string>>;
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
 * Merges environment variables; a later value for a name wins.
 *
 * @category combinators
 */
export const withEnv = (env: Readonly<Record<string, string>>) =>
  withConfig((c) => ({ ...c, env: Object.freeze({ ...c.env, ...env }) }));

/**
 * Sets the entrypoint (exec form).
 *
 * @category combinators
 */
export const withEntrypoint = (entrypoint: ReadonlyArray<string>) =>
  withConfig((c) => ({ ...c, entrypoint: copyArgv(entrypoint) }));

/**
 * Sets the default command (exec form), appended to the entrypoint at run time.
 *
 * @category combinators
 */
export const withCmd = (cmd: ReadonlyArray<string>) => withConfig((c) => ({ ...c, cmd: copyArgv(cmd) }));

/**
 * Sets the working directory.
 *
 * @category combinators
 */
export const withWorkingDir = (workingDir: ImagePath) => withConfig((c) => ({ ...c, workingDir }));

/**
 * Sets the user: a name or uid, optionally `:group`.
 *
 * @category combinators
 */
export const withUser = (user: string) => withConfig((c) => ({ ...c, user }));

/**
 * Adds exposed ports, such as `"8080/tcp"`.
 *
 * @category combinators
 */
export const withExposedPorts = (...ports: ReadonlyArray<Port>) =>
  withConfig((c) => ({ ...c, exposedPorts: Object.freeze([...c.exposedPorts, ...ports]) }));

/**
 * Adds volumes (mount points).
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
 * Sets the stop signal.
 *
 * @category combinators
 */
export const withStopSignal = (stopSignal: Signal) => withConfig((c) => ({ ...c, stopSignal }));

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
 * Sets the platform.
 *
 * @category combinators
 */
export const withPlatform =
  (platform: Platform) =>
  (image: Image): Image =>
    Object.freeze({ ...image, platform });

/**
 * @category refinements
 */
export const isImage = (u: unknown): u is Image =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Image";
