/**
 * A platform as users write it: `os/architecture[/variant]`, as `--platform` takes it
 * and plans, diffs and errors show it.
 */

/**
 * `linux/arm64/v8` from its parts.
 *
 * @category destructors
 */
export const formatPlatform = (p: { readonly os: string; readonly architecture: string; readonly variant?: string | undefined }): string =>
  `${p.os}/${p.architecture}${p.variant === undefined ? "" : `/${p.variant}`}`;
