/**
 * eval of run steps: every option checked before anything runs, each problem naming the
 * export and the step.
 */
import type { Diagnostic, ImagePath, Place } from "../core/index.ts";
import { error, normalizeImagePath } from "../core/index.ts";
import * as E from "fp-ts/lib/Either.js";
import type { Run } from "../spec/Run.ts";
import type { ConfigIR, LimitsIR, MountIR, RunIR } from "./IR.ts";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER = /^([a-z_][a-z0-9_.-]*|[0-9]+)(:([a-z_][a-z0-9_.-]*|[0-9]+))?$/i;
const CACHE_ID = /^[A-Za-z0-9/][A-Za-z0-9._/-]*$/;
const SIZE = /^([0-9]+)([kmg]?)b?$/i;
const UNIT: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The smallest memory limit runc accepts, with room for a shell to start. */
const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * A memory size as a number of bytes or with a binary unit (`"512m"`, `"2g"`), or the
 * reason it is not one.
 *
 * @category destructors
 */
export const parseMemory = (v: unknown): E.Either<string, number> => {
  if (typeof v === "number") return Number.isSafeInteger(v) && v > 0 ? E.right(v) : E.left(`memory must be a positive whole number of bytes, got ${v}`);
  const m = typeof v === "string" ? SIZE.exec(v.trim()) : null;
  if (m === null) return E.left(`memory must be bytes or a size such as "512m", got ${JSON.stringify(v)}`);
  return E.right(Number(m[1]) * UNIT[m[2]!.toLowerCase()]!);
};

const absolute = (raw: unknown, what: string, place: Place, out: Diagnostic[]): ImagePath | undefined => {
  if (typeof raw !== "string" || !raw.startsWith("/")) {
    out.push(error(place, `${what} must be an absolute in-image path, got ${JSON.stringify(raw)}`, 'e.g. "/src"'));
    return undefined;
  }
  const r = normalizeImagePath(raw);
  if (E.isLeft(r)) {
    out.push(error({ ...place, path: raw }, `${what}: ${r.left}`));
    return undefined;
  }
  return r.right;
};

const evalMount = (m: unknown, place: Place, out: Diagnostic[]): MountIR | undefined => {
  const tag = typeof m === "object" && m !== null ? (m as { _tag?: unknown })._tag : undefined;
  const raw = m as Record<string, unknown>;
  switch (tag) {
    case "Bind": {
      const target = absolute(raw["target"], "a bind mount's target", place, out);
      if (typeof raw["source"] !== "string" || raw["source"] === "") {
        out.push(error(place, "a bind mount needs a host path, relative to the spec file"));
        return undefined;
      }
      return target === undefined ? undefined : { _tag: "Bind", source: raw["source"], target };
    }
    case "Cache": {
      const target = absolute(raw["target"], "a cache mount's target", place, out);
      const id = raw["id"];
      if (typeof id !== "string" || !CACHE_ID.test(id) || id.split("/").includes("..")) {
        out.push(error(place, `invalid cache id ${JSON.stringify(id)}`, "letters, digits, '.', '_', '-' and '/'"));
        return undefined;
      }
      return target === undefined ? undefined : { _tag: "Cache", id, target };
    }
    case "Secret": {
      const target = absolute(raw["target"], "a secret's target", place, out);
      const source = raw["source"] as { _tag?: unknown; name?: unknown; path?: unknown } | undefined;
      if (source?._tag === "Env" && typeof source.name === "string" && ENV_NAME.test(source.name)) {
        return target === undefined ? undefined : { _tag: "Secret", target, source: { _tag: "Env", name: source.name } };
      }
      if (source?._tag === "File" && typeof source.path === "string" && source.path !== "") {
        return target === undefined ? undefined : { _tag: "Secret", target, source: { _tag: "File", path: source.path } };
      }
      out.push(error(place, "a secret needs { env: NAME } or { file: PATH }"));
      return undefined;
    }
    default:
      out.push(error(place, `unknown mount type ${JSON.stringify(tag)}`, "make mounts with Mount.bind, Mount.cache or Mount.secret"));
      return undefined;
  }
};

const evalLimits = (raw: unknown, place: Place, out: Diagnostic[]): LimitsIR => {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null) {
    out.push(error(place, "limits must be an object: { memory, cpus, pids, timeout }"));
    return {};
  }
  const l = raw as Record<string, unknown>;
  const limits: { -readonly [K in keyof LimitsIR]: LimitsIR[K] } = {};
  if (l["memory"] !== undefined) {
    const m = parseMemory(l["memory"]);
    if (E.isLeft(m)) out.push(error(place, m.left));
    else if (m.right < MIN_MEMORY) out.push(error(place, `a memory limit of ${m.right} bytes is too small to start a process`, 'give at least "6m"'));
    else limits.memory = m.right;
  }
  const positive = (k: "cpus" | "pids" | "timeout", integer: boolean): void => {
    const v = l[k];
    if (v === undefined) return;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      out.push(error(place, `limits.${k} must be a positive ${integer ? "whole " : ""}number, got ${JSON.stringify(v)}`));
    } else limits[k] = v;
  };
  positive("cpus", false);
  positive("pids", true);
  positive("timeout", false);
  for (const k of Object.keys(l)) if (!["memory", "cpus", "pids", "timeout"].includes(k)) out.push(error(place, `unknown limit ${JSON.stringify(k)}`, "limits are memory, cpus, pids and timeout"));
  return limits;
};

/**
 * Evaluates the run step at `index` (1-based, for its default name `run-N`), given its
 * captured config already evaluated.
 *
 * @category destructors
 */
export const evalRun = (step: Run, index: number, config: ConfigIR, place: Place, out: Diagnostic[]): RunIR | undefined => {
  const options = (typeof step.options === "object" && step.options !== null ? step.options : {}) as Record<string, unknown>;
  const name = options["name"] === undefined ? `run-${index}` : options["name"];
  const at: Place = { ...place, layer: String(name) };
  const before = out.length;
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) out.push(error(at, "invalid step name", "names are letters, digits, '.', '_' and '-'"));
  const argv: unknown = step.argv;
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== "string" || a.includes("\0")) || argv[0] === "") {
    out.push(error(at, `the command must be a non-empty array of strings (exec form), got ${JSON.stringify(argv)}`, 'e.g. Image.run(["make", "install"]) or Image.runShell("make && make install")'));
  }
  const env: Record<string, string> = {};
  const rawEnv = options["env"] ?? {};
  if (typeof rawEnv !== "object" || rawEnv === null) out.push(error(at, "env must be an object of strings"));
  else {
    for (const [k, v] of Object.entries(rawEnv)) {
      if (!ENV_NAME.test(k)) out.push(error(at, `invalid environment variable name ${JSON.stringify(k)}`));
      else if (typeof v !== "string" || v.includes("\0")) out.push(error(at, `environment variable ${k} must be a string without NUL bytes`));
      else env[k] = v;
    }
  }
  const workingDir = options["workingDir"] === undefined ? undefined : absolute(options["workingDir"], "the working directory", at, out);
  const user = options["user"];
  if (user !== undefined && (typeof user !== "string" || !USER.test(user))) out.push(error(at, `invalid user ${JSON.stringify(user)}`, "use a name or uid, optionally :group"));
  const rawMounts = options["mounts"] ?? [];
  const mounts: MountIR[] = [];
  if (!Array.isArray(rawMounts)) out.push(error(at, "mounts must be an array of Mount values"));
  else {
    for (const m of rawMounts) {
      const ir = evalMount(m, at, out);
      if (ir !== undefined) mounts.push(ir);
    }
    const targets = new Set<string>();
    for (const m of mounts) {
      if (targets.has(m.target)) out.push(error({ ...at, path: m.target }, "two mounts at one path"));
      if (m.target === "/") out.push(error({ ...at, path: m.target }, "a mount cannot replace the root"));
      targets.add(m.target);
    }
  }
  const network = options["network"] ?? "none";
  if (network !== "none" && network !== "host") out.push(error(at, `network must be "none" or "host", got ${JSON.stringify(network)}`));
  const limits = evalLimits(options["limits"], at, out);
  if (out.length > before) return undefined;
  return {
    _tag: "Run",
    name: name as string,
    argv: argv as ReadonlyArray<string>,
    ...(step.shell === undefined ? {} : { shell: step.shell }),
    config,
    env,
    ...(workingDir === undefined ? {} : { workingDir }),
    ...(user === undefined ? {} : { user: user as string }),
    mounts,
    network: network as "none" | "host",
    limits,
  };
};
