/**
 * The sides of `lading diff`: a spec export (`FILE#EXPORT`), a spec export at a git
 * revision (`git:REV:FILE#EXPORT`), or a built image at any location lading reads.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as E from "fp-ts/lib/Either.js";
import { DiagnosticError, error } from "../core/index.ts";
import type { Transport } from "../sink/index.ts";
import { parseTransport } from "../sink/index.ts";

/**
 * One side of `lading diff`, with the argument as the user wrote it.
 *
 * @category model
 */
export type Side =
  | { readonly _tag: "Spec"; readonly arg: string }
  | { readonly _tag: "GitSpec"; readonly rev: string; readonly arg: string }
  | { readonly _tag: "Image"; readonly transport: Transport; readonly arg: string };

const TRANSPORT = /^(oci|oci-archive|docker-archive|bundle):|^docker:\/\//;

/**
 * Parses a diff argument: `git:REV:FILE[#EXPORT]`, an image location such as
 * `oci:DIR`, else a spec target.
 *
 * @category constructors
 */
export const parseSide = (arg: string): E.Either<string, Side> => {
  if (arg.startsWith("git:")) {
    const rest = arg.slice(4);
    const i = rest.indexOf(":");
    if (i <= 0 || i === rest.length - 1) return E.left(`"${arg}": expected git:REV:FILE[#EXPORT]`);
    return E.right({ _tag: "GitSpec", rev: rest.slice(0, i), arg: rest.slice(i + 1) });
  }
  if (TRANSPORT.test(arg)) {
    return E.map((transport: Transport) => ({ _tag: "Image" as const, transport, arg }))(parseTransport(arg));
  }
  return E.right({ _tag: "Spec", arg });
};

const run = (cmd: string, args: ReadonlyArray<string>, cwd: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(err.trim() || `${cmd} exited ${code}`))));
  });

/**
 * Checks out the repository holding `arg`'s spec file at `rev` into a temp directory
 * (tracked files only, as `git archive` gives them) and returns the spec target inside
 * it. The checkout shares the working tree's node_modules.
 *
 * @category destructors
 */
export const checkoutAtRevision = async (rev: string, arg: string): Promise<{ readonly target: string; readonly dir: string }> => {
  const hash = arg.lastIndexOf("#");
  const file = hash < 0 ? arg : arg.slice(0, hash);
  const exportPart = hash < 0 ? "" : arg.slice(hash);
  const abs = path.resolve(file);
  const where = { file: `git:${rev}:${arg}` };
  const root = (await run("git", ["rev-parse", "--show-toplevel"], path.dirname(abs)).catch((e: Error) => {
    throw new DiagnosticError([error(where, `not in a git repository: ${e.message}`)]);
  })).trim();
  await run("git", ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`], root).catch(() => {
    throw new DiagnosticError([error(where, `no such revision "${rev}"`)]);
  });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lading-rev-"));
  try {
    const git = spawn("git", ["archive", "--format=tar", rev], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    const tar = spawn("tar", ["-x", "-C", dir], { stdio: ["pipe", "inherit", "inherit"] });
    await Promise.all([
      pipeline(git.stdout, tar.stdin),
      new Promise<void>((res, rej) => tar.on("close", (c) => (c === 0 ? res() : rej(new Error(`tar exited ${c}`))))),
      new Promise<void>((res, rej) => git.on("close", (c) => (c === 0 ? res() : rej(new Error(`git archive exited ${c}`))))),
    ]);
    const modules = path.join(root, "node_modules");
    if (await fs.stat(modules).then(() => true, () => false)) await fs.symlink(modules, path.join(dir, "node_modules"));
    const rel = path.relative(root, abs);
    if (!(await fs.stat(path.join(dir, rel)).then(() => true, () => false))) {
      throw new DiagnosticError([error(where, `${rel} does not exist at ${rev}`)]);
    }
    return { target: `${path.join(dir, rel)}${exportPart}`, dir };
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
};
