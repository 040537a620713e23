/**
 * /etc/passwd and /etc/group as tables, and the check that an image's `User` names an
 * account its layers hold: what a runtime does when it starts the container, done when
 * the image is planned, so that every output (not only a runtime bundle) refuses it. The
 * files are read through the base's layers too, as a derived layer reads them.
 */
import type { Diagnostic, Place } from "../core/index.ts";
import { error } from "../core/index.ts";

/**
 * The rows of a colon-separated account file (`/etc/passwd`, `/etc/group`), each split
 * into its fields; blank lines and comments left out.
 *
 * @category destructors
 */
export const parseAccountTable = (text: string): ReadonlyArray<ReadonlyArray<string>> =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));

/**
 * An account file as the image's layers leave it: its text, `undefined` when no layer
 * has it, or `unknown` when it is not read (a numeric id needs no account).
 *
 * @category model
 */
export type AccountFile = string | undefined | "unknown";

const NUMERIC = /^[0-9]+$/;

/**
 * Checks `user[:group]` against the image's /etc/passwd and /etc/group: a name must be
 * listed there; a number need not be (as in Docker).
 *
 * @category destructors
 */
export const checkUser = (user: string, passwd: AccountFile, group: AccountFile, place: Place): ReadonlyArray<Diagnostic> => {
  const [name = "", groupName] = user.split(":");
  const out: Diagnostic[] = [];
  const look = (what: "user" | "group", n: string, file: AccountFile, path: string): void => {
    if (NUMERIC.test(n) || file === "unknown") return;
    if (file === undefined) {
      out.push(error(place, `${what} "${n}" is not in the image: no layer holds ${path}`, `add it (users([...]) from lading/stdlib writes both files), or give a numeric id`));
    } else if (!parseAccountTable(file).some((r) => r[0] === n)) {
      out.push(error(place, `${what} "${n}" is not in the image's ${path}`, `add it there, or give a numeric id`));
    }
  };
  look("user", name, passwd, "/etc/passwd");
  if (groupName !== undefined) look("group", groupName, group, "/etc/group");
  return out;
};
