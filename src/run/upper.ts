/**
 * The upper directory of a step's overlay, normalised into a layer by the determinism
 * rules: entries sorted bytewise, parents first; modes and owners as the command left
 * them; mtimes left to the tar writer (the plan's `created`); an overlay whiteout (a 0:0
 * character device) becomes a `.wh.` entry and an opaque directory gets `.wh..wh..opq`;
 * sockets, fifos and devices are dropped; files with several names become one file and
 * hard links to its first name.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Digest, ImagePath } from "../core/index.ts";
import { DiagnosticError, digestOf, error, sortBytewise } from "../core/index.ts";
import { isWhiteoutName } from "../oci/index.ts";
import type { PlanInputs, PlannedEntry, PlannedLayer } from "../plan/index.ts";
import { nodeHost } from "../plan/index.ts";
import { isRoot } from "./unpack.ts";

const exec = promisify(execFile);

const EMPTY = new Uint8Array(0);
const EMPTY_DIGEST = digestOf(EMPTY);
const OPAQUE = /^(trusted|user)\.overlay\.opaque$/;
const KEPT = /^((trusted|user)\.overlay\.opaque|security\.capability)$/;
/** "y", base64: the value overlayfs gives an opaque directory's mark. */
const YES = Buffer.from("y").toString("base64");

/**
 * A step's changes as a planned layer, with the inputs its build reads (the upper
 * directory's files), and the paths left out (sockets, fifos, devices).
 *
 * @category model
 */
export interface UpperLayer {
  readonly layer: PlannedLayer;
  readonly inputs: PlanInputs;
  readonly dropped: ReadonlyArray<string>;
}

/**
 * The extended attributes that matter in the upper directory, by absolute path and name,
 * base64: overlayfs's opaque marks and `security.capability`. One call of getfattr.
 */
const readXattrs = async (upper: string): Promise<ReadonlyMap<string, ReadonlyMap<string, string>>> => {
  const { stdout } = await exec("getfattr", ["-R", "-P", "--absolute-names", "-d", "-e", "base64", "-m", KEPT.source, upper], { maxBuffer: 64 << 20 }).catch(
    (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") throw new Error("getfattr is missing: install the attr package");
      throw e;
    },
  );
  const found = new Map<string, Map<string, string>>();
  let file: string | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) file = line.slice(8);
    else if (file !== undefined) {
      const m = /^([^=]+)=0s(.*)$/.exec(line);
      if (m === null || !KEPT.test(m[1]!)) continue;
      const attrs = found.get(file) ?? new Map<string, string>();
      attrs.set(m[1]!, m[2]!);
      found.set(file, attrs);
    }
  }
  return found;
};

/**
 * Reads the upper directory `upper` into the layer `name`, keyed `cacheKey`.
 *
 * @category constructors
 */
export const layerFromUpper = async (upper: string, name: string, cacheKey: Digest): Promise<UpperLayer> => {
  const host = nodeHost();
  // Rootless, what the namespace's root made is the user's on the host: root's in the layer.
  const uid = (id: number): number => (!isRoot && id === process.getuid?.() ? 0 : id);
  const gid = (id: number): number => (!isRoot && id === process.getgid?.() ? 0 : id);
  const xattrs = await readXattrs(upper);
  const isOpaque = (file: string): boolean => [...(xattrs.get(file) ?? new Map<string, string>())].some(([k, v]) => OPAQUE.test(k) && v === YES);
  const entries: PlannedEntry[] = [];
  const dropped: string[] = [];
  const byInode = new Map<number, ImagePath[]>();
  const walk = async (abs: string, at: string): Promise<void> => {
    for (const child of await fs.readdir(abs)) {
      const p = `${at}/${child}` as ImagePath;
      const file = path.join(abs, child);
      const st = await fs.lstat(file);
      // Written to a layer, such a name would delete files of the layers below it.
      if (isWhiteoutName(child) && !(st.isCharacterDevice() && st.rdev === 0)) {
        throw new DiagnosticError([error({ path: p }, `the step made ${p}, a name the layer format reserves for whiteouts`, "name it otherwise, or remove it in the step")]);
      }
      const owner = { mode: st.mode & 0o7777, uid: uid(st.uid), gid: gid(st.gid) };
      if (st.isDirectory()) {
        entries.push({ path: p, type: "dir", ...owner });
        if (isOpaque(file)) entries.push({ path: `${p}/.wh..wh..opq`, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, digest: EMPTY_DIGEST, source: "inline" });
        await walk(file, p);
      } else if (st.isFile()) {
        const hostStat = await host.stat(file);
        const digest = await host.hashFile(file, hostStat!);
        const capability = xattrs.get(file)?.get("security.capability");
        entries.push({ path: p, type: "file", ...owner, size: st.size, digest, source: path.relative(upper, file), ...(capability === undefined ? {} : { xattrs: { "security.capability": capability } }) });
        if (st.nlink > 1) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), p]);
      } else if (st.isSymbolicLink()) {
        entries.push({ path: p, type: "symlink", mode: 0o777, uid: owner.uid, gid: owner.gid, target: await fs.readlink(file) });
      } else if (st.isCharacterDevice() && st.rdev === 0) {
        entries.push({ path: `${at}/.wh.${child}` as ImagePath, type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, digest: EMPTY_DIGEST, source: "inline" });
      } else dropped.push(p);
    }
  };
  await walk(upper, "");
  const sorted = sortBytewise(entries, (e) => e.path);
  // Names of one file inside the layer: the first carries the content, the rest link to it.
  const linkTo = new Map<string, ImagePath>();
  for (const names of byInode.values()) {
    const [first, ...rest] = sortBytewise(names, (n) => n);
    for (const n of rest) linkTo.set(n, first!);
  }
  const final = sorted.map((e): PlannedEntry => {
    const target = linkTo.get(e.path);
    return target === undefined ? e : { path: e.path, type: "hardlink", mode: e.mode, uid: e.uid, gid: e.gid, target };
  });
  return {
    layer: { name, entries: final, contentSize: final.reduce((n, e) => n + (e.type === "file" ? (e.size ?? 0) : 0), 0), cacheKey },
    inputs: { specDir: upper, inline: new Map([[EMPTY_DIGEST, EMPTY]]) },
    dropped,
  };
};
