/**
 * Users and groups: `/etc/passwd` and `/etc/group` generated from data, so an image can
 * run as a named non-root user without a distribution.
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
  readonly gid?: number;
  readonly home?: ImagePath;
  readonly shell?: string;
  /** Create the home directory, owned by the user. */
  readonly createHome?: boolean;
}

const root: User = { name: "root", uid: 0, home: "/root", shell: "/bin/sh" };

/**
 * A layer with `/etc/passwd` and `/etc/group` for root plus `users`, and their homes.
 *
 * @category constructors
 */
export const users = (list: ReadonlyArray<User>, name = "users"): Layer.Layer =>
  Layer.generated(name, () => {
    const all = [root, ...list];
    const passwd = all.map((u) => `${u.name}:x:${u.uid}:${u.gid ?? u.uid}::${u.home ?? "/"}:${u.shell ?? "/bin/sh"}\n`).join("");
    const group = all.map((u) => `${u.name}:x:${u.gid ?? u.uid}:\n`).join("");
    const homes = list
      .filter((u) => u.createHome === true && u.home !== undefined)
      .map((u) => Entry.directory(u.home!, { mode: 0o750, uid: u.uid, gid: u.gid ?? u.uid }));
    return [Entry.file("/etc/passwd", passwd), Entry.file("/etc/group", group), ...homes];
  });
