/**
 * Registries: lading pushes to and reads from the real reference registry, started here
 * on 127.0.0.1, without auth and behind htpasswd basic auth; skopeo and podman read what
 * lading pushed, and lading reads what skopeo pushed.
 */
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, run, runLading } from "./support/cli.ts";
import type { Registry } from "./support/registry.ts";
import { startRegistry } from "./support/registry.ts";
import type { TokenServer } from "./support/tokens.ts";
import { startTokenServer } from "./support/tokens.ts";
import { PODMAN_RUN, requireTool } from "./support/tools.ts";
import { validateImage } from "./support/validate.ts";
import { registryUrl } from "../src/registry/index.ts";

let work: string;
let open: Registry;
let locked: Registry;
let store: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-registry-"));
  store = path.join(work, "store");
  open = await startRegistry(path.join(work, "open"));
  locked = await startRegistry(path.join(work, "locked"), { ci: "s3cret" });
});

afterAll(async () => {
  await open?.stop();
  await locked?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

describe("docker:// without auth", () => {
  it("pushes an image that skopeo inspects and podman pulls and runs", async () => {
    const ref = `${open.host}/lading/hello:1.0`;
    const built = await runLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `docker://${ref}`, "--out", `oci:${work}/hello:1.0`]);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    const digest = built.stdout.trim();
    requireTool("skopeo");
    const inspected = JSON.parse((await mustRun("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`])).stdout) as { Digest: string };
    expect(inspected.Digest).toBe(digest);
    requireTool("podman");
    await mustRun("podman", ["pull", "-q", "--tls-verify=false", ref]);
    try {
      const r = await run("podman", [...PODMAN_RUN, ref]);
      expect(r.stdout).toBe("Hello from lading!\n");
      expect(r.code).toBe(0);
    } finally {
      await run("podman", ["rmi", "-f", ref]);
    }
    // Read back, verified blob by blob, it is the same image as the spec and the layout.
    await validateImage(`docker://${ref}`);
    const same = await runLading(["diff", "examples/hello/lading.ts", `docker://${ref}`, "--store", store, "--no-check"]);
    expect(same.stdout).toContain("no differences");
    expect(same.code).toBe(0);
    const byDigest = await runLading(["inspect", `docker://${open.host}/lading/hello@${digest}`, "--json"]);
    expect((JSON.parse(byDigest.stdout) as { digest: string }).digest).toBe(digest);
  });

  it("shows on a terminal each layer it downloads, and says nothing of it off one", async () => {
    const ref = `${open.host}/lading/hello:1.0`;
    const quiet = await runLading(["copy", "--store", path.join(work, "quiet-store"), `docker://${ref}`, `oci:${work}/quiet`]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe("");
    // Under script(1), lading's stderr is a terminal, as a user's is.
    const shown = await run("script", ["-qec", `"${process.execPath}" bin/lading.js copy --store ${work}/tty-store docker://${ref} oci:${work}/tty`, "/dev/null"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/fetching 1 layer: [0-9.]+ (B|kB)( of [0-9.]+ (B|kB))?/);
    expect(shown.stdout).toMatch(/fetched sha256:[0-9a-f]{12}… \([0-9.]+ (B|kB)\)/);
  });

  it("reads an image skopeo pushed with Docker media types", async () => {
    const layout = path.join(work, "site");
    expect((await runLading(["build", "examples/site/lading.ts", "--store", store, "--out", `oci:${layout}:site`])).code).toBe(0);
    const ref = `${open.host}/other/site:v2s2`;
    await mustRun("skopeo", ["copy", "--dest-tls-verify=false", "--format", "v2s2", `oci:${layout}:site`, `docker://${ref}`]);
    const { image } = await validateImage(`docker://${ref}`);
    expect(image.config.value.config?.User).toBe("www");
    const diff = await runLading(["diff", `oci:${layout}:site`, `docker://${ref}`, "--store", store]);
    expect(diff.stdout).toContain("no differences");
    expect(diff.code).toBe(0);
  });

  it("says clearly what is wrong with a reference or a missing image", async () => {
    const missing = await runLading(["inspect", `docker://${open.host}/lading/none:1`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^docker:\/\/127\.0\.0\.1:\d+\/lading\/none:1: GET \/v2\/lading\/none\/manifests\/1: HTTP 404/);
    const bad = await runLading(["inspect", "docker://Not A Host/x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not a registry host");
  });
});

describe("docker:// behind basic auth", () => {
  it("refuses without credentials and pushes with the docker config's", async () => {
    const ref = `${locked.host}/team/hello:1`;
    const config = path.join(work, "docker-config");
    await fs.mkdir(config, { recursive: true });
    const anonymous = await runLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `docker://${ref}`], { env: { DOCKER_CONFIG: config } });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain("the registry asks for a login and no credentials are set for it");
    await fs.writeFile(path.join(config, "config.json"), JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from("ci:s3cret").toString("base64") } } }));
    const pushed = await runLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `docker://${ref}`], { env: { DOCKER_CONFIG: config } });
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    const inspected = JSON.parse((await mustRun("skopeo", ["inspect", "--tls-verify=false", "--creds", "ci:s3cret", `docker://${ref}`])).stdout) as { Digest: string };
    expect(inspected.Digest).toBe(pushed.stdout.trim());
    // The credentials are never printed.
    const read = await runLading(["inspect", `docker://${ref}`, "--json"], { env: { DOCKER_CONFIG: config } });
    expect(read.code).toBe(0);
    expect(read.stdout + read.stderr).not.toContain("s3cret");
    expect(read.stdout + read.stderr).not.toContain(Buffer.from("ci:s3cret").toString("base64"));
    // Pulls log in the same way.
    const layout = path.join(work, "from-locked");
    const pulled = await runLading(["copy", `docker://${ref}`, `oci:${layout}:hello`, "--store", path.join(work, "locked-pull-store")], { env: { DOCKER_CONFIG: config } });
    expect(pulled.stderr).toBe("");
    expect(pulled.stdout.trim()).toBe(inspected.Digest);
  });
});

describe("plain http", () => {
  it("is spoken only to this machine and to the registries the user marks insecure", () => {
    expect(registryUrl("127.0.0.1:5000", {})).toBe("http://127.0.0.1:5000");
    expect(registryUrl("localhost:5000", {})).toBe("http://localhost:5000");
    expect(registryUrl("registry.internal:5000", {})).toBe("https://registry.internal:5000");
    expect(registryUrl("registry.internal:5000", { LADING_INSECURE_REGISTRIES: "other:1, registry.internal:5000" })).toBe("http://registry.internal:5000");
    // A mark names a host and port exactly: another port of the host stays on https.
    expect(registryUrl("registry.internal:5001", { LADING_INSECURE_REGISTRIES: "registry.internal:5000" })).toBe("https://registry.internal:5001");
    expect(registryUrl("docker.io", {})).toBe("https://registry-1.docker.io");
  });
});

describe("docker:// behind bearer-token auth", () => {
  let tokens: TokenServer;
  let elsewhere: TokenServer;
  let registry: Registry;
  let registryElsewhere: Registry;
  let config: string;

  beforeAll(async () => {
    tokens = await startTokenServer(path.join(work, "tokens"), { user: "ci", password: "t0ken" });
    // The same kind of server, but its realm names another host than the registry's.
    elsewhere = await startTokenServer(path.join(work, "tokens-elsewhere"), { user: "ci", password: "t0ken" }, "localhost");
    registry = await startRegistry(path.join(work, "bearer"), undefined, tokens);
    registryElsewhere = await startRegistry(path.join(work, "bearer-elsewhere"), undefined, elsewhere);
    config = path.join(work, "bearer-config");
    await fs.mkdir(config, { recursive: true });
    const auth = Buffer.from("ci:t0ken").toString("base64");
    await fs.writeFile(path.join(config, "config.json"), JSON.stringify({ auths: { [registry.host]: { auth }, [registryElsewhere.host]: { auth } } }));
  });

  afterAll(async () => {
    await registry?.stop();
    await registryElsewhere?.stop();
    await tokens?.stop();
    await elsewhere?.stop();
  });

  it("gets a token for the repository's scope with the registry's credentials, and pushes", async () => {
    const ref = `${registry.host}/team/app:1`;
    const pushed = await runLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `docker://${ref}`], { env: { DOCKER_CONFIG: config } });
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect(tokens.requests.some((r) => r.scope === "repository:team/app:pull,push" && r.withLogin)).toBe(true);
    const read = await runLading(["inspect", `docker://${ref}`, "--json"], { env: { DOCKER_CONFIG: config } });
    expect(read.code).toBe(0);
    expect((JSON.parse(read.stdout) as { digest: string }).digest).toBe(pushed.stdout.trim());
  });

  it("copies between repositories by mounting, with one token for both", async () => {
    const first = `${registry.host}/base/hello:1`;
    const second = `${registry.host}/team/copy:1`;
    const env = { DOCKER_CONFIG: config };
    const built = await runLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `docker://${first}`], { env });
    expect(built.code).toBe(0);
    const copyStore = path.join(work, "bearer-copy-store");
    const copied = await runLading(["copy", `docker://${first}`, `docker://${second}`, "--store", copyStore], { env });
    expect(copied.stderr).toBe("");
    expect(copied.stdout.trim()).toBe(built.stdout.trim());
    // Mounted, not downloaded: the store holds the manifest and the config only.
    expect(await fs.readdir(path.join(copyStore, "blobs", "sha256"))).toHaveLength(2);
    expect(tokens.requests.some((r) => r.scope === "repository:team/copy:pull,push repository:base/hello:pull" && r.withLogin)).toBe(true);
    const inspected = JSON.parse((await mustRun("skopeo", ["inspect", "--tls-verify=false", "--creds", "ci:t0ken", `docker://${second}`])).stdout) as { Digest: string };
    expect(inspected.Digest).toBe(built.stdout.trim());
  });

  it("sends no credentials to a token server on another host", async () => {
    const ref = `${registryElsewhere.host}/team/app:1`;
    const pushed = await runLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `docker://${ref}`], { env: { DOCKER_CONFIG: config } });
    expect(pushed.code).toBe(1);
    expect(pushed.stderr).toContain("refused: HTTP 401");
    expect(pushed.stderr).toContain("no credentials were sent");
    expect(elsewhere.requests.length).toBeGreaterThan(0);
    expect(elsewhere.requests.every((r) => !r.withLogin)).toBe(true);
  });
});

describe("a hostile registry", () => {
  /** A registry that answers every request with `answer`, streaming a body that does not end. */
  const hostile = async (answer: (res: http.ServerResponse) => void, f: (host: string) => Promise<void>): Promise<void> => {
    const server = http.createServer((_req, res) => answer(res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const address = server.address();
    try {
      await f(`127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    }
  };
  const endless = (res: http.ServerResponse): void => {
    const chunk = Buffer.alloc(1 << 16, 0x61);
    const write = (): void => {
      while (res.write(chunk));
      res.once("drain", write);
    };
    res.on("close", () => res.removeAllListeners("drain"));
    write();
  };

  it("cannot fill lading's memory with an error that does not end, nor keep it running", async () => {
    await hostile(
      (res) => {
        res.writeHead(400, { "content-type": "text/plain" });
        endless(res);
      },
      async (host) => {
        const started = Date.now();
        const r = await runLading(["inspect", `docker://${host}/team/app:1`]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`docker://${host}/team/app:1: GET /v2/team/app/manifests/1: HTTP 400`);
        expect(r.stderr.length).toBeLessThan(2000);
        expect(Date.now() - started).toBeLessThan(20_000);
      },
    );
  });

  it("refuses a manifest larger than it accepts, and exits at once", async () => {
    await hostile(
      (res) => {
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json", "content-length": String(10 * 2 ** 30) });
        endless(res);
      },
      async (host) => {
        const started = Date.now();
        const r = await runLading(["inspect", `docker://${host}/team/app:1`]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("more than the 4194304 lading accepts");
        expect(Date.now() - started).toBeLessThan(20_000);
      },
    );
  });
});

