/**
 * Image transports, named like skopeo's so users already know them:
 * `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`; plus
 * `bundle:DIR`, an OCI runtime bundle (rootfs and config.json) that runc runs.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Reference } from "../core/index.ts";
import { formatReference, isTag, parseReference } from "../core/index.ts";

/**
 * Where an image is read from or written to, as parsed from `oci:DIR[:TAG]` and the
 * like; a tag or ref not given is undefined.
 *
 * @category model
 */
export type Transport =
  | { readonly _tag: "Oci"; readonly dir: string; readonly tag: string | undefined }
  | { readonly _tag: "OciArchive"; readonly file: string; readonly tag: string | undefined }
  | { readonly _tag: "DockerArchive"; readonly file: string; readonly ref: string | undefined }
  | { readonly _tag: "Bundle"; readonly dir: string }
  | { readonly _tag: "Registry"; readonly reference: Reference };

const REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$/;

/**
 * The transports lading reads and writes, for help and error messages.
 *
 * @category instances
 */
export const TRANSPORTS = ["oci:DIR[:TAG]", "oci-archive:FILE[:TAG]", "docker-archive:FILE[:NAME:TAG]", "docker://HOST/REPO[:TAG]", "bundle:DIR"] as const;

/**
 * The transports lading reads images from: all but the write-only runtime bundle.
 *
 * @category instances
 */
export const READABLE_TRANSPORTS = TRANSPORTS.filter((t) => !t.startsWith("bundle:"));

const splitFirst = (s: string): [string, string | undefined] => {
  const i = s.indexOf(":");
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
};

/**
 * Parses a transport string; the error says what was expected.
 *
 * @category constructors
 */
export const parseTransport = (s: string): E.Either<string, Transport> => {
  const [kind, rest] = splitFirst(s);
  if (rest === undefined || rest === "") {
    return E.left(`"${s}" is not an image location: expected one of ${TRANSPORTS.join(", ")}`);
  }
  switch (kind) {
    case "oci":
    case "oci-archive": {
      const [where, tag] = splitFirst(rest);
      if (where === "") return E.left(`"${s}": missing the path`);
      if (tag !== undefined && !isTag(tag)) return E.left(`"${s}": invalid tag "${tag}"`);
      return E.right(kind === "oci" ? { _tag: "Oci", dir: where, tag } : { _tag: "OciArchive", file: where, tag });
    }
    case "docker-archive": {
      const [file, ref] = splitFirst(rest);
      if (file === "") return E.left(`"${s}": missing the file`);
      if (ref !== undefined && !REF.test(ref)) return E.left(`"${s}": invalid image name "${ref}"`);
      return E.right({ _tag: "DockerArchive", file, ref });
    }
    case "bundle":
      return E.right({ _tag: "Bundle", dir: rest });
    case "docker": {
      if (!rest.startsWith("//")) return E.left(`"${s}": expected docker://HOST/REPO[:TAG]`);
      return E.map((reference: Reference) => ({ _tag: "Registry" as const, reference }))(parseReference(rest.slice(2)));
    }
    default:
      return E.left(`unknown transport "${kind}": expected one of ${TRANSPORTS.join(", ")}`);
  }
};

/**
 * The transport in the form {@link parseTransport} reads; names the location in
 * diagnostics.
 *
 * @category destructors
 */
export const formatTransport = (t: Transport): string => {
  switch (t._tag) {
    case "Oci":
      return `oci:${t.dir}${t.tag === undefined ? "" : `:${t.tag}`}`;
    case "OciArchive":
      return `oci-archive:${t.file}${t.tag === undefined ? "" : `:${t.tag}`}`;
    case "DockerArchive":
      return `docker-archive:${t.file}${t.ref === undefined ? "" : `:${t.ref}`}`;
    case "Bundle":
      return `bundle:${t.dir}`;
    case "Registry":
      return `docker://${formatReference(t.reference)}`;
  }
};
