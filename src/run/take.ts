/**
 * Files taken out of a built image's file system, for `Entry.fromImage`: the image's
 * layers (unpacked once each, as for run steps) are mounted as a read-only overlay, the
 * file or directory is copied out into the store, keyed by the image's manifest digest
 * and the path, and the overlay is taken down. A second build finds it there.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import type { ImagePath, Place } from "../core/index.ts";
import type { Image } from "../oci/index.ts";
import { manifestOf } from "../oci/index.ts";
import { DiagnosticError, digestHex, digestOf, error } from "../core/index.ts";
import type { Store } from "../store/index.ts";
import { pathExists } from "../store/index.ts";
import { lowerRoot, lowersOf } from "./unpack.ts";

const exec = promisify(execFile);

/**
 * Takes `source` out of `image` and returns the host path of the copy (a file or a
 * directory); a path the image does not have, or reaches only through a symlink, is an
 * error at `place`.
 *
 * @category destructors
 */
export const takeFromImage = async (
  store: Store,
  image: Image,
  source: ImagePath,
  place: Place,
): Promise<string> => {
  const dest = path.join(store.root, "run", "from", digestHex(digestOf(`${manifestOf(image).digest}\0${source}`)));
  const content = path.join(dest, "content");
  if (await pathExists(content)) return content;
  const lowers = await lowersOf(store, image.layers);
  const dir = path.join(store.root, "run", "s", `${process.pid}-${randomBytes(6).toString("hex")}`);
  const [empty, merged, tmp] = [path.join(dir, "e"), path.join(dir, "r"), path.join(dir, "t")] as const;
  let mounted = false;
  try {
    for (const d of [empty, merged, tmp]) await fs.mkdir(d, { recursive: true });
    // Without an upper directory the overlay is read-only; it needs two lowers at least.
    const root = lowerRoot(store);
    const names = [...lowers].reverse().map((l) => path.relative(root, l));
    await exec("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${[...names, empty].join(":")}`, merged], { cwd: root });
    mounted = true;
    let at = merged;
    for (const seg of source.split("/").filter((s) => s !== "")) {
      at = path.join(at, seg);
      const st = await fs.lstat(at).catch(() => undefined);
      if (st === undefined) throw new DiagnosticError([error(place, `the image files are taken from has no ${source}`)]);
      if (st.isSymbolicLink()) throw new DiagnosticError([error(place, `${source} goes through a symlink in the image files are taken from`, "name the path it points to")]);
    }
    await exec("cp", ["-a", at, path.join(tmp, "content")]);
    await exec("umount", [merged]);
    mounted = false;
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.rename(tmp, dest).catch(async (e: NodeJS.ErrnoException) => {
      // Taken by another build meanwhile: the same files.
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
    });
    return content;
  } finally {
    if (mounted) await exec("umount", ["-l", merged]).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
};
