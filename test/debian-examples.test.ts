/**
 * The lecture's stacks, built from Debian packages by their lading.lock (--frozen) into
 * one shared store, re-hashed by lading's validator, loaded into podman and run, each
 * doing its job: nginx serves a page, redis answers PING and SET/GET, the Flask API
 * counts its calls in redis, PostgreSQL runs a query.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, run, runLading } from "./support/cli.ts";
import { requireTool } from "./support/tools.ts";
import { validateOciLayout } from "./support/validate.ts";

const RUN = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"] as const;

let work: string;
let store: string;
const started: string[] = [];

/**
 * Builds an example from its lock into the shared store and loads it into podman; with
 * `validate`, also as an OCI layout checked by the validator and the external tools
 * (once is enough: the large images would only add minutes of re-hashing).
 */
const buildAndLoad = async (name: string, validate = false): Promise<string> => {
  const layout = path.join(work, `${name}-oci`);
  const archive = path.join(work, `${name}.tar`);
  const outs = ["--out", `docker-archive:${archive}:lading-example-${name}:latest`, ...(validate ? ["--out", `oci:${layout}:latest`] : [])];
  const r = await runLading(["build", `examples/${name}/lading.ts`, "--frozen", "--no-check", "--store", store, ...outs]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  if (validate) await validateOciLayout(layout, "latest");
  await mustRun("podman", ["load", "-q", "-i", archive]);
  return r.stdout.trim();
};

/** Starts a container of an example's image; podman rm -f in afterAll. */
const start = async (name: string, extra: ReadonlyArray<string> = ["--network", "none"]): Promise<string> => {
  const id = (await mustRun("podman", ["run", "-d", ...RUN, ...extra, `localhost/lading-example-${name}:latest`])).stdout.trim();
  started.push(id);
  return id;
};

/** Runs a command in a container until it succeeds (the server may still be starting). */
const execUntil = async (id: string, argv: ReadonlyArray<string>, timeoutMs = 20_000): Promise<string> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run("podman", ["exec", id, ...argv]);
    if (r.code === 0) return r.stdout;
    if (Date.now() > deadline) throw new Error(`podman exec ${argv.join(" ")} kept failing: ${r.stderr}\n${(await run("podman", ["logs", id])).stderr}`);
    await new Promise((res) => setTimeout(res, 300));
  }
};

beforeAll(async () => {
  requireTool("podman");
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-debian-examples-"));
  store = path.join(work, "store");
});

afterAll(async () => {
  // Dependents first: the API shares the redis container's network.
  for (const id of started.reverse()) await run("podman", ["rm", "-f", id]);
  await fs.rm(work, { recursive: true, force: true });
});

describe("the Debian examples", () => {
  it("nginx serves the site's page", async () => {
    await buildAndLoad("nginx", true);
    const id = await start("nginx");
    expect(await execUntil(id, ["/bin/wget", "-qO-", "http://127.0.0.1:8080/"])).toContain("Served by nginx from Debian packages");
    // The image knows what it holds.
    expect(await execUntil(id, ["/bin/cat", "/var/lib/dpkg/status"])).toMatch(/^Package: nginx\nStatus: install ok installed\n/m);
  }, 300_000);

  it("redis answers PING and SET/GET, and the API counts its calls in it", async () => {
    await buildAndLoad("redis");
    await buildAndLoad("api");
    const redis = await start("redis");
    expect((await execUntil(redis, ["redis-cli", "PING"])).trim()).toBe("PONG");
    expect((await execUntil(redis, ["redis-cli", "SET", "greeting", "hello"])).trim()).toBe("OK");
    expect((await execUntil(redis, ["redis-cli", "GET", "greeting"])).trim()).toBe("hello");
    const api = await start("api", ["--network", `container:${redis}`]);
    const call = ["python3", "-c", "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/count').read().decode().strip())"];
    expect(JSON.parse(await execUntil(api, call))).toEqual({ calls: 1, psycopg2: "2.9.5" });
    expect(JSON.parse(await execUntil(api, call))).toEqual({ calls: 2, psycopg2: "2.9.5" });
  }, 300_000);

  it("PostgreSQL runs a query", async () => {
    await buildAndLoad("postgres");
    const id = await start("postgres");
    const sql = "create table users (name text); insert into users values ('ada'), ('grace'); select count(*) || ' ' || min(name) from users";
    expect((await execUntil(id, ["psql", "-h", "/tmp", "-U", "postgres", "-At", "-c", sql], 60_000)).trim().split("\n").at(-1)).toBe("2 ada");
  }, 600_000);
});
