/**
 * Users and groups as data: the functional form of a Dockerfile's `RUN adduser`. The
 * layer reads the image below it, so on a base (Debian's, with its eighteen users and
 * tty, disk, adm and the other groups) it adds lines to the base's files instead of
 * replacing them; on an image with no account files it writes them, with root.
 */
import { Entry, Layer } from "lading";
import type { ImagePath } from "lading";

/**
 * A user for {@link users}: a passwd line plus a group of the same name. gid defaults to
 * uid, home to `/`, shell to `/bin/sh`.
 *
 * @category model
 */
export interface User {
  readonly name: string;
  readonly uid: number;
  /** The primary group: a group of the base with this gid, else a new one named as the user. */
  readonly gid?: number;
  readonly home?: ImagePath;
  readonly shell?: string;
  /** Create the home directory, owned by the user. */
  readonly createHome?: boolean;
}

const root: User = { name: "root", uid: 0, home: "/root", shell: "/bin/sh" };

/** The rows of an account file, each split into its fields; blank lines and comments left out. */
const rowsOf = (text: string): ReadonlyArray<ReadonlyArray<string>> =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));

/** `text` with `lines` after it, on lines of their own. */
const append = (text: string, lines: ReadonlyArray<string>): string =>
  lines.length === 0 ? text : `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${lines.map((l) => `${l}\n`).join("")}`;

/**
 * An account file with lines added: its mode and owner kept when the image below has it
 * (`/etc/shadow` is 0640 root:shadow on Debian), else 0644 root.
 */
const rewrite = (below: Layer.Below, path: ImagePath, text: string): Entry.Entry => {
  const st = below.stat(path);
  return st === undefined ? Entry.file(path, text) : Entry.file(path, text, { mode: st.mode, uid: st.uid, gid: st.gid });
};

/**
 * A layer that adds `users` to the image's `/etc/passwd` and `/etc/group` (and to
 * `/etc/shadow` and `/etc/gshadow` when the image has them, locked with `!` as adduser
 * leaves a new account), and makes their homes. Without a `/etc/passwd` below, the file
 * holds root and `users`, and likewise `/etc/group`. A name or id the image already has
 * for another account is an error naming both; the same line again adds nothing.
 *
 * @category constructors
 */
export const users = (list: ReadonlyArray<User>, name = "users"): Layer.Layer =>
  Layer.derived(name, (below) => {
    const basePasswd = below.readText("/etc/passwd");
    const baseGroup = below.readText("/etc/group");
    const passwd = rowsOf(basePasswd ?? "").map((r) => [...r]);
    const group = rowsOf(baseGroup ?? "").map((r) => [...r]);
    const newUsers: string[] = [];
    const newGroups: string[] = [];
    // Root comes first in a file this layer starts; a file below has its own.
    for (const u of [...(basePasswd === undefined || baseGroup === undefined ? [root] : []), ...list]) {
      const gid = u.gid ?? u.uid;
      const line = `${u.name}:x:${u.uid}:${gid}::${u.home ?? "/"}:${u.shell ?? "/bin/sh"}`;
      const sameName = passwd.find((r) => r[0] === u.name);
      if (u === root && basePasswd !== undefined) {
        // The file below has root as it wants it.
      } else if (sameName !== undefined) {
        if (sameName.join(":") !== line) throw new Error(`user ${u.name} is already in /etc/passwd, as "${sameName.join(":")}"`);
      } else {
        const sameId = passwd.find((r) => r[2] === String(u.uid));
        if (sameId !== undefined) throw new Error(`uid ${u.uid} of user ${u.name} is already ${sameId[0]}'s in /etc/passwd`);
        passwd.push(line.split(":"));
        newUsers.push(u.name);
      }
      if (u === root && baseGroup !== undefined) continue;
      const groupLine = `${u.name}:x:${gid}:`;
      const sameGroup = group.find((r) => r[0] === u.name);
      const sameGid = group.find((r) => r[2] === String(gid));
      if (sameGroup !== undefined) {
        if (sameGroup[2] !== String(gid)) throw new Error(`group ${u.name} is already in /etc/group, with gid ${sameGroup[2]}, not ${gid}`);
      } else if (sameGid !== undefined) {
        // A gid given is an existing group to join; one taken from the uid must be new.
        if (u.gid === undefined) throw new Error(`gid ${gid} of user ${u.name} is already group ${sameGid[0]}'s in /etc/group: give the gid explicitly to join that group`);
      } else {
        group.push(groupLine.split(":"));
        newGroups.push(u.name);
      }
    }
    const passwdText = append(basePasswd ?? "", passwd.slice(passwd.length - newUsers.length).map((r) => r.join(":")));
    const groupText = append(baseGroup ?? "", group.slice(group.length - newGroups.length).map((r) => r.join(":")));
    const entries: Entry.Entry[] = [rewrite(below, "/etc/passwd", passwdText), rewrite(below, "/etc/group", groupText)];
    const shadow = below.readText("/etc/shadow");
    if (shadow !== undefined) entries.push(rewrite(below, "/etc/shadow", append(shadow, newUsers.map((n) => `${n}:!::0:99999:7:::`))));
    const gshadow = below.readText("/etc/gshadow");
    if (gshadow !== undefined) entries.push(rewrite(below, "/etc/gshadow", append(gshadow, newGroups.map((n) => `${n}:!::`))));
    const homes = list
      .filter((u) => u.createHome === true && u.home !== undefined)
      .map((u) => Entry.directory(u.home!, { mode: 0o750, uid: u.uid, gid: u.gid ?? u.uid }));
    return [...entries, ...homes];
  });
