/**
 * Unpacked root file systems (from umoci or a runtime bundle) compared with a plan.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { BuildPlan, PlannedEntry } from "../../src/plan/index.ts";
import type { InspectedLayer } from "../../src/sink/index.ts";
import { flattenLayers } from "../../src/sink/index.ts";

/** What a tree holds at a path, in the shape of a plan's entries. */
export interface UnpackedEntry {
  readonly type: PlannedEntry["type"];
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly digest?: string;
  readonly target?: string;
}

/** Walks an unpacked rootfs into path -> entry, the shape of a plan's entries. */
export const walkRootfs = async (root: string): Promise<Map<string, UnpackedEntry>> => {
  const out = new Map<string, UnpackedEntry>();
  const visit = async (dir: string): Promise<void> => {
    for (const name of await fs.readdir(dir)) {
      const abs = path.join(dir, name);
      const st = await fs.lstat(abs);
      const p = `/${path.relative(root, abs)}`;
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isDirectory()) {
        out.set(p, { type: "dir", ...base });
        await visit(abs);
      } else if (st.isSymbolicLink()) out.set(p, { type: "symlink", ...base, mode: 0o777, target: await fs.readlink(abs) });
      else if (st.isFile()) {
        const digest = `sha256:${createHash("sha256").update(await fs.readFile(abs)).digest("hex")}`;
        out.set(p, { type: "file", ...base, digest });
      } else throw new Error(`unexpected file type at ${p}`);
    }
  };
  await visit(root);
  return out;
};

/** An entry as an unpacked tree shows it: a symlink's mode is always 0777. */
const unpackedOf = (e: {
  readonly type: "file" | "dir" | "symlink";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly digest?: string | undefined;
  readonly target?: string | undefined;
}): UnpackedEntry => ({
  type: e.type,
  mode: e.type === "symlink" ? 0o777 : e.mode,
  uid: e.uid,
  gid: e.gid,
  ...(e.digest === undefined ? {} : { digest: e.digest }),
  ...(e.target === undefined ? {} : { target: e.target }),
});

/**
 * The tree a plan declares, layers applied in order; whiteouts (Entry.remove, Entry.opaque)
 * are not applied, so compare only plans without them.
 * A hard link unpacks as another name of its target, so it is expected to look the same.
 */
export const expectedTree = (plan: BuildPlan): Map<string, UnpackedEntry> => {
  const expected = new Map<string, UnpackedEntry>();
  for (const layer of plan.layers) {
    for (const e of layer.entries) {
      if (e.type === "hardlink") {
        const target = expected.get(e.target ?? "");
        if (target === undefined) throw new Error(`hardlink ${e.path} to a path not planned before it`);
        expected.set(e.path, target);
        continue;
      }
      expected.set(e.path, unpackedOf({ ...e, type: e.type }));
    }
  }
  return expected;
};

/**
 * The tree built layers give, applied in order with their whiteouts, as lading reads
 * them: for images whose run steps' files are known only once built.
 */
export const treeOfLayers = (layers: ReadonlyArray<InspectedLayer>): Map<string, UnpackedEntry> => {
  const expected = new Map<string, UnpackedEntry>();
  const tree = flattenLayers(layers);
  for (const f of tree.values()) {
    if (f.path === "/") continue;
    if (f.type === "hardlink") {
      const target = tree.get(f.target ?? "");
      if (target === undefined || target.type !== "file") throw new Error(`hardlink ${f.path} to a path not a file of the image`);
      expected.set(f.path, unpackedOf({ ...target, type: "file" }));
      continue;
    }
    if (f.type === "other") throw new Error(`unexpected entry type at ${f.path}`);
    expected.set(f.path, unpackedOf({ ...f, type: f.type }));
  }
  return expected;
};
