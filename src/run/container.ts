/**
 * `lading run`: an image run as a container, the lecture's "read-only image plus a
 * writable layer on top" made visible. The image's layers are the overlay's lower
 * directories, a fresh upper directory takes the container's writes, runc runs it in the
 * step sandbox (namespaces, seccomp, no new privileges, limits), and everything is
 * removed when it exits; its exit code is the caller's to pass on.
 */
import { canonicalJson, DiagnosticError, error } from "../core/index.ts";
import { runtimeSettingsOf } from "../sink/index.ts";
import { RUNTIME_LABEL } from "../spec/Runtime.ts";
import type { LimitsIR } from "../eval/index.ts";
import type { PlannedRun } from "../plan/index.ts";
import type { Image } from "../oci/index.ts";
import type { Store } from "../store/index.ts";
import type { SandboxMount } from "./sandbox.ts";
import { withSandbox } from "./sandbox.ts";
import { lowersOf } from "./unpack.ts";

/**
 * What `lading run` was asked for besides the image: its flags.
 *
 * @category model
 */
export interface ContainerRequest {
  /** Replace the image's Cmd, as `docker run IMAGE ARGS` does. */
  readonly args: ReadonlyArray<string>;
  /** `NAME=value`, over the image's env. */
  readonly env: ReadonlyArray<string>;
  readonly volumes: ReadonlyArray<{ readonly source: string; readonly target: string; readonly readOnly: boolean }>;
  /** Overrides the image's runtime settings' network; default "none". */
  readonly network?: "none" | "host";
  /** Override the image's runtime settings' limits. */
  readonly limits: LimitsIR;
  /** Replaces the image's user. */
  readonly user?: string;
  readonly stdin: boolean;
  readonly terminal: boolean;
}

/**
 * Runs `image` (its layers in the store, or fetched from its registry) as a container
 * and returns its exit code.
 *
 * @category destructors
 */
export const runContainerOf = async (store: Store, image: Image, request: ContainerRequest): Promise<number> => {
  const c = image.config.value.config ?? {};
  const argv = [...(c.Entrypoint ?? []), ...(request.args.length > 0 ? request.args : (c.Cmd ?? []))];
  if (argv.length === 0) throw new DiagnosticError([error({}, "the image has no entrypoint or cmd", "give the command to run after --")]);
  const vars = new Map<string, string>();
  for (const kv of [...(c.Env ?? []), ...request.env]) {
    const i = kv.indexOf("=");
    vars.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? "" : kv.slice(i + 1));
  }
  // The image's runtime settings, with the flags over them: limits and the network go
  // through the run, what has no flag through the label.
  const settings = runtimeSettingsOf(c.Labels) ?? {};
  const { memory, cpus, pids, network, ...rest } = settings;
  const run: PlannedRun = {
    argv,
    env: [...vars].map(([k, v]) => `${k}=${v}`),
    workingDir: c.WorkingDir ?? "/",
    user: request.user ?? c.User ?? "",
    mounts: [],
    network: request.network ?? network ?? "none",
    limits: { ...(memory === undefined ? {} : { memory }), ...(cpus === undefined ? {} : { cpus }), ...(pids === undefined ? {} : { pids }), ...request.limits },
  };
  const lowers = await lowersOf(store, image.layers);
  const mounts: SandboxMount[] = request.volumes.map((v) => ({ kind: v.readOnly ? "bind" : "volume", target: v.target, source: v.source }));
  return withSandbox(store, run, lowers, mounts, { _tag: "Inherit", stdin: request.stdin, terminal: request.terminal }, async (exit) => exit.code, {
    [RUNTIME_LABEL]: canonicalJson(rest),
  });
};
