/**
 * Diffs of plans whose host files were identified, not hashed (`hostFiles: "identified"`):
 * a copied host file's digest is a stand-in made of its path and fingerprint, so two
 * sides that take the same unchanged file agree without reading a byte. Only the files
 * whose stand-ins differ, and whose sizes cannot tell them apart, are hashed here.
 */
import * as path from "node:path";
import { DiagnosticError, error } from "../core/index.ts";
import type { Digest } from "../core/index.ts";
import type { EntryList, Host } from "../plan/index.ts";
import { hostFileIdentity, PackedEntries } from "../plan/index.ts";
import type { DiffOptions, ImageDiff } from "./compare.ts";
import { diffImages } from "./compare.ts";
import type { ImageView, LayerEntry, LayerView } from "./ImageView.ts";

/**
 * A side of a diff: its view, and for a spec the directory its host paths are relative
 * to, where an identified host file is found again to be hashed.
 *
 * @category model
 */
export interface SideView {
  readonly view: ImageView;
  readonly specDir: string;
}

/**
 * Whether the diff of two identified sides needs their hashed plans: a layer on both
 * sides has two cache keys, which hashed may still be one (the same bytes in another
 * file). Where every such pair has one key, their hashed keys are one too, and no key
 * of a side's own is shown but by the JSON rendering.
 *
 * @category destructors
 */
export const needsHashedPlans = (d: ImageDiff): boolean =>
  d.layers.some((l) => l.before !== undefined && l.after !== undefined && l.before.key !== l.after.key);

/**
 * Sources that are most likely not host paths (their digests are the content's own),
 * though a host path may be written so too: such a file is taken for a host file only
 * when its digest is the stand-in of the file at that path.
 */
const NOT_HOST = /^(inline$|deb:|tar:|url:)/;

/** The entry at `p` in a layer's entries: by halving in a plan's packed ones, else by a walk. */
const entryAt = (files: EntryList<LayerEntry>, p: string): LayerEntry | undefined => {
  if (files instanceof PackedEntries) {
    const i = files.findSorted(p);
    return i < 0 ? undefined : files.at(i);
  }
  for (const f of files) if (f.path === p) return f;
  return undefined;
};

/**
 * The host file behind the regular file at `p` of a side's tree (the topmost layer that
 * holds the path), when its digest is a stand-in.
 */
const hostFileAt = (side: SideView, p: string): { readonly abs: string; readonly standIn: Digest; readonly ambiguous: boolean } | undefined => {
  for (let i = side.view.layers.length - 1; i >= 0; i--) {
    const e = entryAt(side.view.layers[i]!.files, p) as (LayerEntry & { readonly source?: string }) | undefined;
    if (e === undefined) continue;
    if (e.type !== "file" || e.digest === undefined || e.source === undefined || e.source === "inline") return undefined;
    return { abs: path.resolve(side.specDir, e.source), standIn: e.digest, ambiguous: NOT_HOST.test(e.source) };
  }
  return undefined;
};

/** A layer whose entries show `real` digests in place of the stand-ins it maps. */
const withDigests = (l: LayerView, real: ReadonlyMap<Digest, Digest>): LayerView => {
  const map = (e: LayerEntry): LayerEntry => {
    const d = e.digest === undefined ? undefined : real.get(e.digest);
    return d === undefined ? e : { ...e, digest: d };
  };
  const files = l.files;
  return {
    ...l,
    files: {
      length: files.length,
      at: (i) => ((e) => (e === undefined ? undefined : map(e)))(files.at(i)),
      *[Symbol.iterator]() {
        for (const e of files) yield map(e);
      },
    },
  };
};

/**
 * The diff of two identified sides, told apart where a stand-in cannot: a file changed
 * in content between two other host files of one size is hashed on both sides (through
 * `host`, after checking that the file is still the one planned), and is no change if
 * the bytes are the same. The diff's file views keep the stand-ins of the files no one
 * hashed: only {@link needsHashedPlans} and the text and markdown renderings, which
 * show no digest of a file, may be given it.
 *
 * @category destructors
 */
export const diffIdentified = async (before: SideView, after: SideView, host: Host, options: DiffOptions = {}): Promise<ImageDiff> => {
  const d = diffImages(before.view, after.view, options);
  const real = new Map<Digest, Digest>();
  const hashed = async (side: SideView, p: string): Promise<void> => {
    const file = hostFileAt(side, p);
    if (file === undefined || real.has(file.standIn)) return;
    const st = await host.stat(file.abs);
    const identical = st !== undefined && hostFileIdentity(file.abs, st) === file.standIn;
    // A package's, an archive's or a download's file: its digest is its content's.
    if (file.ambiguous && !identical) return;
    if (st === undefined || !identical) {
      throw new DiagnosticError([error({ file: side.view.source, path: p }, `host file ${file.abs} changed while the diff was made: run it again`)]);
    }
    real.set(file.standIn, await host.hashFile(file.abs, st));
  };
  let same = false;
  for (const c of d.files) {
    // Of two sizes the bytes differ whatever they are: nothing to read.
    if (c.change !== "changed" || !c.aspects.includes("content") || c.before?.size !== c.after?.size) continue;
    await hashed(before, c.path);
    await hashed(after, c.path);
    const digestOf = (v: typeof c.before): Digest | undefined => (v?.digest === undefined ? undefined : (real.get(v.digest) ?? v.digest));
    if (digestOf(c.before) === digestOf(c.after)) same = true;
  }
  // Compared again only where two files hold the same bytes: that change is no change.
  if (!same) return d;
  // A list both sides share stays one list: its layers still compare as the same.
  const lists = new Map<EntryList<LayerEntry>, LayerView>();
  const resolvedLayer = (l: LayerView): LayerView => {
    const known = lists.get(l.files);
    if (known !== undefined) return { ...l, files: known.files };
    const made = withDigests(l, real);
    lists.set(l.files, made);
    return made;
  };
  const resolved = (side: SideView): ImageView => ({ ...side.view, layers: side.view.layers.map(resolvedLayer) });
  return diffImages(resolved(before), resolved(after), options);
};
