/**
 * The seccomp filter of run steps: podman's default profile, as containers-common ships
 * it, lowered from its Docker-style form (rules that apply with or without given
 * capabilities or architectures) to the OCI runtime config's form for the capabilities
 * and architecture a step runs with.
 */
import * as fs from "node:fs";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { DiagnosticError, error } from "../core/index.ts";

/**
 * Where containers-common installs podman's default profile.
 *
 * @category model
 */
export const SECCOMP_PROFILE = "/usr/share/containers/seccomp.json";

const Filter = t.partial({ caps: t.array(t.string), arches: t.array(t.string) });
const Arg = t.type({ index: t.number, value: t.number, op: t.string }, "Arg");
const Rule = t.intersection([
  t.type({ names: t.array(t.string), action: t.string }),
  t.partial({ args: t.union([t.array(t.intersection([Arg, t.partial({ valueTwo: t.number })])), t.null]), includes: Filter, excludes: Filter, errnoRet: t.number }),
]);
const Profile = t.intersection([
  t.type({ defaultAction: t.string, syscalls: t.array(Rule) }),
  t.partial({ defaultErrnoRet: t.number, archMap: t.array(t.type({ architecture: t.string, subArchitectures: t.union([t.array(t.string), t.null]) })) }),
]);

/** Docker's names of the architectures a profile's `arches` filters use, by Node's. */
const ARCH: Record<string, { readonly docker: string; readonly seccomp: string }> = {
  x64: { docker: "amd64", seccomp: "SCMP_ARCH_X86_64" },
  arm64: { docker: "arm64", seccomp: "SCMP_ARCH_AARCH64" },
};

/**
 * The OCI `linux.seccomp` section for a process with capabilities `caps` on this
 * machine's architecture, from the profile at `file`.
 *
 * @category constructors
 */
export const loadSeccomp = (caps: ReadonlyArray<string>, file = SECCOMP_PROFILE): object => {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new DiagnosticError([error({ file }, `cannot read the default seccomp profile: ${(e as Error).message}`, "install containers-common (it comes with podman)")]);
  }
  const decoded = Profile.decode(raw);
  if (E.isLeft(decoded)) throw new DiagnosticError([error({ file }, "not a seccomp profile in the form containers-common ships")]);
  const profile = decoded.right;
  const arch = ARCH[process.arch];
  const has = new Set(caps);
  const applies = (r: t.TypeOf<typeof Rule>): boolean => {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.caps !== undefined && !inc.caps.every((c) => has.has(c))) return false;
    if (inc.arches !== undefined && (arch === undefined || !inc.arches.includes(arch.docker))) return false;
    if (exc.caps !== undefined && exc.caps.some((c) => has.has(c))) return false;
    if (exc.arches !== undefined && arch !== undefined && exc.arches.includes(arch.docker)) return false;
    return true;
  };
  const native = profile.archMap?.find((a) => a.architecture === arch?.seccomp);
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet === undefined ? {} : { defaultErrnoRet: profile.defaultErrnoRet }),
    architectures: native === undefined ? [] : [native.architecture, ...(native.subArchitectures ?? [])],
    syscalls: profile.syscalls.filter(applies).map((r) => ({
      names: r.names,
      action: r.action,
      ...(r.errnoRet === undefined ? {} : { errnoRet: r.errnoRet }),
      ...(r.args === undefined || r.args === null || r.args.length === 0 ? {} : { args: r.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) }),
    })),
  };
};
