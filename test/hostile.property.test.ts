/**
 * The class behind test/hostile.test.ts, as a property: layers generated from the whole
 * vocabulary of tar entries and names (files, directories, symlinks, hard links, fifos;
 * `.`, `..`, empty, long and non-UTF-8 names, whiteouts of every shape, duplicates, root
 * entries, a root that is a symlink, links to a host directory) go through every reader
 * and sink: `inspect`, diff's view, `oci:`, `oci-archive:`, `docker-archive:` (and back)
 * and `bundle:`. Each must end in a diagnostic or in an output inside its target, and
 * never write, delete, chmod or touch anything outside it: a canary directory beside the
 * targets, reached by absolute and by climbing links, is compared before and after each
 * run, mtimes, modes and link counts included. Any other error is a crash and fails.
 *
 * A fixed seed and a few runs in `npm test`; `LADING_PROPERTY_RUNS=2000 npm run
 * test:property` for long runs (LADING_PROPERTY_SEED picks another seed).
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiagnosticError } from "../src/core/index.ts";
import { diffImages, fromImage } from "../src/diff/index.ts";
import type { Transport } from "../src/sink/index.ts";
import { importImage, inspectImage, openImage, writeImage } from "../src/sink/index.ts";
import type { Store } from "../src/store/index.ts";
import { openStore } from "../src/store/index.ts";
import type { CraftEntry, CraftImage } from "./support/craft.ts";
import { craftOciLayout, craftTar, snapshotTree } from "./support/craft.ts";

const RUNS = Number(process.env["LADING_PROPERTY_RUNS"] ?? "30");
const SEED = Number(process.env["LADING_PROPERTY_SEED"] ?? "20261202");

let work: string;
let canary: string;
let store: Store;
let before: ReadonlyArray<string>;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-property-"));
  canary = path.join(work, "canary");
  await fs.mkdir(path.join(canary, "sub"), { recursive: true });
  await fs.writeFile(path.join(canary, "passwd"), "evil:x:4242:4242::/:/bin/sh\n");
  await fs.writeFile(path.join(canary, "sub", "keep"), "keep");
  await fs.chmod(canary, 0o700);
  for (const p of [path.join(canary, "passwd"), path.join(canary, "sub", "keep"), path.join(canary, "sub"), canary]) await fs.utimes(p, 1000, 1000);
  before = await snapshotTree(canary);
  store = await openStore(path.join(work, "store"));
});

afterAll(async () => {
  if (work !== undefined) await fs.rm(work, { recursive: true, force: true });
});

/** Path components, the harmless and the hostile. */
const segment = (): fc.Arbitrary<string | Buffer> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("a", "b", "etc", "passwd", "sub") },
    { weight: 3, arbitrary: fc.constantFrom(".", "..", "") },
    { weight: 3, arbitrary: fc.constantFrom(".wh.a", ".wh.", ".wh..", ".wh...", ".wh..wh..opq", ".wh..wh.plnk", ".wh.etc") },
    { weight: 1, arbitrary: fc.constant("l".repeat(150)) },
    { weight: 1, arbitrary: fc.constant(Buffer.from([0x63, 0xff, 0xfe])) },
  );

const joinName = (segs: ReadonlyArray<string | Buffer>, lead: string, trail: string): string | Buffer => {
  const parts: Buffer[] = [Buffer.from(lead)];
  segs.forEach((s, i) => parts.push(...(i === 0 ? [] : [Buffer.from("/")]), Buffer.from(s)));
  parts.push(Buffer.from(trail));
  const b = Buffer.concat(parts);
  return b.toString("utf8") === Buffer.from(b.toString("utf8")).toString("utf8") && Buffer.from(b.toString("utf8")).equals(b) ? b.toString("utf8") : b;
};

const entryName = (): fc.Arbitrary<string | Buffer> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.array(segment(), { minLength: 1, maxLength: 3 }), fc.constantFrom("", "./", "/"), fc.constantFrom("", "/")).map(([s, l, t]) => joinName(s, l, t)) },
    { weight: 1, arbitrary: fc.constantFrom("./", ".", "", "/") },
  );

/** Link targets: inside, climbing, absolute, and straight at the canary. */
const linkTarget = (canaryDir: () => string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom("a", "etc", "../..", "/", ".", "/etc/passwd", "sub/keep"),
    fc.constant(null).map(() => canaryDir()),
    fc.constant(null).map(() => path.join(canaryDir(), "sub")),
    fc.constant(null).map(() => path.join(canaryDir(), "passwd")),
    fc.constant(null).map(() => `${"../".repeat(16)}${canaryDir().slice(1)}`),
  );

const entry = (canaryDir: () => string): fc.Arbitrary<CraftEntry> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ name: entryName(), type: fc.constant("file" as const), content: fc.constantFrom("x", "evil:x:4242:4242::/:/bin/sh\n"), mode: fc.constantFrom(0o644, 0o4755, 0o777) }) },
    { weight: 3, arbitrary: fc.record({ name: entryName(), type: fc.constant("dir" as const), mode: fc.constantFrom(0o755, 0o700, 0o1777), mtime: fc.constantFrom(0, 5) }) },
    { weight: 3, arbitrary: fc.record({ name: entryName(), type: fc.constant("symlink" as const), target: linkTarget(canaryDir) }) },
    { weight: 2, arbitrary: fc.record({ name: entryName(), type: fc.constant("hardlink" as const), target: fc.oneof(linkTarget(canaryDir), fc.constantFrom("a", "etc/passwd", "b")) }) },
    { weight: 1, arbitrary: fc.record({ name: entryName(), type: fc.constant("fifo" as const) }) },
    // The two entries of the reviewed attack, as a pair so they meet often.
    { weight: 1, arbitrary: fc.constant(null).map((): CraftEntry => ({ name: "./", type: "symlink", target: canaryDir() })) },
  );

/** An image as entries, so that a counterexample reads as names and types, not tar bytes. */
interface GeneratedImage {
  readonly layers: ReadonlyArray<{ readonly entries: ReadonlyArray<CraftEntry>; readonly gzip: boolean }>;
  readonly config: Record<string, unknown>;
}

const image = (canaryDir: () => string): fc.Arbitrary<GeneratedImage> =>
  fc.record({
    layers: fc.array(fc.record({ entries: fc.array(entry(canaryDir), { maxLength: 8 }), gzip: fc.boolean() }), { minLength: 1, maxLength: 3 }),
    config: fc.constantFrom({}, { User: "evil" }, { User: "1000:evil" }),
  });

const crafted = (g: GeneratedImage): CraftImage => ({ config: g.config, layers: g.layers.map((l) => ({ tar: craftTar(l.entries), gzip: l.gzip })) });

/** Runs a step; a diagnostic ends it quietly, anything else is a crash and fails the property. */
const attempt = async (what: string, f: () => Promise<unknown>): Promise<"ok" | "refused"> => {
  try {
    await f();
    return "ok";
  } catch (e) {
    if (e instanceof DiagnosticError) return "refused";
    throw new Error(`${what} crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
};

/** Every path under `dir`, links not followed: each is inside `dir` by construction; returns how many. */
const countInside = async (dir: string): Promise<number> => {
  let count = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await fs.lstat(p);
    count++;
    if (st.isDirectory()) for (const n of await fs.readdir(p)) await walk(path.join(p, n));
  };
  await walk(dir);
  return count;
};

describe("hostile layers through every reader and sink", () => {
  it(`never reach outside the target, never crash (${RUNS} runs, seed ${SEED})`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(image(() => canary), async (generated) => {
        const dir = path.join(work, `case-${++run}`);
        await fs.mkdir(dir);
        try {
          await craftOciLayout(path.join(dir, "in"), crafted(generated));
          const source: Transport = { _tag: "Oci", dir: path.join(dir, "in"), tag: undefined };
          await attempt("inspect", async () => {
            const opened = await openImage(source);
            try {
              const inspection = await inspectImage(opened);
              // diff's view of the tree a container sees, whiteouts applied.
              diffImages(fromImage(opened, []), fromImage(opened, inspection.layers));
            } finally {
              await opened.close();
            }
          });
          const targets: ReadonlyArray<Transport> = [
            { _tag: "Oci", dir: path.join(dir, "oci"), tag: "t" },
            { _tag: "OciArchive", file: path.join(dir, "oci.tar"), tag: "t" },
            { _tag: "DockerArchive", file: path.join(dir, "docker.tar"), ref: undefined },
            { _tag: "Bundle", dir: path.join(dir, "bundle") },
          ];
          let bundled: { serial: "ok" | "refused"; workers: "ok" | "refused" } | undefined;
          const imported = await attempt("copy", async () => {
            const built = await importImage(store, source, undefined, { env: {} });
            for (const to of targets) await attempt(`write ${to._tag}`, () => writeImage(store, built, to, { defaultName: "property" }));
            // The bundle again with worker threads writing its small files from the first:
            // the same outcome and the same tree as the one thread wrote.
            process.env["LADING_BUNDLE_WORKERS_AFTER"] = "0";
            try {
              const workers = await attempt("write Bundle with workers", () => writeImage(store, built, { _tag: "Bundle", dir: path.join(dir, "bundle-workers") }, { defaultName: "property" }));
              bundled = { serial: await fs.lstat(path.join(dir, "bundle")).then(() => "ok" as const, () => "refused" as const), workers };
            } finally {
              delete process.env["LADING_BUNDLE_WORKERS_AFTER"];
            }
          });
          if (bundled !== undefined) {
            expect(bundled.workers).toBe(bundled.serial);
            // Directories made on the way, not named by an entry, get the time they were made.
            const tree = async (d: string): Promise<ReadonlyArray<string>> => (await snapshotTree(path.join(dir, d, "rootfs"))).map((l) => l.replace(/^(\S+ d \S+ \S+) \S+/, "$1"));
            if (bundled.serial === "ok") expect(await tree("bundle-workers")).toEqual(await tree("bundle"));
          }
          if (imported === "ok") {
            await attempt("read the docker archive back", async () => {
              const back = await openImage({ _tag: "DockerArchive", file: path.join(dir, "docker.tar"), ref: undefined });
              try {
                await inspectImage(back);
              } finally {
                await back.close();
              }
            });
          }
          // Whatever happened, the canary is as it was and nothing else appeared beside the case.
          expect(await snapshotTree(canary)).toEqual(before);
          expect((await fs.readdir(work)).filter((n) => !n.startsWith("case-")).sort()).toEqual(["canary", "store"]);
          expect((await fs.readdir(dir)).filter((n) => n.includes(".tmp-") || n.includes(".old-"))).toEqual([]);
          if (await fs.lstat(path.join(dir, "bundle")).then(() => true, () => false)) expect(await countInside(path.join(dir, "bundle", "rootfs"))).toBeGreaterThan(0);
        } finally {
          await fs.rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 600_000);
});
