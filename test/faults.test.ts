/**
 * Registries that fail: lading pushes to and pulls from the real registry through a proxy
 * that drops connections, answers 500, cuts transfers off halfway, loses answers and
 * flips bytes, each by a fixed rule (never at random). A push or pull that meets a
 * passing fault completes, and what lands in the registry is the image lading printed;
 * a fault on every attempt ends in one clear line naming the image; a corrupted manifest
 * or blob is always refused. Every test checks that its faults really happened.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, REPO, runLading, type RunResult } from "./support/cli.ts";
import type { Exchange, FaultKind, FaultProxy, FaultRule } from "./support/faultproxy.ts";
import { startFaultProxy } from "./support/faultproxy.ts";
import type { Registry } from "./support/registry.ts";
import { startRegistry } from "./support/registry.ts";
import { requireTool } from "./support/tools.ts";

const SPEC = "examples/site/lading.ts";
/** The repository the pull tests read, pushed straight to the registry. */
const PULLED = "pulled/site";

let work: string;
let store: string;
let registry: Registry;
/** The digest of the site image, as lading printed it when pushing without faults. */
let digest: string;
let configDigest: string;
let layerDigests: ReadonlyArray<string>;

beforeAll(async () => {
  requireTool("skopeo");
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-faults-"));
  store = path.join(work, "store");
  registry = await startRegistry(path.join(work, "registry"));
  const pushed = await runLading(["build", SPEC, "--store", store, "--out", `docker://${registry.host}/${PULLED}:1`]);
  expect(pushed.stderr).toBe("");
  expect(pushed.code).toBe(0);
  digest = pushed.stdout.trim();
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  const raw = JSON.parse((await mustRun("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/${PULLED}:1`])).stdout) as {
    config: { digest: string };
    layers: Array<{ digest: string }>;
  };
  configDigest = raw.config.digest;
  layerDigests = raw.layers.map((l) => l.digest);
  expect(layerDigests.length).toBeGreaterThan(1);
});

afterAll(async () => {
  await registry?.stop();
  if (work !== undefined) await fs.rm(work, { recursive: true, force: true });
});

/** Runs `f` against a fresh proxy in front of the registry, breaking what `rule` picks. */
const through = async <A>(rule: FaultRule, f: (proxy: FaultProxy) => Promise<A>): Promise<A> => {
  const proxy = await startFaultProxy(registry, rule);
  try {
    return await f(proxy);
  } finally {
    await proxy.stop();
  }
};

/** What the proxy saw, for a failing assertion's message. */
const trace = (proxy: FaultProxy): string =>
  proxy.log.map((l) => `${l.n} ${l.method} ${l.path} #${l.attempt}${l.fault === undefined ? "" : ` ${l.fault}`}${l.status === undefined ? "" : ` -> ${l.status}`}`).join("\n");

/** A failure is one line of lading's own, never a stack trace or an internal error. */
const expectOneLineError = (r: RunResult, reference: string): void => {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout, r.stderr).toBe("");
  expect(r.stderr).not.toContain("internal error");
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr.startsWith(`docker://${reference}: `), r.stderr).toBe(true);
};

/** A temp directory of the test's own, to see that a failed pull leaves nothing in it. */
const freshTmp = async (name: string): Promise<string> => {
  const dir = path.join(work, "tmp", name);
  await fs.mkdir(dir, { recursive: true });
  return dir;
};

/** True for the `k`-th exchange (from 1) that `pick` picks, and no other. */
const nth = (k: number, pick: (x: Exchange) => boolean): ((x: Exchange) => boolean) => {
  let seen = 0;
  return (x) => pick(x) && ++seen === k;
};

const firstAttempt = (x: Exchange): boolean => x.attempt === 1;
/**
 * lading sends some requests at once, so which request is the third may change from run
 * to run; the first attempt only, so that no request meets the fault twice.
 */
const everyThird = (x: Exchange): boolean => x.attempt === 1 && x.n % 3 === 0;
const always = (): boolean => true;

const SHARES = [
  ["the first attempt of every request", "first", firstAttempt],
  ["the first attempt of every third request", "third", everyThird],
] as const;

/** The most attempts the proxy saw at one request. */
const mostAttempts = (proxy: FaultProxy): number => Math.max(0, ...proxy.log.map((l) => l.attempt));

/** The temp files and directories lading left in `dir`. */
const leftIn = async (dir: string): Promise<string[]> => (await fs.readdir(dir)).filter((f) => f.startsWith("lading"));

const KINDS: ReadonlyArray<readonly [FaultKind, string]> = [
  ["drop", "its connection dropped before it is forwarded"],
  ["status500", "answered 500"],
  ["truncate", "cut off halfway (an upload's body, or a download's answer)"],
  ["loseAnswer", "handled by the registry, its answer lost"],
];

const CASES = KINDS.flatMap(([kind, what]) => SHARES.map(([share, slug, when]) => ({ title: `${share} ${what} (${kind})`, kind, slug, when })));

describe("a push through a registry that fails now and then", () => {
  for (const { title, kind, slug, when } of CASES) {
    it(`completes with ${title}`, async () => {
      const repository = `push/${kind.toLowerCase()}-${slug}`;
      await through({ kind, when }, async (proxy) => {
        const built = await runLading(["build", SPEC, "--store", store, "--out", `docker://${proxy.host}/${repository}:1`]);
        expect(proxy.injected(kind), trace(proxy)).toBeGreaterThan(0);
        expect(built.stderr, trace(proxy)).toBe("");
        expect(built.code).toBe(0);
        // The same spec, the same image: the digest of the push without faults.
        expect(built.stdout.trim()).toBe(digest);
      });
      // Straight from the registry, not through the proxy: the image lading printed, whole.
      const direct = `${registry.host}/${repository}:1`;
      const inspected = JSON.parse((await mustRun("skopeo", ["inspect", "--tls-verify=false", `docker://${direct}`])).stdout) as { Digest: string };
      expect(inspected.Digest).toBe(digest);
      const read = await runLading(["inspect", `docker://${direct}`, "--json"]);
      expect(read.stderr).toBe("");
      expect(read.code).toBe(0);
      expect((JSON.parse(read.stdout) as { digest: string }).digest).toBe(digest);
    });
  }
});

describe("a pull through a registry that fails now and then", () => {
  for (const { title, kind, when } of CASES) {
    it(`completes with ${title}`, async () => {
      await through({ kind, when }, async (proxy) => {
        const read = await runLading(["inspect", `docker://${proxy.host}/${PULLED}:1`, "--json"]);
        expect(proxy.injected(kind), trace(proxy)).toBeGreaterThan(0);
        expect(read.stderr, trace(proxy)).toBe("");
        expect(read.code).toBe(0);
        expect((JSON.parse(read.stdout) as { digest: string }).digest).toBe(digest);
      });
    });
  }
});

describe("a registry that fails every attempt", () => {
  it("ends a push with one line: the request, the attempts and the last answer", async () => {
    await through({ kind: "status500", when: always }, async (proxy) => {
      const reference = `${proxy.host}/fail/status500:1`;
      const built = await runLading(["build", SPEC, "--store", store, "--out", `docker://${reference}`]);
      expectOneLineError(built, reference);
      expect(proxy.injected("status500")).toBeGreaterThanOrEqual(4);
      expect(mostAttempts(proxy), trace(proxy)).toBe(4);
      expect(built.stderr).toMatch(/: HEAD \/v2\/fail\/status500\/blobs\/sha256:[0-9a-f]{64} failed after 4 attempts: HTTP 500\n$/);
    });
  });

  it("ends a push whose connections all drop with one line", async () => {
    await through({ kind: "drop", when: always }, async (proxy) => {
      const reference = `${proxy.host}/fail/drop:1`;
      const built = await runLading(["build", SPEC, "--store", store, "--out", `docker://${reference}`]);
      expectOneLineError(built, reference);
      expect(proxy.injected("drop")).toBeGreaterThanOrEqual(4);
      expect(mostAttempts(proxy), trace(proxy)).toBe(4);
      expect(built.stderr).toMatch(/: HEAD \/v2\/fail\/drop\/blobs\/sha256:[0-9a-f]{64} failed after 4 attempts: /);
    });
  });

  it("ends a push whose uploads are all cut off with one line, and the registry has no tag", async () => {
    await through({ kind: "truncate", when: (x) => x.method === "PUT" }, async (proxy) => {
      const reference = `${proxy.host}/fail/upload:1`;
      const built = await runLading(["build", SPEC, "--store", store, "--out", `docker://${reference}`]);
      expectOneLineError(built, reference);
      // Each cut-off upload spoils its session: lading starts new ones, then gives up.
      expect(built.stderr, trace(proxy)).toMatch(/the upload of blob sha256:[0-9a-f]{64} failed in 4 sessions: PUT \/v2\/fail\/upload\/blobs\/uploads\/[0-9a-f-]+ failed/);
      // The upload's opaque session state is no help to anyone reading the error.
      expect(built.stderr).not.toContain("_state=");
      expect(proxy.injected("truncate"), trace(proxy)).toBeGreaterThanOrEqual(4);
    });
    const tag = await runLading(["inspect", `docker://${registry.host}/fail/upload:1`]);
    expect(tag.code).toBe(1);
    expect(tag.stderr).toContain("HTTP 404");
  });

  it("ends a pull whose connections all drop with one line naming the manifest", async () => {
    await through({ kind: "drop", when: always }, async (proxy) => {
      const reference = `${proxy.host}/${PULLED}:1`;
      const read = await runLading(["inspect", `docker://${reference}`]);
      expectOneLineError(read, reference);
      expect(proxy.injected("drop")).toBe(4);
      expect(mostAttempts(proxy), trace(proxy)).toBe(4);
      expect(read.stderr).toContain(`GET /v2/${PULLED}/manifests/1 failed after 4 attempts: `);
    });
  });

  it("ends a pull whose downloads are all cut off with one line naming the blob, and leaves nothing behind", async () => {
    const tmp = await freshTmp("cut-off");
    await through({ kind: "truncate", when: (x) => x.path.includes("/blobs/") }, async (proxy) => {
      const reference = `${proxy.host}/${PULLED}:1`;
      const read = await runLading(["inspect", `docker://${reference}`], { env: { TMPDIR: tmp } });
      expectOneLineError(read, reference);
      expect(read.stderr).toContain("failed after 4 attempts");
      expect(read.stderr).toContain(configDigest);
      expect(proxy.injected("truncate"), trace(proxy)).toBe(4);
      expect(mostAttempts(proxy), trace(proxy)).toBe(4);
    });
    expect(await leftIn(tmp)).toEqual([]);
  });
});

describe("a corrupted manifest or blob", () => {
  const refused = async (when: (x: Exchange) => boolean, image: string, name: string): Promise<RunResult> => {
    const tmp = await freshTmp(name);
    return through({ kind: "corrupt", when }, async (proxy) => {
      const reference = `${proxy.host}/${image}`;
      const read = await runLading(["inspect", `docker://${reference}`], { env: { TMPDIR: tmp } });
      expect(proxy.injected("corrupt"), trace(proxy)).toBeGreaterThan(0);
      expectOneLineError(read, reference);
      expect(await leftIn(tmp)).toEqual([]);
      return read;
    });
  };

  it("is refused: a manifest read by tag that does not match the digest the registry sends", async () => {
    const read = await refused((x) => x.path.includes("/manifests/"), `${PULLED}:1`, "manifest-tag");
    expect(read.stderr).toMatch(/manifest .*does not match the digest the registry claims/);
  });

  it("is refused: a manifest read by digest that does not match it", async () => {
    const read = await refused((x) => x.path.includes("/manifests/"), `${PULLED}@${digest}`, "manifest-digest");
    expect(read.stderr).toMatch(/manifest .*does not match its digest/);
    expect(read.stderr).toContain(digest);
  });

  it("is refused: the config blob", async () => {
    const read = await refused((x) => x.path.endsWith(`/blobs/${configDigest}`), `${PULLED}:1`, "config");
    expect(read.stderr).toContain(`blob ${configDigest} does not match its digest`);
  });

  it("is refused: a layer blob", async () => {
    const layer = layerDigests[layerDigests.length - 1]!;
    const read = await refused((x) => x.path.endsWith(`/blobs/${layer}`), `${PULLED}:1`, "layer");
    expect(read.stderr).toContain(`blob ${layer} does not match its digest`);
  });
});

describe("a base image fetched into the store", () => {
  it("never lands there unverified: a corrupted layer is refused, and nothing is left half-written", async () => {
    const project = path.join(work, "pulling");
    await fs.mkdir(path.join(project, "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(project, "node_modules", "lading"));
    const pullStore = path.join(work, "pull-store");
    const bad = layerDigests[layerDigests.length - 1];
    const out = (n: number): string => `oci:${path.join(work, `pulled-${n}`)}`;
    await through({ kind: "corrupt", when: (x) => x.path.endsWith(`/blobs/${bad!}`) }, async (proxy) => {
      const spec = path.join(project, "lading.ts");
      await fs.writeFile(spec, `import { Image, pipe } from "lading";\nexport const app = pipe(Image.pull("${proxy.host}/${PULLED}:1"), Image.withCmd(["/bin/true"]));\n`);
      const built = await runLading(["build", spec, "--no-check", "--store", pullStore, "--out", out(1)]);
      expect(proxy.injected("corrupt"), trace(proxy)).toBeGreaterThan(0);
      expect(built.code).toBe(1);
      expect(built.stderr).toContain(`blob ${bad!} does not match its digest: refused`);
      const stored = (await fs.readdir(path.join(pullStore, "blobs", "sha256"))).map((h) => `sha256:${h}`);
      expect(stored).not.toContain(bad);
      // Every blob that did land matches its name.
      for (const d of stored) {
        const bytes = await fs.readFile(path.join(pullStore, "blobs", "sha256", d.slice(7)));
        expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(d);
      }
      expect(await fs.readdir(path.join(pullStore, "tmp"))).toEqual([]);
      expect(await fs.stat(path.join(work, "pulled-1")).catch(() => undefined)).toBeUndefined();
    });
  });
});

describe("a push of a layer larger than 32 MiB", () => {
  /** Past 32 MiB, lading sends a blob in a resumable upload rather than one PUT. */
  const BIG = (32 << 20) + (1 << 20);
  let spec: string;
  let bigDigest: string;
  let bigLayer: string;

  beforeAll(async () => {
    const dir = path.join(work, "big");
    await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
    // Random bytes do not compress: the layer stays larger than 32 MiB.
    await fs.writeFile(path.join(dir, "big.bin"), randomBytes(BIG));
    spec = path.join(dir, "lading.ts");
    await fs.writeFile(
      spec,
      `import { Entry, Image, Layer, pipe } from "lading";\n\nexport const big = pipe(Image.scratch, Image.withLayer(Layer.make("big", [Entry.copy("big.bin", "/big.bin")])));\n`,
    );
    const direct = `${registry.host}/big/direct:1`;
    const pushed = await runLading(["build", spec, "--store", store, "--out", `docker://${direct}`]);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    bigDigest = pushed.stdout.trim();
    const raw = JSON.parse((await mustRun("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${direct}`])).stdout) as { layers: Array<{ digest: string; size: number }> };
    expect(raw.layers[0]!.size).toBeGreaterThan(32 << 20);
    bigLayer = raw.layers[0]!.digest;
  });

  /** A request that carries the layer's bytes, or a good part of them (a chunk). */
  const sendsLayer = (x: Exchange): boolean => (x.method === "PATCH" || x.method === "PUT") && (x.size ?? 0) > 1 << 20;
  /** The PUT that completes the layer's upload: it names the layer's digest. */
  const completesLayer = (x: Exchange): boolean => x.method === "PUT" && new URL(x.url, "http://proxy").searchParams.get("digest") === bigLayer;

  const cases = [
    { name: "the request sending its bytes cut off halfway", slug: "cut", rule: (): FaultRule => ({ kind: "truncate", when: nth(1, sendsLayer) }) },
    { name: "the answer to the request sending its bytes lost", slug: "lost", rule: (): FaultRule => ({ kind: "loseAnswer", when: nth(1, sendsLayer) }) },
    { name: "the request sending its bytes answered 500", slug: "500", rule: (): FaultRule => ({ kind: "status500", when: nth(1, sendsLayer) }) },
    { name: "the answer to the PUT that completes it lost", slug: "lost-commit", rule: (): FaultRule => ({ kind: "loseAnswer", when: nth(1, completesLayer) }) },
  ];

  for (const { name, slug, rule } of cases) {
    it(`completes with ${name}`, async () => {
      const r = rule();
      const repository = `big/${slug}`;
      await through(r, async (proxy) => {
        const built = await runLading(["build", spec, "--store", store, "--out", `docker://${proxy.host}/${repository}:1`]);
        expect(proxy.injected(r.kind), trace(proxy)).toBe(1);
        expect(built.stderr, trace(proxy)).toBe("");
        expect(built.code).toBe(0);
        expect(built.stdout.trim()).toBe(bigDigest);
      });
      const direct = `${registry.host}/${repository}:1`;
      const inspected = JSON.parse((await mustRun("skopeo", ["inspect", "--tls-verify=false", `docker://${direct}`])).stdout) as { Digest: string };
      expect(inspected.Digest).toBe(bigDigest);
      const read = await runLading(["inspect", `docker://${direct}`, "--json"]);
      expect(read.stderr).toBe("");
      expect(read.code).toBe(0);
    });
  }
});
