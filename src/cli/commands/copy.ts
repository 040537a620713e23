/**
 * `lading copy`: copies an image between any two locations, by digest.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { PlatformIR } from "../../eval/index.ts";
import { manifestOf } from "../../oci/index.ts";
import type { Transport } from "../../sink/index.ts";
import { importImage, parseTransport, READABLE_TRANSPORTS, writeImage } from "../../sink/index.ts";
import { transferReporter } from "../transfers.ts";
import { parseFlags } from "../flags.ts";
import type { Io } from "../io.ts";
import { storeOf } from "../store.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading copy SRC DST [--platform OS/ARCH[/VARIANT]] [--store DIR]

Copies an image from SRC (${READABLE_TRANSPORTS.join(", ")})
to DST (any location, bundle:DIR included). The manifest is copied as it is, so the
copy has the source's digest (a docker archive holds none: it gets an OCI manifest).
From a multi-platform index, one platform's image is copied: its digest is not the
index's.
Every blob is checked against its digest. Between registries, only blobs the destination
lacks move, and a blob on the same registry is mounted, not downloaded.

  --platform P  the image to take from a multi-platform index (default linux/amd64)
  --store DIR   the content store`;

const locationOf = (arg: string): Transport => {
  const location = parseTransport(arg);
  if (E.isLeft(location)) throw new UsageError(location.left);
  return location.right;
};

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(help, args, { platform: t.string, store: t.string });
  const [src, dst] = positionals;
  if (positionals.length !== 2 || src === undefined || dst === undefined) throw new UsageError(`expected SRC and DST\n\n${help}`);
  const from = locationOf(src);
  const to = locationOf(dst);
  if (from._tag === "Bundle") throw new UsageError("a runtime bundle is an output only: copy the image it came from");
  let platform: PlatformIR | undefined;
  if (values.platform !== undefined) {
    const m = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(values.platform);
    if (m === null) throw new UsageError(`--platform must be OS/ARCH[/VARIANT], e.g. linux/arm64, not "${values.platform}"`);
    platform = m[3] === undefined ? { os: m[1]!, architecture: m[2]! } : { os: m[1]!, architecture: m[2]!, variant: m[3] };
  }
  const store = await storeOf(values.store, io.env);
  const onTransfer = transferReporter(io);
  const image = await importImage(store, from, platform, { env: io.env, ...(onTransfer === undefined ? {} : { onTransfer }) });
  const c = image.config.value;
  const name = from._tag === "Registry" ? from.reference.repository.slice(from.reference.repository.lastIndexOf("/") + 1) : "image";
  await writeImage(store, image, to, {
    defaultName: name,
    platform: { os: c.os, architecture: c.architecture, ...(c.variant === undefined ? {} : { variant: c.variant }) },
    env: io.env,
  });
  io.out(manifestOf(image).digest);
  return EXIT.ok;
};
