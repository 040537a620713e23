/**
 * eval of an image's runtime settings: checked, normalised (memory in bytes, capability
 * names with their CAP_ prefix, sorted), and turned into the label that carries them.
 */
import * as E from "fp-ts/lib/Either.js";
import type { Diagnostic, Place } from "../core/index.ts";
import { canonicalJson, error, normalizeImagePath } from "../core/index.ts";
import type { Runtime } from "../spec/Runtime.ts";
import { parseMemory } from "./run.ts";

/** The capabilities Linux knows, without their CAP_ prefix. */
const CAPABILITIES = new Set(
  "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE".split(" "),
);
const SYSCTL = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/;

/**
 * The label value of `runtime`, or undefined when it sets nothing; problems go to `out`.
 *
 * @category destructors
 */
export const evalRuntime = (runtime: Runtime, place: Place, out: Diagnostic[]): string | undefined => {
  const settings: Record<string, unknown> = {};
  const at: Place = { ...place, layer: "runtime" };
  if (runtime.memory !== undefined) {
    const m = parseMemory(runtime.memory);
    if (E.isLeft(m)) out.push(error(at, m.left));
    else settings["memory"] = m.right;
  }
  for (const k of ["cpus", "pids"] as const) {
    const v = runtime[k];
    if (v === undefined) continue;
    if (typeof v !== "number" || !(v > 0) || (k === "pids" && !Number.isInteger(v))) out.push(error(at, `${k} must be a positive number, got ${JSON.stringify(v)}`));
    else settings[k] = v;
  }
  const caps = (list: ReadonlyArray<string> | undefined, what: string): string[] | undefined => {
    if (list === undefined) return undefined;
    const names = list.map((c) => (typeof c === "string" ? c.toUpperCase().replace(/^CAP_/, "") : ""));
    for (const [i, n] of names.entries()) if (!CAPABILITIES.has(n)) out.push(error(at, `unknown capability ${JSON.stringify(list[i])} to ${what}`, 'e.g. "NET_ADMIN" or "CAP_NET_ADMIN"'));
    return [...new Set(names.map((n) => `CAP_${n}`))].sort();
  };
  const add = caps(runtime.capabilities?.add, "add");
  const drop = caps(runtime.capabilities?.drop, "drop");
  if (add !== undefined && add.length > 0) settings["capAdd"] = add;
  if (drop !== undefined && drop.length > 0) settings["capDrop"] = drop;
  if (runtime.readOnlyRoot === true) settings["readOnlyRoot"] = true;
  if (runtime.tmpfs !== undefined) {
    const paths: string[] = [];
    for (const p of runtime.tmpfs) {
      const r = typeof p === "string" && p.startsWith("/") ? normalizeImagePath(p) : E.left("must be an absolute in-image path");
      if (E.isLeft(r)) out.push(error({ ...at, path: String(p) }, `tmpfs ${r.left}`));
      else paths.push(r.right);
    }
    if (paths.length > 0) settings["tmpfs"] = [...new Set(paths)].sort();
  }
  if (runtime.sysctls !== undefined) {
    for (const [k, v] of Object.entries(runtime.sysctls)) {
      if (!SYSCTL.test(k) || typeof v !== "string") out.push(error(at, `invalid sysctl ${JSON.stringify(k)}`, 'e.g. { "net.ipv4.ip_unprivileged_port_start": "0" }'));
    }
    if (Object.keys(runtime.sysctls).length > 0) settings["sysctls"] = runtime.sysctls;
  }
  if (runtime.network !== undefined) {
    if (runtime.network !== "none" && runtime.network !== "host") out.push(error(at, `network must be "none" or "host", got ${JSON.stringify(runtime.network)}`));
    else if (runtime.network === "host") settings["network"] = "host";
  }
  return Object.keys(settings).length === 0 ? undefined : canonicalJson(settings);
};
