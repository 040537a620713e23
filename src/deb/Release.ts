/**
 * The archive's signed release file, `dists/SUITE/InRelease`: its OpenPGP signature is
 * checked against the keyring as apt checks it (at least one good signature by a key
 * of the keyring, and no bad one), and only the signed text is read: the sha256 of
 * every index file, by path.
 */
import type * as openpgp from "openpgp";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, error, isDigest } from "../core/index.ts";
import { field, parseParagraphs } from "./Control.ts";

// OpenPGP is a large library, needed only when an archive's release is fetched: it is
// loaded then, not by every command that can plan packages.
const loadOpenpgp = (): Promise<typeof openpgp> => import("openpgp");

/**
 * What lading reads from a release file: the suite's names, and the sha256 and size of
 * each index file by its path under `dists/SUITE/`.
 *
 * @category model
 */
export interface Release {
  readonly suite: string | undefined;
  readonly codename: string | undefined;
  readonly validUntil: Date | undefined;
  readonly files: ReadonlyMap<string, { readonly sha256: Digest; readonly size: number }>;
}

/**
 * Reads an OpenPGP keyring, binary (`.gpg`) or ASCII-armored (`.asc`).
 *
 * @category constructors
 */
export const readKeyring = async (bytes: Uint8Array, shown: string): Promise<ReadonlyArray<openpgp.PublicKey>> => {
  const pgp = await loadOpenpgp();
  try {
    const text = Buffer.from(bytes).subarray(0, 64).toString("latin1");
    const keys = text.includes("-----BEGIN PGP")
      ? await pgp.readKeys({ armoredKeys: Buffer.from(bytes).toString("utf8") })
      : await pgp.readKeys({ binaryKeys: bytes });
    return keys.map((k) => k.toPublic());
  } catch (e) {
    throw new DiagnosticError([error({ file: shown }, `not an OpenPGP keyring: ${(e as Error).message}`)]);
  }
};

/**
 * Checks the signature of an `InRelease` file and returns the text it signs. `shown`
 * names the file in diagnostics.
 *
 * @category destructors
 */
export const verifyInRelease = async (text: string, keys: ReadonlyArray<openpgp.PublicKey>, shown: string): Promise<string> => {
  const refuse = (why: string): never => {
    throw new DiagnosticError([error({ file: shown }, `the release file is refused: ${why}`, "the archive or a proxy on the way serves a release file its keyring does not vouch for")]);
  };
  const pgp = await loadOpenpgp();
  let message: openpgp.CleartextMessage;
  try {
    message = await pgp.readCleartextMessage({ cleartextMessage: text });
  } catch (e) {
    return refuse(`it is not a signed message (${(e as Error).message})`);
  }
  const result = await pgp.verify({ message, verificationKeys: [...keys], expectSigned: false });
  const known = new Set(keys.flatMap((k) => k.getKeyIDs().map((id) => id.toHex())));
  let good = 0;
  for (const s of result.signatures) {
    const id = s.keyID.toHex();
    try {
      await s.verified;
      good++;
    } catch (e) {
      // A signature by a key not in the keyring is skipped, as apt does; a bad one by a
      // key that is, is not.
      if (known.has(id)) refuse(`the signature by key ${id} does not verify (${(e as Error).message})`);
    }
  }
  if (good === 0) refuse("no signature by a key of the keyring");
  return result.data;
};

/**
 * Parses the signed text of a release file.
 *
 * @category constructors
 */
export const parseRelease = (signed: string, shown: string): Release => {
  const [p] = parseParagraphs(signed);
  if (p === undefined) throw new DiagnosticError([error({ file: shown }, "the release file is empty")]);
  const files = new Map<string, { sha256: Digest; size: number }>();
  for (const line of (field(p, "SHA256") ?? "").split("\n")) {
    const [hex, size, name] = line.trim().split(/\s+/);
    if (hex === undefined || size === undefined || name === undefined) continue;
    const sha256 = `sha256:${hex.toLowerCase()}`;
    if (isDigest(sha256) && /^[0-9]+$/.test(size)) files.set(name, { sha256, size: Number(size) });
  }
  if (files.size === 0) throw new DiagnosticError([error({ file: shown }, "the release file lists no SHA256 sums", "lading checks indexes by sha256 only")]);
  const until = field(p, "Valid-Until");
  return { suite: field(p, "Suite"), codename: field(p, "Codename"), validUntil: until === undefined ? undefined : new Date(until), files };
};
