/**
 * Registry references, as in `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`. The host is
 * always named: an image goes where the reference says, never to a default registry.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Digest } from "./Digest.ts";
import { isDigest } from "./Digest.ts";

/**
 * A repository on a registry, with a tag or a digest.
 *
 * @category model
 */
export interface Reference {
  readonly host: string;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

const HOST = /^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[0-9a-fA-F:]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3})(:[0-9]{1,5})?$|^localhost(:[0-9]{1,5})?$/;
const REPOSITORY = /^[a-z0-9]+([._-]{1,2}[a-z0-9]+)*(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Whether `s` is a valid tag: up to 128 letters, digits, `_`, `.` and `-`, not starting
 * with `.` or `-`.
 *
 * @category refinements
 */
export const isTag = (s: string): boolean => TAG.test(s);

/**
 * Parses `HOST/REPO[:TAG][@DIGEST]` (what follows `docker://`).
 *
 * @category constructors
 */
export const parseReference = (s: string): E.Either<string, Reference> => {
  const slash = s.indexOf("/");
  if (slash <= 0) return E.left(`"${s}": expected HOST/REPOSITORY[:TAG], e.g. registry.example.com/team/app:1.0`);
  const host = s.slice(0, slash);
  if (!HOST.test(host)) return E.left(`"${s}": "${host}" is not a registry host (name it, e.g. localhost:5000 or registry.example.com)`);
  let rest = s.slice(slash + 1);
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) return E.left(`"${s}": "${d}" is not a sha256 digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return E.left(`"${s}": invalid tag "${tag}"`);
  }
  if (!REPOSITORY.test(rest)) return E.left(`"${s}": invalid repository name "${rest}" (lowercase letters, digits, separators . _ - and /)`);
  return E.right({ host, repository: rest, tag: tag ?? (digest === undefined ? "latest" : undefined), digest });
};

/**
 * The reference as written after `docker://`.
 *
 * @category destructors
 */
export const formatReference = (r: Reference): string =>
  `${r.host}/${r.repository}${r.tag === undefined ? "" : `:${r.tag}`}${r.digest === undefined ? "" : `@${r.digest}`}`;
