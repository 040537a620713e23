/**
 * Mounts of a run step: what the command sees besides the image's own files, and that
 * never becomes part of the step's layer. A bind mount shows host files (read-only, and
 * part of the step's cache key by their content); a cache mount is a directory kept in
 * the store between builds (never in the layer or the key); a secret is a file from the
 * host or one of its environment variables, visible to that step only and written
 * nowhere.
 */
import type { ImagePath } from "../core/ImagePath.ts";

/**
 * Host files at `target`, read-only; `source` is relative to the spec file.
 *
 * @category model
 */
export interface Bind {
  readonly _tag: "Bind";
  readonly source: string;
  readonly target: ImagePath;
}

/**
 * A persistent directory at `target`, shared by every step that names the same `id`.
 *
 * @category model
 */
export interface Cache {
  readonly _tag: "Cache";
  readonly target: ImagePath;
  readonly id: string;
}

/**
 * A secret file at `target`, read from the host environment variable `env` or from the
 * host file `file` (relative to the spec) when the step runs.
 *
 * @category model
 */
export interface Secret {
  readonly _tag: "Secret";
  readonly target: ImagePath;
  readonly source: { readonly _tag: "Env"; readonly name: string } | { readonly _tag: "File"; readonly path: string };
}

/**
 * A run step's mount.
 *
 * @category model
 */
export type Mount = Bind | Cache | Secret;

/**
 * Host files (a directory or one file, relative to the spec) at `target`, read-only, as
 * Dockerfile's `RUN --mount=type=bind`. Their content is part of the step's cache key.
 *
 * @category constructors
 */
export const bind = (source: string, target: ImagePath): Mount => Object.freeze({ _tag: "Bind", source, target });

/**
 * A directory kept in the store between builds, at `target`, as `RUN --mount=type=cache`:
 * for package manager caches. `id` (default: the target) names it; its contents are never
 * part of the layer or the cache key.
 *
 * @category constructors
 */
export const cache = (target: ImagePath, options: { readonly id?: string } = {}): Mount =>
  Object.freeze({ _tag: "Cache", target, id: options.id ?? target });

/**
 * A secret file at `target`, from the host environment variable `env` or the host file
 * `file`, read only when the step runs: it is never in a layer, the store, the plan, the
 * cache key or a log.
 *
 * @category constructors
 */
export const secret = (target: ImagePath, from: { readonly env: string } | { readonly file: string }): Mount =>
  Object.freeze({
    _tag: "Secret",
    target,
    source: Object.freeze("env" in from ? { _tag: "Env" as const, name: from.env } : { _tag: "File" as const, path: from.file }),
  });
