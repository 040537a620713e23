/**
 * The step runner a build uses: gets the layers below a step into the store and unpacked,
 * prepares its mounts (a cache's directory in the store, a secret in a private temp file
 * deleted right after), runs it in the sandbox, and builds what it changed into a layer
 * blob through the same tar, gzip and sha256 path as every other layer.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { DiagnosticError, digestHex, digestOf, error } from "../core/index.ts";
import type { StepRequest, StepRunner } from "../build/index.ts";
import { buildLayer } from "../build/index.ts";
import type { LayerBlob } from "../oci/index.ts";
import type { PlannedMount } from "../plan/index.ts";
import type { Store } from "../store/index.ts";
import { sweepStaleTemps, tempDirPrefix } from "../store/index.ts";
import type { SandboxMount } from "./sandbox.ts";
import { withSandbox } from "./sandbox.ts";
import { layerFromUpper } from "./upper.ts";
import { lowersOf } from "./unpack.ts";

/**
 * What the runner needs from its caller: the store, the environment secrets are read
 * from, and where each line of a step's output goes.
 *
 * @category model
 */
export interface StepRunnerOptions {
  readonly store: Store;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly onLine: (step: string, line: string) => void;
  /** Told of paths a step made that a layer cannot hold (sockets, fifos, devices). */
  readonly onDropped?: (step: string, paths: ReadonlyArray<string>) => void;
}

/**
 * The directory of the cache mount `id`, kept in the store between builds.
 *
 * @category destructors
 */
export const cacheDir = (store: Store, id: string): string => path.join(store.root, "run", "cache", digestHex(digestOf(id)));

/** Secrets live in memory where the machine has it, never in the store. */
const secretsRoot = async (): Promise<string> => ((await fs.stat("/dev/shm").then((s) => s.isDirectory(), () => false)) ? "/dev/shm" : os.tmpdir());

/**
 * A step runner for a build.
 *
 * @category constructors
 */
export const createStepRunner =
  (options: StepRunnerOptions): StepRunner =>
  async (request: StepRequest): Promise<LayerBlob> => {
    const { store } = options;
    const { plan, layer, below, inputs } = request;
    const place = { exportName: plan.exportName, layer: layer.name };
    const lowers = await lowersOf(store, below);
    // Secrets a killed build left in memory-backed files go first; the name says whose.
    const root = await secretsRoot();
    await sweepStaleTemps(root, (name) => name.startsWith("lading-secrets-"));
    const secrets = `${tempDirPrefix(root, "secrets")}${randomBytes(6).toString("hex")}`;
    try {
      const mounts: SandboxMount[] = [];
      for (const m of layer.run.mounts) mounts.push(await prepareMount(store, m, inputs.specDir, secrets, options.env, place));
      return await withSandbox(store, layer.run, lowers, mounts, { _tag: "Lines", onLine: (line) => options.onLine(layer.name, line) }, async (exit, upper) => {
        if (exit.code !== 0) {
          const why = exit.timedOut
            ? `timed out after ${layer.run.limits.timeout} s`
            : exit.code === 137 && layer.run.limits.memory !== undefined
              ? `was killed (exit code 137): it most likely went over its memory limit of ${layer.run.limits.memory} bytes`
              : `failed with exit code ${exit.code}`;
          throw new DiagnosticError([
            error(place, `the step ${why}`, exit.tail.length === 0 ? "it printed nothing" : `its last lines:\n${exit.tail.map((l) => `    ${l}`).join("\n")}`),
          ]);
        }
        const normalised = await layerFromUpper(upper, layer.name, layer.cacheKey);
        if (normalised.dropped.length > 0) options.onDropped?.(layer.name, normalised.dropped);
        return buildLayer(store, normalised.layer, normalised.inputs, plan);
      });
    } catch (e) {
      // The sandbox's own refusals (a rootless limit, an unknown user) name the step here.
      if (e instanceof DiagnosticError) throw new DiagnosticError(e.diagnostics.map((d) => ({ ...place, ...d })));
      throw e;
    } finally {
      await fs.rm(secrets, { recursive: true, force: true });
    }
  };

const prepareMount = async (
  store: Store,
  m: PlannedMount,
  specDir: string,
  secrets: string,
  env: StepRunnerOptions["env"],
  place: { readonly exportName: string; readonly layer: string },
): Promise<SandboxMount> => {
  switch (m.type) {
    case "bind":
      return { kind: "bind", target: m.target, source: path.resolve(specDir, m.source) };
    case "cache": {
      const dir = cacheDir(store, m.id);
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
      return { kind: "cache", target: m.target, source: dir };
    }
    case "secret": {
      const value = m.env !== undefined ? env[m.env] : await fs.readFile(path.resolve(specDir, m.file ?? "")).catch(() => undefined);
      if (value === undefined) throw new DiagnosticError([error({ ...place, path: m.target }, m.env !== undefined ? `secret from environment variable ${m.env}, which is not set` : `secret file ${m.file} cannot be read`)]);
      await fs.mkdir(secrets, { recursive: true, mode: 0o700 });
      const file = path.join(secrets, randomBytes(8).toString("hex"));
      await fs.writeFile(file, value, { mode: 0o444 });
      return { kind: "secret", target: m.target, source: file };
    }
    default: {
      const never: never = m;
      throw new Error(`unhandled mount ${JSON.stringify(never)}`);
    }
  }
};
