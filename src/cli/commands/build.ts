/**
 * `lading build`: builds an export reproducibly and writes it to each output.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { formatDiagnostic, formatSize } from "../../core/index.ts";
import type { BuildEvent } from "../../build/index.ts";
import { buildImage } from "../../build/index.ts";
import { manifestOf } from "../../oci/index.ts";
import type { Transport } from "../../sink/index.ts";
import { parseTransport, writeImage } from "../../sink/index.ts";
import { transferReporter } from "../transfers.ts";
import { COMPRESSION_FLAG, layerCompressionFlag, parseFlags, SPEC_FLAGS } from "../flags.ts";
import type { Io } from "../io.ts";
import { parseTarget } from "../load.ts";
import { argumentsOf, inExport, planTarget } from "../planTarget.ts";
import { recheckSteps } from "../recheck.ts";
import { specFileOf } from "../specFile.ts";
import { stepRunnerFor } from "../steps.ts";
import { storeOf } from "../store.ts";
import { EXIT, UsageError } from "../usage.ts";

/** The command's help text. */
export const help = `usage: lading build FILE[#EXPORT] --out T [--out T...] [--arg NAME=VALUE...] [--check] [--json] [--frozen] [--compression gzip|zstd] [--no-check] [--store DIR]

Builds one image export reproducibly and writes it to each T:
  oci:DIR[:TAG]                 an OCI image layout (tag default "latest")
  oci-archive:FILE[:TAG]        the same, as a tar file
  docker-archive:FILE[:NAME:TAG] for 'podman load' and 'docker load' (default localhost/EXPORT:latest)
  docker://HOST/REPO[:TAG]      a registry (credentials from the docker config file;
                                plain http only for localhost, 127.0.0.1 and the hosts
                                in LADING_INSECURE_REGISTRIES, comma-separated)
  bundle:DIR                    an OCI runtime bundle (rootfs/ and config.json) for 'runc run'
FILE may be a directory: its lading.ts.
Prints the manifest digest. Layers already in the store are not rebuilt. Run steps run
in order under runc (as root), their output on stderr prefixed with the step's name; a
step whose cache key is in the store does not run again. Outputs appear
whole or not at all. SOURCE_DATE_EPOCH sets 'created' and every file's mtime (default 0).
A pulled base image is resolved through lading.lock beside the spec when it pins it; its
layers are fetched (verified, into the store) only for outputs that need their bytes, and
a registry output on the same registry mounts them instead.

  --arg N=V     an argument of a parameterized export (Image.parameterized), decoded
                against its parameters; a missing or malformed one is an error
  --json        print the digest, config and layer descriptors as JSON
  --check       run every run step again, ignoring the cache, on the same layers below
                it, and report each step whose layer differs and the files that differ
                (exit 1 if any); --out is optional then
  --frozen      for CI: resolve pulled images only through lading.lock, never by tag;
                fails if the lock file is missing or does not pin a pulled reference
  --compression how the layers lading builds are compressed: gzip (the default, read by
                every tool) or zstd (a cheaper compressor: a build in about 0.7 of the
                time; podman, containerd and recent Docker engines read it). A base's
                layers are kept as they are. The digest depends on it: the same spec and
                compression give the same digest on any machine.
  --no-check    skip the type check
  --store DIR   the content store`;

/**
 * The name of an image exported as `default`, so that projects do not all load as
 * `localhost/default`: the name in the package.json nearest the spec, else the spec's
 * directory name, as a repository name (lower case; letters, digits, '.', '_', '-').
 */
const projectName = (spec: string): string => {
  const dir = path.dirname(path.resolve(spec));
  let name = path.basename(dir);
  for (let d = dir; ; d = path.dirname(d)) {
    const manifest = path.join(d, "package.json");
    if (fs.existsSync(manifest)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: unknown };
        if (typeof pkg.name === "string" && pkg.name !== "") name = pkg.name.replace(/^@/, "");
      } catch {
        // Not JSON: the directory's name will do.
      }
      break;
    }
    if (path.dirname(d) === d) break;
  }
  const clean = name.toLowerCase().replace(/[^a-z0-9._/-]+/g, "-").replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return clean === "" ? "default" : clean;
};

/** Runs the command with its arguments; returns the exit code. */
export const run = async (args: ReadonlyArray<string>, io: Io): Promise<number> => {
  const { positionals, values } = parseFlags(
    help,
    args,
    {
      out: t.array(t.string),
      arg: t.array(t.string),
      json: t.boolean,
      frozen: t.boolean,
      check: t.boolean,
      ...COMPRESSION_FLAG,
      ...SPEC_FLAGS,
    },
    { out: "o" },
  );
  const compression = layerCompressionFlag(values.compression, help);
  if (positionals.length !== 1) throw new UsageError(`expected one FILE[#EXPORT]\n\n${help}`);
  const outs = (values.out ?? []).map((o): Transport => {
    const location = parseTransport(o);
    if (E.isLeft(location)) throw new UsageError(location.left);
    return location.right;
  });
  if (outs.length === 0 && values.check !== true) throw new UsageError(`missing --out\n\n${help}`);
  const store = await storeOf(values.store, io.env);
  const specArgs = argumentsOf(values.arg);
  const progress = (e: BuildEvent): void => {
    // A step's start is shown always: its output, prefixed with its name, follows.
    if (e._tag === "StepStarted") io.err(`step ${e.layer}: ${e.run.shell ?? JSON.stringify(e.run.argv)}`);
    if (!io.isTTY) return;
    if (e._tag === "LayerStarted") io.err(`building layer ${e.layer} (${formatSize(e.contentSize)})...`);
    if (e._tag === "LayerCached") io.err(`layer ${e.layer}: cached`);
    if (e._tag === "LayerProgress") io.status?.(`layer ${e.layer}: ${formatSize(e.tarBytes)} of the tar written (${formatSize(e.contentSize)} of content)`);
    if (e._tag === "LayerBuilt") io.err(`layer ${e.layer}: ${e.blob.digest} (${formatSize(e.blob.size)})`);
  };
  const runStep = stepRunnerFor(store, io);
  const onTransfer = transferReporter(io);
  const { plan, inputs, warnings = [] } = await planTarget(positionals[0]!, { noCheck: values["no-check"] === true, store, env: io.env, frozen: values.frozen === true, args: specArgs, compression, runStep, onBuildEvent: progress, ...(onTransfer === undefined ? {} : { onTransfer }) });
  for (const w of warnings) io.err(formatDiagnostic(w));
  const registry = { env: io.env, ...(onTransfer === undefined ? {} : { onTransfer }) };
  const { image, cached } = await inExport(plan.exportName, () => buildImage(store, plan, inputs, progress, { runStep, registry }));
  if (values.check === true) {
    const checks = await inExport(plan.exportName, () => recheckSteps(store, plan, inputs, image, runStep));
    for (const c of checks) io.out(c.same ? `step ${c.step}: same layer` : `step ${c.step}: a different layer when run again\n${c.report ?? ""}`);
    if (checks.some((c) => !c.same)) return EXIT.errors;
  }
  const name = plan.exportName === "default" ? projectName(specFileOf(parseTarget(positionals[0]!).file)) : plan.exportName;
  const manifest = manifestOf(image);
  for (const out of outs) await writeImage(store, image, out, { defaultName: name, platform: plan.platform, env: io.env });
  if (values.json === true) {
    io.out(JSON.stringify({ digest: manifest.digest, manifest: manifest.value, config: image.config.value, cached }, null, 2));
  } else io.out(manifest.digest);
  return EXIT.ok;
};
