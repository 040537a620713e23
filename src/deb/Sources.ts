/**
 * The host's apt sources, read as apt and mmdebstrap read them: deb822 `.sources` files
 * in `sources.list.d/`, and one-line `deb URI SUITE COMPONENT...` entries in
 * `sources.list` and `sources.list.d/*.list`. They tell lading where an archive lives
 * when a spec leaves the location out, so no spec names a mirror.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { field, parseParagraphs } from "./Control.ts";

/**
 * One apt source entry: where an archive is, which suites and components of it, and the
 * keyring it is signed with (apt's `Signed-By`, when it names a file).
 *
 * @category model
 */
export interface AptSource {
  readonly uri: string;
  readonly suites: ReadonlyArray<string>;
  readonly components: ReadonlyArray<string>;
  readonly signedBy?: string;
  /** The file it was read from, for diagnostics. */
  readonly from: string;
}

const words = (s: string | undefined): string[] => (s ?? "").split(/\s+/).filter((w) => w !== "");

/**
 * The entries of a deb822 `.sources` file (binary `deb` types only, `Enabled: no`
 * skipped).
 *
 * @category constructors
 */
export const parseDeb822Sources = (text: string, from: string): ReadonlyArray<AptSource> =>
  parseParagraphs(text).flatMap((p) => {
    if (!words(field(p, "Types")).includes("deb") || field(p, "Enabled")?.toLowerCase() === "no") return [];
    const signedBy = field(p, "Signed-By");
    // Signed-By may hold an inline key block; only a file name is used here.
    const keyring = signedBy !== undefined && !signedBy.includes("\n") && signedBy.startsWith("/") ? { signedBy } : {};
    return words(field(p, "URIs")).map((uri) => ({ uri, suites: words(field(p, "Suites")), components: words(field(p, "Components")), ...keyring, from }));
  });

/**
 * The `deb` entries of a one-line `sources.list` file, options such as
 * `[signed-by=...]` included.
 *
 * @category constructors
 */
export const parseOneLineSources = (text: string, from: string): ReadonlyArray<AptSource> =>
  text.split("\n").flatMap((raw) => {
    const line = raw.replace(/#.*/, "").trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m === null) return [];
    const signed = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? "");
    return [{ uri: m[2]!, suites: [m[3]!], components: words(m[4]), ...(signed === null ? {} : { signedBy: signed[1]! }), from }];
  });

/**
 * Every binary source of the apt configuration under `etc` (default `/etc/apt`), in the
 * order apt reads them.
 *
 * @category constructors
 */
export const readAptSources = async (etc = "/etc/apt"): Promise<ReadonlyArray<AptSource>> => {
  const read = (f: string): Promise<string | undefined> => fs.readFile(f, "utf8").catch(() => undefined);
  const out: AptSource[] = [];
  const list = path.join(etc, "sources.list");
  const main = await read(list);
  if (main !== undefined) out.push(...parseOneLineSources(main, list));
  const dir = path.join(etc, "sources.list.d");
  const names = (await fs.readdir(dir).catch(() => [] as string[])).sort();
  for (const name of names) {
    const file = path.join(dir, name);
    const text = await read(file);
    if (text === undefined) continue;
    if (name.endsWith(".sources")) out.push(...parseDeb822Sources(text, file));
    else if (name.endsWith(".list")) out.push(...parseOneLineSources(text, file));
  }
  return out;
};

/**
 * The archive a Debian suite comes from when the host's apt configuration serves none
 * (a machine without apt): the Debian project's own redirector to a nearby mirror,
 * as mmdebstrap defaults to it.
 *
 * @category constants
 */
export const DEBIAN_REDIRECTOR = "http://deb.debian.org/debian";

/**
 * The first source that serves `suite`; when none does, Debian's redirector (its
 * `-security` archive for a security suite).
 *
 * @category destructors
 */
export const sourceForSuite = (sources: ReadonlyArray<AptSource>, suite: string): AptSource =>
  sources.find((s) => s.suites.includes(suite)) ?? {
    uri: suite.endsWith("-security") ? `${DEBIAN_REDIRECTOR}-security` : DEBIAN_REDIRECTOR,
    suites: [suite],
    components: ["main"],
    from: "lading's default",
  };
