/**
 * The deterministic tar writer: entries in plan order (sorted, parents first), mtime
 * from the plan, uid/gid from the spec, no user or group names, USTAR headers where they
 * fit and PAX where they do not (tar-stream decides). File contents are re-hashed while
 * streaming and must match the plan, so a host file edited between plan and build fails
 * the build instead of producing an image that lies about its plan.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as tar from "tar-stream";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestFromHex, error } from "../core/index.ts";
import type { PlanInputs, PlannedEntry, PlannedLayer } from "../plan/index.ts";

/** Version of lading's tar layout; part of every layer cache key. */
export const TAR_FORMAT = "lading-tar/1";

const SMALL_FILE = 1 << 20;

/**
 * mode 0 is falsy to tar-stream, which would replace it by its default: the file type
 * bits make it truthy and are masked off when the header is encoded.
 */
const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000, link: 0o100000 } as const;

type TarHeader = Partial<tar.Header> & Pick<tar.Header, "name">;

const headerOf = (e: PlannedEntry, mtime: Date): TarHeader => {
  const name = e.path.slice(1);
  const common = { name, uid: e.uid, gid: e.gid, mtime };
  switch (e.type) {
    case "file":
      return { ...common, type: "file", mode: TYPE_BITS.file | e.mode, size: e.size ?? 0 };
    case "dir":
      return { ...common, type: "directory", mode: TYPE_BITS.directory | e.mode };
    case "symlink":
      return { ...common, type: "symlink", mode: TYPE_BITS.symlink | 0o777, linkname: e.target ?? "" };
    case "hardlink":
      return { ...common, type: "link", mode: TYPE_BITS.link | 0o644, linkname: (e.target ?? "/").slice(1) };
  }
};

const changed = (layer: string, e: PlannedEntry, why: string): DiagnosticError =>
  new DiagnosticError([error({ layer, path: e.path }, `host file ${e.source} ${why} since it was planned`, "run the build again")]);

const addEntry = (pack: tar.Pack, header: TarHeader, body?: Buffer): Promise<void> =>
  new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (body === undefined) pack.entry(header, cb);
    else pack.entry(header, body, cb);
  });

const hex = (b: Uint8Array): Digest => digestFromHex(createHash("sha256").update(b).digest("hex"));

/**
 * Writes every entry of a planned layer into `pack`, then finalizes it.
 *
 * @category destructors
 */
export const writeLayerTar = async (pack: tar.Pack, layer: PlannedLayer, inputs: PlanInputs, created: number): Promise<void> => {
  const mtime = new Date(created * 1000);
  for (const e of layer.entries) {
    const header = headerOf(e, mtime);
    if (e.type !== "file") {
      await addEntry(pack, header);
      continue;
    }
    if (e.source === "inline") {
      const bytes = inputs.inline.get(e.digest!);
      if (bytes === undefined) throw new Error(`inline content ${e.digest} missing from plan inputs`);
      await addEntry(pack, header, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      continue;
    }
    const abs = path.resolve(inputs.specDir, e.source!);
    if ((e.size ?? 0) < SMALL_FILE) {
      const bytes = await fs.readFile(abs).catch(() => {
        throw changed(layer.name, e, "disappeared");
      });
      if (bytes.byteLength !== e.size || hex(bytes) !== e.digest) throw changed(layer.name, e, "changed");
      await addEntry(pack, header, bytes);
      continue;
    }
    const hash = createHash("sha256");
    const sink = pack.entry(header);
    const done = new Promise<void>((resolve, reject) => {
      sink.on("finish", resolve);
      sink.on("close", resolve);
      sink.on("error", reject);
    });
    let written = 0;
    for await (const chunk of createReadStream(abs, { highWaterMark: SMALL_FILE })) {
      const buf = chunk as Buffer;
      written += buf.byteLength;
      if (written > (e.size ?? 0)) throw changed(layer.name, e, "grew");
      hash.update(buf);
      if (!sink.write(buf)) await new Promise<void>((r) => sink.once("drain", () => r()));
    }
    if (written !== e.size || digestFromHex(hash.digest("hex")) !== e.digest) throw changed(layer.name, e, "changed");
    sink.end(undefined);
    await done;
  }
  pack.finalize();
};
