/**
 * Pulls and copies from a registry that gives every kind of wrong answer (see
 * test/support/hostileregistry.ts), in scenarios drawn by fast-check from a fixed seed:
 * each either succeeds with the registry's one real image, verified, or fails with
 * diagnostics of one line each; never a crash, never a hang, never a blob in the store
 * that does not hash to its name, never a temp file left, never a login sent to
 * another host. `HOSTILE_RUNS=N` draws N scenarios instead of the default 30.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiagnosticError, formatDiagnostic } from "../src/core/index.ts";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { buildImage, layerFormat } from "../src/build/index.ts";
import { openStore } from "../src/store/index.ts";
import { importImage, parseTransport, writeImage } from "../src/sink/index.ts";
import type { HostileImage, HostileRegistry, Scenario } from "./support/hostileregistry.ts";
import { startHostileRegistry, WRONG_ANSWERS } from "./support/hostileregistry.ts";
import { validateImage } from "./support/validate.ts";

const RUNS = Number(process.env["HOSTILE_RUNS"] ?? "30");
/** Longer than any run of retries with backoff takes, far shorter than a hang. */
const RUN_LIMIT_MS = 20_000;

let work: string;
let registry: HostileRegistry;
let image: HostileImage;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-hostile-"));
  const spec = pipe(
    Image.scratch,
    Image.withLayers(
      Layer.make("etc", [Entry.file("/etc/motd", "served by a registry that lies\n")]),
      Layer.make("data", Array.from({ length: 20 }, (_, i) => Entry.file(`/data/f${i}`, `${"x".repeat(i * 97)}${i}\n`))),
    ),
    Image.withCmd(["/bin/sh"]),
  );
  const ir = evaluate("spec.ts", "hostile", spec);
  if (E.isLeft(ir)) throw new Error(ir.left.map(formatDiagnostic).join("\n"));
  const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat });
  if (E.isLeft(planned)) throw new Error(planned.left.map(formatDiagnostic).join("\n"));
  const store = await openStore(path.join(work, "source-store"));
  const { image: built } = await buildImage(store, planned.right.plan, planned.right.inputs);
  const blobs = new Map<string, Buffer>();
  for (const d of [built.manifest!.digest, built.config.digest, ...built.layers.map((l) => l.digest)]) blobs.set(d, await fs.readFile(store.blobPath(d)));
  image = { manifest: blobs.get(built.manifest!.digest)!, manifestDigest: built.manifest!.digest, configDigest: built.config.digest, blobs };
  registry = await startHostileRegistry(image, "lies/image");
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const wrong = fc.constantFrom(...WRONG_ANSWERS);
/** Mostly one thing wrong at a time, sometimes several. */
const scenarios: fc.Arbitrary<Scenario> = fc.oneof(
  fc.record({ which: fc.constantFrom("tag", "manifestByDigest", "config", "layer"), answer: wrong, persistent: fc.boolean() }).map(
    ({ which, answer, persistent }): Scenario => ({ tag: "none", manifestByDigest: "none", config: "none", layer: "none", persistent, [which]: answer }),
  ),
  fc.record({ tag: wrong, manifestByDigest: wrong, config: wrong, layer: wrong, persistent: fc.boolean() }),
);

/** Every blob in a store hashes to its name. */
const wrongBlobs = async (store: string): Promise<string[]> => {
  const dir = path.join(store, "blobs", "sha256");
  const wrongOnes: string[] = [];
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const hash = createHash("sha256").update(await fs.readFile(path.join(dir, name))).digest("hex");
    if (hash !== name) wrongOnes.push(name);
  }
  return wrongOnes;
};

type Outcome = { readonly _tag: "ok" } | { readonly _tag: "diagnostics"; readonly lines: ReadonlyArray<string> } | { readonly _tag: "crash"; readonly error: string } | { readonly _tag: "hang" };

let round = 0;

/** One copy from the registry into an OCI layout, through a fresh store. */
const copyOnce = async (s: Scenario): Promise<{ readonly outcome: Outcome; readonly dir: string }> => {
  registry.setScenario(s);
  const dir = path.join(work, `run-${round++}`);
  const from = parseTransport(`docker://${registry.host}/lies/image:latest`);
  const to = parseTransport(`oci:${path.join(dir, "out")}`);
  if (E.isLeft(from) || E.isLeft(to)) throw new Error("bad transports");
  const store = await openStore(path.join(dir, "store"));
  const env = { DOCKER_CONFIG: path.join(work, "no-docker-config") };
  const attempt = (async (): Promise<Outcome> => {
    try {
      const built = await importImage(store, from.right, undefined, { env });
      await writeImage(store, built, to.right, { defaultName: "hostile", env });
      return { _tag: "ok" };
    } catch (e) {
      if (e instanceof DiagnosticError) return { _tag: "diagnostics", lines: e.diagnostics.map(formatDiagnostic) };
      return { _tag: "crash", error: String((e as Error).stack ?? e) };
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([attempt, new Promise<Outcome>((r) => (timer = setTimeout(() => r({ _tag: "hang" }), RUN_LIMIT_MS)))]);
  clearTimeout(timer);
  return { outcome, dir };
};

describe("a registry that gives wrong answers", () => {
  it("nothing wrong: the image is copied, verified", async () => {
    const { outcome, dir } = await copyOnce({ tag: "none", manifestByDigest: "none", config: "none", layer: "none", persistent: false });
    expect(outcome).toEqual({ _tag: "ok" });
    const { image: copied } = await validateImage(`oci:${path.join(dir, "out")}:latest`);
    expect(copied.manifest?.digest).toBe(image.manifestDigest);
  });

  it.each([
    ["layer", "wrongDigest"],
    ["config", "truncated"],
    ["tag", "layersAndManifests"],
    ["tag", "hugeLength"],
    ["layer", "redirectOtherHost"],
    ["tag", "authLoop"],
  ] as const)("%s answered %s on every attempt: a one-line diagnostic", async (which, answer) => {
    const { outcome, dir } = await copyOnce({ tag: "none", manifestByDigest: "none", config: "none", layer: "none", persistent: true, [which]: answer });
    expect(outcome._tag).toBe("diagnostics");
    expect(await wrongBlobs(path.join(dir, "store"))).toEqual([]);
  });

  it(`every outcome of ${RUNS} drawn scenarios is the verified image or a one-line diagnostic`, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(scenarios, async (s) => {
        const { outcome, dir } = await copyOnce(s);
        seen.set(outcome._tag, (seen.get(outcome._tag) ?? 0) + 1);
        expect(outcome._tag === "crash" || outcome._tag === "hang" ? outcome : "no crash, no hang").toBe("no crash, no hang");
        if (outcome._tag === "ok") {
          const { image: copied } = await validateImage(`oci:${path.join(dir, "out")}:latest`);
          expect(copied.manifest?.digest).toBe(image.manifestDigest);
        } else if (outcome._tag === "diagnostics") {
          expect(outcome.lines.length).toBeGreaterThan(0);
          for (const line of outcome.lines) expect(line).not.toContain("\n");
          expect(await fs.readdir(dir)).not.toContain("out");
        }
        // What the copy left in the store is right, whole, and nothing else.
        expect(await wrongBlobs(path.join(dir, "store"))).toEqual([]);
        expect(await fs.readdir(path.join(dir, "store", "tmp"))).toEqual([]);
        const done = (await fs.readdir(dir)).filter((n) => n.includes(".tmp-"));
        expect(done).toEqual([]);
      }),
      { seed: 20261202, numRuns: RUNS, endOnFailure: true },
    );
    // Both kinds of outcome were reached: the scenarios are not all harmless, nor all fatal.
    expect(seen.get("ok") ?? 0).toBeGreaterThan(0);
    expect(seen.get("diagnostics") ?? 0).toBeGreaterThan(0);
    expect(registry.leakedLogins()).toBe(0);
  });
});

