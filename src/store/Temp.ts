/**
 * Temporary names that say who owns them. Every temp file or directory lading makes (in
 * the store, beside an output, in the system's temp directory) carries its process's id
 * and that process's start time, so a later run can tell the leftovers of a killed
 * process from the work in progress of a live one, and remove only the former. The
 * start time makes a reused pid count as another process.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";

/**
 * A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`), or
 * undefined when the process does not exist. Where there is no /proc, 0 for any live
 * process: then the pid alone tells.
 */
const startTime = (pid: number): number | undefined => {
  if (!hasProc()) {
    try {
      process.kill(pid, 0);
      return 0;
    } catch (e) {
      // EPERM: it exists, owned by another user.
      return (e as NodeJS.ErrnoException).code === "EPERM" ? 0 : undefined;
    }
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) ? ticks : 0;
};

let procSeen: boolean | undefined;
const hasProc = (): boolean => (procSeen ??= (() => {
  try {
    readFileSync("/proc/self/stat");
    return true;
  } catch {
    return false;
  }
})());

/** This process, as `PID.START`. */
const SELF = `${process.pid}.${startTime(process.pid) ?? 0}`;

/** `.tmp-` and `.old-` names beside a target, and lading's directories in the system temp dir. */
const OWNED = /(?:\.tmp-|\.old-|^lading-[a-z]+-)([0-9]+)\.([0-9]+)\.[0-9A-Za-z]+$/;

/**
 * A fresh temp name for `target`: `TARGET.tmp-PID.START.RANDOM` (or `.old-` for a
 * previous output moved aside), in the same directory, so a rename puts it in place.
 *
 * @category constructors
 */
export const tempNameFor = (target: string, kind: "tmp" | "old" = "tmp"): string => `${target}.${kind}-${SELF}.${randomBytes(6).toString("hex")}`;

/**
 * The prefix of a temp directory made with `fs.mkdtemp` in the system's temp directory
 * for `purpose` (`open`, `pull`): `lading-PURPOSE-PID.START.` then mkdtemp's six characters.
 *
 * @category constructors
 */
export const tempDirPrefix = (dir: string, purpose: string): string => path.join(dir, `lading-${purpose}-${SELF}.`);

/**
 * Whether a temp name belongs to a process that has gone (killed, or crashed), so
 * that nobody will finish or remove it. Names that carry no owner are never stale:
 * they may be anyone's.
 *
 * @category destructors
 */
export const isStaleTemp = (name: string): boolean => {
  const m = OWNED.exec(name);
  return m !== null && ownerIsGone(`${m[1]}.${m[2]}`);
};

/**
 * This process as an owner: `PID.START`, what a lock file holds.
 *
 * @category constants
 */
export const PROCESS_OWNER = SELF;

/**
 * Whether the process an owner tag (`PID.START`) names has gone. A tag that cannot be
 * read is not known to have gone.
 *
 * @category destructors
 */
export const ownerIsGone = (owner: string): boolean => {
  const m = /^([0-9]+)\.([0-9]+)$/.exec(owner.trim());
  if (m === null) return false;
  const pid = Number(m[1]);
  const start = Number(m[2]);
  if (pid === process.pid) return `${pid}.${start}` !== SELF;
  const now = startTime(pid);
  return now === undefined || (now !== 0 && start !== 0 && now !== start);
};

/**
 * Removes the temp files and directories in `dir` left by processes that are gone,
 * those whose name `matches` (by default all of lading's). Temp files of live processes,
 * including other builds running now, are left alone. Returns how many were removed.
 *
 * @category destructors
 */
export const sweepStaleTemps = async (dir: string, matches: (name: string) => boolean = () => true): Promise<number> => {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    if (!matches(name) || !isStaleTemp(name)) continue;
    await fs.rm(path.join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
};

/**
 * Removes what a killed process left beside `target` (its `.tmp-` and `.old-` names).
 *
 * @category destructors
 */
export const sweepBeside = (target: string): Promise<number> => {
  const base = path.basename(path.resolve(target));
  return sweepStaleTemps(path.dirname(path.resolve(target)), (name) => name.startsWith(`${base}.tmp-`) || name.startsWith(`${base}.old-`));
};
