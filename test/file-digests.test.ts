/**
 * The host file digest cache, kept by directory: what a plan saves is found by the next,
 * a changed file is not, a damaged record file costs a hash and nothing else, and records
 * let go of while a plan runs (more directories than it holds) are written, not lost.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Digest } from "../src/core/index.ts";
import { digestOf } from "../src/core/index.ts";
import { openStore } from "../src/store/index.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-file-digests-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const digest = (s: string): Digest => digestOf(Buffer.from(s));

/** Every file under `dir`, relative. */
const filesUnder = async (dir: string): Promise<ReadonlyArray<string>> =>
  (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));

describe("host file digest cache", () => {
  it("keeps records by directory, finds them again, and forgets a file whose fingerprint changed", async () => {
    const root = path.join(work, "store-a");
    // The earlier form, one file of every record, is removed by the first save.
    await fs.mkdir(root, { recursive: true });
    await fs.writeFile(path.join(root, "file-digests"), "old\n");
    const store = await openStore(root);
    const cache = await store.openHashCache();
    cache.set("/src/a/one", "fp1", digest("one"));
    cache.set("/src/a/two", "fp2", digest("two"));
    cache.set("/src/b/three", "fp3", digest("three"));
    await cache.save();
    expect(await filesUnder(path.join(root, "file-digests.d"))).toHaveLength(2);
    await expect(fs.access(path.join(root, "file-digests"))).rejects.toThrow();
    const again = await (await openStore(root)).openHashCache();
    expect([again.get("/src/a/one", "fp1"), again.get("/src/a/two", "fp2"), again.get("/src/b/three", "fp3")]).toEqual([digest("one"), digest("two"), digest("three")]);
    expect(again.get("/src/a/one", "fp-changed")).toBeUndefined();
    expect(again.get("/src/a/none", "fp1")).toBeUndefined();
  });

  it("takes a damaged record file as empty", async () => {
    const root = path.join(work, "store-b");
    const cache = await (await openStore(root)).openHashCache();
    cache.set("/src/a/one", "fp1", digest("one"));
    await cache.save();
    const [shard] = await filesUnder(path.join(root, "file-digests.d"));
    const file = path.join(root, "file-digests.d", shard!);
    await fs.truncate(file, 63);
    const again = await (await openStore(root)).openHashCache();
    expect(again.get("/src/a/one", "fp1")).toBeUndefined();
    again.set("/src/a/one", "fp1", digest("one"));
    await again.save();
    expect((await fs.stat(file)).size).toBe(64);
  });

  it("writes the records of directories it lets go of during a plan", async () => {
    const root = path.join(work, "store-c");
    const cache = await (await openStore(root)).openHashCache();
    // 80 directories of 1,000 files: more records than one plan holds at once.
    for (let d = 0; d < 80; d++) for (let f = 0; f < 1000; f++) cache.set(`/t/d${d}/f${f}`, `fp${f}`, digest(`${d}/${f}`));
    const before = await filesUnder(path.join(root, "file-digests.d"));
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(80);
    await cache.save();
    expect(await filesUnder(path.join(root, "file-digests.d"))).toHaveLength(80);
    const again = await (await openStore(root)).openHashCache();
    let found = 0;
    for (let d = 0; d < 80; d++) for (let f = 0; f < 1000; f += 37) if (again.get(`/t/d${d}/f${f}`, `fp${f}`) === digest(`${d}/${f}`)) found++;
    expect(found).toBe(80 * 28);
    expect(await fs.readdir(path.join(root, "tmp"))).toEqual([]);
  });
});
