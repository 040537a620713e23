/**
 * A minimal Debian base, in the spirit of distroless's `base`: the file system layout
 * and release files, the network and time zone databases, the CA certificates and the C
 * library. Written with lading's public API only.
 */
import { Debian, Entry, Layer } from "lading";

/**
 * The packages of {@link debianBase}.
 *
 * @category instances
 */
export const debianBasePackages: ReadonlyArray<string> = ["base-files", "netbase", "tzdata", "ca-certificates", "libc6"];

/**
 * Options of {@link debianBase}.
 *
 * @category model
 */
export interface DebianBaseOptions {
  /** Default Debian 12 (bookworm), main. */
  readonly archive?: Debian.Archive;
  /** More packages for the same layer. */
  readonly packages?: ReadonlyArray<string>;
}

/**
 * A layer named `debian-base` with base-files, netbase, tzdata, ca-certificates and
 * libc6 (and their dependencies), their dpkg database, and a world-writable `/tmp`.
 * Maintainer scripts do not run: `/etc/ssl/certs/ca-certificates.crt`, which
 * `update-ca-certificates` makes, is not there until a run step makes it.
 *
 * @category constructors
 */
export const debianBase = (options: DebianBaseOptions = {}): Layer.Layer =>
  Layer.withEntries(Entry.directory("/tmp", { mode: 0o1777 }))(
    Debian.layer("debian-base", Debian.packages(options.archive ?? Debian.bookworm, [...debianBasePackages, ...(options.packages ?? [])])),
  );
