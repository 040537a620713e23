/**
 * Run steps: a command run on an image, whose changes to the file system become a layer.
 * A step is a value like a layer: describing it runs nothing. It holds the image config
 * at the point it was added (env, working dir, user), as a Dockerfile RUN does.
 */
import type { ImagePath } from "../core/ImagePath.ts";
import type { Config } from "./Config.ts";
import type { Mount } from "./Mount.ts";
import { hasTag } from "./Tagged.ts";

/**
 * Resource limits of a step: memory in bytes or with a unit (`"512m"`, `"2g"`), CPUs
 * as a fraction of cores, the number of processes, and a wall-clock timeout in seconds.
 *
 * @category model
 */
export interface Limits {
  readonly memory?: number | string;
  readonly cpus?: number;
  readonly pids?: number;
  readonly timeout?: number;
}

/**
 * The options of a run step. `env` merges over the image's; `workingDir` and `user`
 * replace the image's for this step only.
 *
 * @category model
 */
export interface RunOptions {
  readonly name?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly workingDir?: ImagePath;
  readonly user?: string;
  readonly mounts?: ReadonlyArray<Mount>;
  readonly network?: "none" | "host";
  readonly limits?: Limits;
}

/**
 * A run step: `argv` run on the image below it, `shell` when it came from a script.
 *
 * @category model
 */
export interface Run {
  readonly _tag: "Run";
  readonly argv: ReadonlyArray<string>;
  /** The script of a shell-form step, shown instead of its argv. */
  readonly shell?: string;
  readonly options: RunOptions;
  /** The image's config when the step was added: what the command runs with. */
  readonly config: Config;
}

/**
 * Whether a value is a run step, by its `_tag`.
 *
 * @category refinements
 */
export const isRun = (u: unknown): u is Run => hasTag(u, "Run");
