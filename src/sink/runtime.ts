/**
 * An image's runtime settings (its `org.lading.runtime` label) lowered into an OCI
 * runtime config: resources, capabilities, a read-only root with tmpfs mounts, sysctls
 * and the network namespace. A label that does not decode is a diagnostic, not ignored.
 */
import * as E from "fp-ts/lib/Either.js";
import { DiagnosticError, error } from "../core/index.ts";
import { RuntimeSettings } from "../oci/index.ts";
import { RUNTIME_LABEL } from "../spec/Runtime.ts";

const CPU_PERIOD = 100_000;

/**
 * The runtime settings an image config's labels carry, or none.
 *
 * @category destructors
 */
export const runtimeSettingsOf = (labels: Readonly<Record<string, string>> | undefined): RuntimeSettings | undefined => {
  const raw = labels?.[RUNTIME_LABEL];
  if (raw === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const decoded = RuntimeSettings.decode(json);
  if (E.isLeft(decoded)) throw new DiagnosticError([error({}, `the image's ${RUNTIME_LABEL} label is not lading runtime settings`)]);
  return decoded.right;
};

type RuntimeConfig = Record<string, unknown> & {
  readonly process: Record<string, unknown> & { readonly capabilities: Readonly<Record<string, ReadonlyArray<string>>> };
  readonly root: Record<string, unknown>;
  readonly mounts: ReadonlyArray<unknown>;
  readonly linux: Record<string, unknown> & { readonly namespaces: ReadonlyArray<{ readonly type: string }>; readonly resources?: Record<string, unknown> };
};

/**
 * `config` (an OCI runtime config) with `settings` applied.
 *
 * @category combinators
 */
export const applyRuntimeSettings = (config: object, settings: RuntimeSettings | undefined): object => {
  if (settings === undefined) return config;
  const c = config as RuntimeConfig;
  const caps = (set: ReadonlyArray<string>): string[] => [...new Set([...set, ...(settings.capAdd ?? [])])].filter((x) => !(settings.capDrop ?? []).includes(x)).sort();
  const resources: Record<string, unknown> = { ...c.linux.resources };
  if (settings.memory !== undefined) resources["memory"] = { limit: settings.memory };
  if (settings.cpus !== undefined) resources["cpu"] = { quota: Math.round(settings.cpus * CPU_PERIOD), period: CPU_PERIOD };
  if (settings.pids !== undefined) resources["pids"] = { limit: settings.pids };
  return {
    ...c,
    process: { ...c.process, capabilities: Object.fromEntries(Object.entries(c.process.capabilities).map(([k, v]) => [k, caps(v)])) },
    root: { ...c.root, readonly: settings.readOnlyRoot === true },
    mounts: [...c.mounts, ...(settings.tmpfs ?? []).map((p) => ({ destination: p, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] }))],
    linux: {
      ...c.linux,
      namespaces: c.linux.namespaces.filter((n) => settings.network !== "host" || n.type !== "network"),
      resources,
      ...(settings.sysctls === undefined ? {} : { sysctl: settings.sysctls }),
    },
  };
};
