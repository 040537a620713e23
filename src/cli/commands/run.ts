/**
 * `lading run`: runs an image as a container under runc, with a fresh writable layer.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { buildImage } from "../../build/index.ts";
import { parseMemory } from "../../eval/index.ts";
import { runContainerOf } from "../../run/index.ts";
import type { Image } from "../../oci/index.ts";
import { importImage, parseTransport, READABLE_TRANSPORTS } from "../../sink/index.ts";
import { parseFlags, SPEC_FLAGS } from "../flags.ts";
import type { Io } from "../io.ts";
import { parseTarget } from "../load.ts";
import { inExport, planTarget } from "../planTarget.ts";
import { stepRunnerFor } from "../steps.ts";
import { storeOf } from "../store.ts";
import { UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading run FILE[#EXPORT]|T [options] [-- ARGS...]

Runs an image as a container with runc, without any engine: a spec export is built first
(steps run, cached layers reused); an image location T (${READABLE_TRANSPORTS.join(", ")}) is read into
the store. The image's layers are the read-only lower directories of an overlay, a fresh
upper directory takes the container's writes, and all of it is removed when the container
exits. ARGS replace the image's Cmd. The container's exit code is lading's.

  -e, --env NAME=VALUE          set an environment variable (repeatable)
  -v, --volume HOST:PATH[:ro]   bind a host directory or file (repeatable)
  --network none|host           only loopback (default), or the host's network
                                (these flags override the image's Image.withRuntime settings)
  --memory SIZE                 memory limit, bytes or e.g. 512m
  --cpus N                      CPU limit, in cores (e.g. 0.5)
  --pids N                      process limit
  -u, --user USER[:GROUP]       run as this user instead of the image's
  -i, --interactive             keep stdin open
  -t, --tty                     run in a terminal (-it for an interactive shell)
  --no-check                    skip the type check of a spec
  --store DIR                   the content store`;

/** Runs the command with its arguments; returns the container's exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(
    help,
    args,
    {
      env: t.array(t.string),
      volume: t.array(t.string),
      network: t.string,
      memory: t.string,
      cpus: t.string,
      pids: t.string,
      user: t.string,
      interactive: t.boolean,
      tty: t.boolean,
      ...SPEC_FLAGS,
    },
    { env: "e", volume: "v", user: "u", interactive: "i", tty: "t" },
  );
  const [target, ...rest] = positionals;
  if (target === undefined) throw new UsageError(`expected FILE[#EXPORT] or an image location\n\n${help}`);
  const network = values.network;
  if (network !== undefined && network !== "none" && network !== "host") throw new UsageError(`--network must be none or host, not "${network}"`);
  const env = (values.env ?? []).map((e) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw new UsageError(`--env takes NAME=VALUE, not "${e}"`);
    return e;
  });
  const volumes = (values.volume ?? []).map((v) => {
    const m = /^([^:]+):(\/[^:]*)(:ro|:rw)?$/.exec(v);
    if (m === null) throw new UsageError(`--volume takes HOST:PATH[:ro], not "${v}"`);
    if (!fs.existsSync(m[1]!)) throw new UsageError(`--volume: no such host path ${m[1]}`);
    return { source: path.resolve(m[1]!), target: m[2]!, readOnly: m[3] === ":ro" };
  });
  const number = (flag: string, raw: string | undefined, integer: boolean): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!(n > 0) || (integer && !Number.isInteger(n))) throw new UsageError(`--${flag} must be a positive ${integer ? "whole " : ""}number, not "${raw}"`);
    return n;
  };
  let memory: number | undefined;
  if (values.memory !== undefined) {
    const m = parseMemory(values.memory);
    if (E.isLeft(m)) throw new UsageError(`--memory: ${m.left}`);
    memory = m.right;
  }
  const cpus = number("cpus", values.cpus, false);
  const pids = number("pids", values.pids, true);
  const limits = { ...(memory === undefined ? {} : { memory }), ...(cpus === undefined ? {} : { cpus }), ...(pids === undefined ? {} : { pids }) };
  const store = await storeOf(values.store, io.env);
  const location = parseTransport(target);
  let image: Image;
  if (E.isRight(location) && /^[a-z-]+:/.test(target) && !fs.existsSync(parseTarget(target).file)) {
    if (location.right._tag === "Bundle") throw new UsageError("a runtime bundle runs with 'runc run --bundle DIR ID' itself");
    image = await importImage(store, location.right, undefined, { env: io.env });
  } else {
    const runStep = stepRunnerFor(store, io);
    const { plan, inputs } = await planTarget(target, { noCheck: values["no-check"] === true, store, env: io.env, runStep });
    image = (await inExport(plan.exportName, () => buildImage(store, plan, inputs, undefined, { runStep, registry: { env: io.env } }))).image;
  }
  return runContainerOf(
    store,
    image,
    { args: rest, env, volumes, ...(network === undefined ? {} : { network }), limits, ...(values.user === undefined ? {} : { user: values.user }), stdin: values.interactive === true || values.tty === true, terminal: values.tty === true },
  );
};
