/**
 * The image below a layer, as plan sees it: the spec's layers planned so far over the
 * base image's layers. A derived layer reads it through a synchronous, pure view; the
 * files it asks for are found here, lazily: a base layer is read only when a path leads
 * to it, and only the bytes of the files asked for are kept.
 */
import * as path from "node:path";
import type { Diagnostic, Digest, ImagePath, Place } from "../core/index.ts";
import { DiagnosticError, digestOf, error, findBytewise } from "../core/index.ts";
import type { LayerIR } from "../eval/index.ts";
import { deriveEntries } from "../eval/index.ts";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "../oci/index.ts";
import type { Below, FileStat } from "../spec/Layer.ts";
import type { PlannedBase, PlannedEntry, PlannedRead } from "./BuildPlan.ts";
import type { BaseLayerRead, Host } from "./Host.ts";
import { hostFileIdentity } from "./Host.ts";
import type { EntryList } from "./PackedEntries.ts";
import { PackedEntries } from "./PackedEntries.ts";

/**
 * What the layers planned so far make of each path, the bottom one first: each layer's
 * own entries by path, not copies of them. A run step's are unknown until it has run.
 */
export type SpecLayers = ReadonlyArray<{ readonly layer: string; readonly byPath: ByPath; readonly step?: true }>;

/**
 * A layer's entries by path.
 *
 * @category model
 */
export interface ByPath {
  get(p: string): PlannedEntry | undefined;
  has(p: string): boolean;
}

/**
 * A planned layer's entries by path: they are sorted, and searched as they are, not
 * copied into a map (a plan of 200,000 files would hold each twice).
 *
 * @category constructors
 */
export const sortedByPath = (entries: EntryList<PlannedEntry>): ByPath => {
  const get = (p: string): PlannedEntry | undefined => {
    if (entries instanceof PackedEntries) {
      const i = entries.findSorted(p);
      return i < 0 ? undefined : entries.at(i);
    }
    return findBytewise(entries as ReadonlyArray<PlannedEntry>, (e) => e.path, p);
  };
  return { get, has: (p) => get(p) !== undefined };
};

/**
 * Whether a layer's whiteouts hide what lower layers hold at `p`: a whiteout of `p` or of
 * a directory above it, or an opaque directory above it.
 */
export const hidesBelow = (byPath: { has(p: string): boolean }, p: string): boolean => {
  for (let end = p.length; end > 0; end = p.lastIndexOf("/", end - 1)) {
    const at = p.slice(0, end);
    const slash = at.lastIndexOf("/");
    if (byPath.has(`${at.slice(0, slash)}/${WHITEOUT_PREFIX}${at.slice(slash + 1)}`)) return true;
    if (end < p.length && byPath.has(`${at}/${OPAQUE_WHITEOUT}`)) return true;
  }
  return byPath.has(`/${OPAQUE_WHITEOUT}`);
};

/** What the spec's layers make of `p`, the topmost first, whiteouts honoured. */
export const lookBelow = (below: SpecLayers, p: string): (PlannedEntry & { readonly layer: string }) | undefined | "unknown" => {
  for (let i = below.length - 1; i >= 0; i--) {
    // A run step may have changed anything under it: what it left is known only once it ran.
    if (below[i]!.step === true) return "unknown";
    const e = below[i]!.byPath.get(p);
    if (e !== undefined) return { ...e, layer: below[i]!.layer };
    if (hidesBelow(below[i]!.byPath, p)) return undefined;
  }
  return undefined;
};

/**
 * A file found below, symlinks followed: what it is, and its bytes on demand.
 *
 * @category model
 */
export interface FoundFile {
  readonly stat: FileStat;
  readonly bytes: () => Promise<Uint8Array>;
}

/**
 * Finds paths in the image below a layer.
 *
 * @category model
 */
export interface ImageBelow {
  /** What is at `p`, symlinks followed inside the root; `wanted` are paths whose bytes will be asked for. */
  find(p: ImagePath, wanted?: ReadonlySet<string>): Promise<FoundFile | undefined>;
}

/** Where plan keeps a file's bytes: inline, in a .deb's extracted content, or on the host. */
export interface ContentSources {
  readonly specDir: string;
  readonly inline: ReadonlyMap<Digest, Uint8Array>;
  readonly packageContent?: (digest: Digest) => string;
  /** Where an archive's or a download's file (source `tar:` or `url:`) is, by digest. */
  readonly archiveContent?: (digest: Digest) => string;
  /** Host files planned by identity ({@link import("./plan.ts").PlanOptions} `hostFiles`): their digests are stand-ins. */
  readonly hostFiles?: "identified";
}

/** `p` with `.` and `..` resolved, never above the root, as the kernel resolves a link in a chroot. */
const inRoot = (p: string): ImagePath => {
  const out: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") out.pop();
    else out.push(s);
  }
  return `/${out.join("/")}`;
};

/** A hard link is a file to whoever reads it; a symlink is followed before a stat is made. */
const kindOf = (t: PlannedEntry["type"] | "other"): FileStat["type"] => (t === "file" || t === "hardlink" ? "file" : t === "dir" ? "dir" : "other");

const ROOT: FileStat = { type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0 };

/** Symlinks followed at most this many times for one path, as Linux's ELOOP limit. */
const MAX_LINKS = 40;

/**
 * The base layers read so far by index, kept for one plan: each is listed once however
 * many layers above it read through it.
 *
 * @category model
 */
export type BaseListings = Map<number, Promise<BaseLayerRead>>;

/**
 * The image below: the spec's layers `specLayers` (a snapshot of the array as it is now)
 * over the base's layers. A base layer's listing is read once, when a path first reaches
 * it, with the bytes of the files then wanted.
 *
 * @category constructors
 */
export const imageBelow = (host: Host, base: PlannedBase | undefined, specLayers: SpecLayers, content: ContentSources, listings: BaseListings = new Map()): ImageBelow => {
  const layers = [...specLayers];
  const listing = (i: number, wanted: ReadonlySet<string>): Promise<BaseLayerRead> => {
    let l = listings.get(i);
    if (l === undefined) {
      l = host.readBaseLayer(base!, base!.layers[i]!, wanted);
      listings.set(i, l);
    }
    return l;
  };
  const baseBytes = async (i: number, p: string): Promise<Uint8Array> => {
    const known = (await listing(i, new Set())).contents.get(p);
    if (known !== undefined) return known;
    const again = await host.readBaseLayer(base!, base!.layers[i]!, new Set([p]));
    const bytes = again.contents.get(p);
    // An empty file in place of one that could not be read would pass for the base's own.
    if (bytes === undefined) throw new DiagnosticError([error({ path: p }, `the content of ${p} cannot be read from base layer ${base!.layers[i]!.digest}`)]);
    return bytes;
  };
  const specBytes = async (byPath: ByPath, e: PlannedEntry): Promise<Uint8Array> => {
    if (e.type === "hardlink") {
      const t = byPath.get(e.target);
      return t === undefined ? new Uint8Array(0) : specBytes(byPath, t);
    }
    if (e.type !== "file") return new Uint8Array(0);
    if (e.source === "inline") return content.inline.get(e.digest) ?? new Uint8Array(0);
    if (e.source?.startsWith("deb:") === true && content.packageContent !== undefined) return host.readFile(content.packageContent(e.digest));
    if (/^(tar|url):/.test(e.source ?? "") && content.archiveContent !== undefined) return host.readFile(content.archiveContent(e.digest));
    // A host file may have changed since it was hashed: what is read must be what was planned.
    const abs = path.resolve(content.specDir, e.source ?? "");
    // Planned by identity: the file must be the one planned before it is read and after,
    // and hold as many bytes as planned, so that no rewrite in between goes unseen.
    const identityNow = async (): Promise<Digest | undefined> => (await host.stat(abs).then((st) => (st === undefined ? undefined : hostFileIdentity(abs, st))));
    const before = content.hostFiles === "identified" ? await identityNow() : undefined;
    const bytes = await host.readFile(abs);
    const same =
      content.hostFiles === "identified" ? before === e.digest && bytes.byteLength === (e.size ?? -1) && (await identityNow()) === e.digest : digestOf(bytes) === e.digest;
    if (!same) throw new DiagnosticError([error({ path: e.path }, `host file ${e.source} changed while the image was planned: plan it again`)]);
    return bytes;
  };
  /** The entry at `p` itself, no link followed. */
  const entryAt = async (p: string, wanted: ReadonlySet<string>): Promise<(FoundFile & { readonly target?: string }) | undefined> => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const { byPath } = layers[i]!;
      const e = byPath.get(p);
      if (e !== undefined) {
        const stat: FileStat = { type: kindOf(e.type), mode: e.mode, uid: e.uid, gid: e.gid, size: e.type === "file" ? (e.size ?? 0) : 0 };
        return { stat, bytes: () => specBytes(byPath, e), ...(e.type === "symlink" && e.target !== undefined ? { target: e.target } : {}) };
      }
      if (hidesBelow(byPath, p)) return undefined;
    }
    for (let i = (base?.layers.length ?? 0) - 1; i >= 0; i--) {
      const { entries } = await listing(i, wanted);
      const e = entries.get(p);
      if (e !== undefined) {
        const { target, type, ...rest } = e;
        const from = type === "hardlink" && target !== undefined ? target : p;
        const size = type === "hardlink" ? (entries.get(from)?.size ?? 0) : rest.size;
        return { stat: { ...rest, type: kindOf(type), size }, bytes: () => baseBytes(i, from), ...(e.type === "symlink" && target !== undefined ? { target } : {}) };
      }
      if (hidesBelow(entries, p)) return undefined;
    }
    return undefined;
  };
  const find = async (p: ImagePath, wanted: ReadonlySet<string> = new Set(), links = 0): Promise<FoundFile | undefined> => {
    const segments = p.split("/").filter((s) => s !== "");
    let at = "";
    for (const [i, s] of segments.entries()) {
      const next = `${at}/${s}`;
      const last = i === segments.length - 1;
      const found = await entryAt(next, wanted);
      // A directory no layer lists may still be implied by what is below it.
      if (found === undefined) {
        if (last) return undefined;
        at = next;
        continue;
      }
      if (found.target !== undefined) {
        if (links >= MAX_LINKS) return undefined;
        const from = found.target.startsWith("/") ? "" : at;
        return find(inRoot(`${from}/${found.target}/${segments.slice(i + 1).join("/")}`), wanted, links + 1);
      }
      if (last) return found;
      if (found.stat.type !== "dir") return undefined;
      at = next;
    }
    return { stat: ROOT, bytes: async () => new Uint8Array(0) };
  };
  return { find: (p, wanted) => find(inRoot(p), wanted) };
};

/** Rounds of a derived layer's function: each one finds at least one more path. */
const MAX_ROUNDS = 1000;

/**
 * Forces a derived layer against the image below: its function runs with a view that
 * answers from the paths found so far and notes the others; those are found (in one
 * pass over each base layer they reach) and the function runs again, until it asks for
 * nothing new. The function is pure, so only the last run counts. Gives the layer with
 * its entries and every path the last run read, with what it found there.
 *
 * @category destructors
 */
export const forceDerived = async (
  below: ImageBelow,
  layer: LayerIR,
  place: Place,
  arch: string | undefined,
  out: Diagnostic[],
): Promise<{ readonly layer: LayerIR; readonly reads: ReadonlyArray<PlannedRead> } | undefined> => {
  const found = new Map<string, { readonly file: FoundFile | undefined; bytes?: Uint8Array }>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const missing = new Set<ImagePath>();
    const wanted = new Set<string>();
    const reads = new Map<string, PlannedRead>();
    const look = (raw: ImagePath, content: boolean): { readonly stat?: FileStat; readonly bytes?: Uint8Array } => {
      if (typeof raw !== "string" || !raw.startsWith("/")) throw new Error(`cannot read ${JSON.stringify(raw)}: paths below are absolute`);
      const p = inRoot(raw);
      const f = found.get(p);
      const known = f !== undefined && (!content || f.file?.stat.type !== "file" || f.bytes !== undefined);
      if (!known) {
        missing.add(p);
        if (content) wanted.add(p);
        return {};
      }
      const stat = f.file?.stat;
      const prev = reads.get(p);
      const digest = content && f.bytes !== undefined ? digestOf(f.bytes) : prev?.digest;
      reads.set(p, { path: p, ...(stat === undefined ? {} : { stat }), ...(digest === undefined ? {} : { digest }) });
      return { ...(stat === undefined ? {} : { stat }), ...(content && f.bytes !== undefined ? { bytes: f.bytes } : {}) };
    };
    const view: Below = Object.freeze({
      readFile: (p: ImagePath) => look(p, true).bytes?.slice(),
      readText: (p: ImagePath) => {
        const b = look(p, true).bytes;
        return b === undefined ? undefined : new TextDecoder().decode(b);
      },
      exists: (p: ImagePath) => look(p, false).stat !== undefined,
      stat: (p: ImagePath) => look(p, false).stat,
    });
    const result = deriveEntries(place.file ?? "", place.exportName ?? "", layer, view, arch);
    if (missing.size === 0) {
      if (result._tag === "Left") {
        out.push(...result.left);
        return undefined;
      }
      return { layer: result.right, reads: [...reads.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
    }
    try {
      for (const p of missing) {
        const file = await below.find(p, wanted);
        const bytes = wanted.has(p) && file?.stat.type === "file" ? await file.bytes() : undefined;
        found.set(p, { file, ...(bytes === undefined ? {} : { bytes }) });
      }
    } catch (e) {
      if (!(e instanceof DiagnosticError)) throw e;
      // The spec's place, with the base's where the message says what went wrong.
      out.push(...e.diagnostics.map((d) => ({ ...d, ...place, message: `reading the image below${d.file === undefined ? "" : ` (${d.file})`}: ${d.message}` })));
      return undefined;
    }
  }
  out.push(error(place, `the derived layer's function asked for new paths ${MAX_ROUNDS} times over: it is not pure`));
  return undefined;
};
