/**
 * Run steps, built by the real CLI and run by runc: what a step changes is its layer
 * (deletions as whiteouts podman honours), an unchanged step never runs again, a change
 * re-runs only the steps after it, the sandbox keeps the network, the host's processes
 * and secrets out, and a failing step names itself and writes nothing.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDiagnostic } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import { Image, Mount, pipe } from "../src/index.ts";
import { buildLayer, layerFormat } from "../src/build/index.ts";
import { cacheDir, layerFromUpper } from "../src/run/index.ts";
import { openStore } from "../src/store/index.ts";
import { mustRun, REPO, run, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import { PODMAN_RUN, requireTool } from "./support/tools.ts";
import { validateImage } from "./support/validate.ts";

let work: string;
beforeAll(async () => {
  requireTool("runc");
  requireTool("busybox");
  requireTool("getfattr");
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-run-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const HEADER = `import { Entry, Image, Layer, Mount, pipe } from "lading";
import { busybox } from "lading/stdlib";
const tools = busybox({ applets: ["sh", "cat", "echo", "rm", "mkdir", "ls", "grep", "wget", "dd", "sha256sum", "date", "touch", "test", "adduser", "addgroup", "chown", "wc"] });
`;

/** A project directory with a spec whose body follows {@link HEADER}, and its own store. */
const project = async (name: string, body: string): Promise<{ readonly dir: string; readonly spec: string; readonly store: string }> => {
  const dir = path.join(work, name);
  await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
  await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
  const spec = path.join(dir, "lading.ts");
  await fs.writeFile(spec, HEADER + body);
  return { dir, spec, store: path.join(dir, "store") };
};

const COUNT = (id: string): string => `n=$(cat /c/${id} 2>/dev/null || echo 0); echo $((n+1)) > /c/${id}`;

describe("a step's changes are its layer", () => {
  let p: Awaited<ReturnType<typeof project>>;
  let built: Awaited<ReturnType<typeof runLading>>;
  beforeAll(async () => {
    p = await project(
      "changes",
      `const files = Layer.make("files", [Entry.file("/etc/gone", "old\\n"), Entry.file("/etc/changed", "old\\n"), Entry.file("/etc/keep/a", "a\\n")]);
export const img = pipe(
  Image.scratch,
  Image.withLayers(tools, files),
  Image.withEnv({ PATH: "/bin", A: "from-image" }),
  Image.runShell("echo step says hi; rm /etc/gone; echo new > /etc/changed; rm -rf /etc/keep; mkdir /etc/keep; echo b > /etc/keep/b; echo $A $B > /added", { name: "change", env: { B: "from-step" } }),
  Image.withCmd(["/bin/sh", "-c", "cat /added /etc/changed; ls /etc/keep; test -e /etc/gone || echo gone"]),
);
`,
    );
    built = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`, "--out", `docker-archive:${p.dir}/img.tar:localhost/lading-run-changes:latest`]);
  });

  it("builds, streaming the step's output prefixed with its name", () => {
    expect(built.stderr).toContain("change | step says hi\n");
    expect(built.code).toBe(0);
    expect(built.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("holds added and changed files, a whiteout and an opaque directory, and nothing of the sandbox", async () => {
    const { inspection } = await validateImage(`oci:${p.dir}/oci:img`);
    const layer = inspection.layers[inspection.layers.length - 1]!;
    expect(layer.files.map((f) => `${f.type} ${f.path}`)).toEqual([
      "file /added",
      "dir /etc",
      "file /etc/.wh.gone",
      "file /etc/changed",
      "dir /etc/keep",
      "file /etc/keep/.wh..wh..opq",
      "file /etc/keep/b",
    ]);
  });

  it("runs under podman as the spec says: the deleted file is gone", async () => {
    requireTool("podman");
    const name = "localhost/lading-run-changes:latest";
    await mustRun("podman", ["load", "-q", "-i", `${p.dir}/img.tar`]);
    try {
      const r = await run("podman", [...PODMAN_RUN, name]);
      expect(r.stdout).toBe("from-image from-step\nnew\nb\ngone\n");
      expect(r.code).toBe(0);
    } finally {
      await run("podman", ["rmi", "-f", name]);
    }
  });
});

describe("the cache", () => {
  it("an unchanged step never runs again; a change re-runs only the steps after it", async () => {
    const body = (greeting: string, second: string): string => `const c = Mount.cache("/c", { id: "counters" });
export const img = pipe(
  Image.scratch,
  Image.withLayer(tools),
  Image.withEnv({ PATH: "/bin" }),
  Image.runShell(${JSON.stringify(`${COUNT("one")}; echo one > /one`)}, { name: "one", mounts: [c] }),
  Image.withLayer(Layer.make("greeting", [Entry.file("/greeting", ${JSON.stringify(greeting)})])),
  Image.runShell(${JSON.stringify(`${COUNT("two")}; cat /greeting > /two`)}, { name: "two", mounts: [c], env: { X: ${JSON.stringify(second)} } }),
);
`;
    const p = await project("cache", body("hello", "1"));
    const store = await openStore(p.store);
    const counts = async (): Promise<{ one: number; two: number }> => {
      const dir = cacheDir(store, "counters");
      const read = async (f: string): Promise<number> => Number((await fs.readFile(path.join(dir, f), "utf8").catch(() => "0")).trim());
      return { one: await read("one"), two: await read("two") };
    };
    const build = async (): Promise<string> => {
      const r = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`]);
      expect(r.stderr).not.toContain("internal error");
      expect(r.code).toBe(0);
      return r.stdout.trim();
    };
    const first = await build();
    expect(await counts()).toEqual({ one: 1, two: 1 });
    const plan = await runLading(["plan", p.spec, "--store", p.store]);
    expect(plan.stdout).toMatch(/^step one: .*, cached$/m);
    expect(plan.stdout).toMatch(/^step two: .*, cached$/m);
    expect(await build()).toBe(first);
    expect(await counts()).toEqual({ one: 1, two: 1 });
    // A layer between the steps changes: the step above it runs again, the one below does not.
    await fs.writeFile(p.spec, HEADER + body("bonjour", "1"));
    const plan2 = await runLading(["plan", p.spec, "--store", p.store]);
    expect(plan2.stdout).toMatch(/^step one: .*, cached$/m);
    expect(plan2.stdout).toMatch(/^step two: .*, not cached$/m);
    const third = await build();
    expect(third).not.toBe(first);
    expect(await counts()).toEqual({ one: 1, two: 2 });
    // The step's own env is part of its key.
    await fs.writeFile(p.spec, HEADER + body("bonjour", "2"));
    await build();
    expect(await counts()).toEqual({ one: 1, two: 3 });
  });
});

describe("the sandbox", () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end("reached\n"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("has no network unless the step asks for the host's, which check flags", async () => {
    const p = await project(
      "network",
      `export const none = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }), Image.runShell("wget -qO /got http://127.0.0.1:${port}/", { name: "fetch" }));
export const host = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }), Image.runShell("wget -qO /got http://127.0.0.1:${port}/", { name: "fetch", network: "host" }));
`,
    );
    const none = await runLading(["build", `${p.spec}#none`, "--store", p.store, "--out", `oci:${p.dir}/oci:none`]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/export "none", layer "fetch": the step failed with exit code 1/);
    const check = await runLading(["check", p.spec]);
    expect(check.code).toBe(0);
    expect(check.stderr).toMatch(/lading\.ts:5:\d+: warning: a run step uses the host's network/);
    const host = await runLading(["build", `${p.spec}#host`, "--store", p.store, "--out", `oci:${p.dir}/oci:host`]);
    expect(host.stderr).not.toContain("error");
    expect(host.code).toBe(0);
    const plan = await runLading(["plan", `${p.spec}#host`, "--store", p.store]);
    expect(plan.stdout).toContain("network host (opted in)");
  });

  it("cannot see the host's processes nor write outside its root", async () => {
    const marker = path.join(work, "host-marker");
    const p = await project(
      "isolation",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }),
  Image.runShell("ls /proc | grep -c '^[0-9]' > /pids; mkdir -p ${path.dirname(marker)}; echo x > ${marker}; (echo evil > /proc/sys/kernel/hostname) 2>/dev/null && echo wrote > /sys-written; true", { name: "look" }));
`,
    );
    const r = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`]);
    expect(r.code).toBe(0);
    await expect(fs.access(marker)).rejects.toThrow();
    const { inspection } = await validateImage(`oci:${p.dir}/oci:img`);
    const files = inspection.layers[inspection.layers.length - 1]!.files.map((f) => f.path);
    expect(files).toContain(marker);
    expect(files).toContain("/pids");
    expect(files).not.toContain("/sys-written");
    await mustRun("umoci", ["unpack", "--image", `${p.dir}/oci:img`, `${p.dir}/bundle`]);
    // The shell, ls and grep: the step's own processes only.
    expect(Number((await fs.readFile(path.join(p.dir, "bundle", "rootfs", "pids"), "utf8")).trim())).toBeLessThanOrEqual(3);
  });

  it("stops a step over its memory limit and says so, writing nothing", async () => {
    const p = await project(
      "memory",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }),
  Image.runShell("echo allocating; dd if=/dev/zero of=/dev/null bs=256M count=1", { name: "hog", limits: { memory: "32m" } }));
`,
    );
    const r = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('export "img", layer "hog": the step was killed (exit code 137): it most likely went over its memory limit of 33554432 bytes');
    expect(r.stderr).toContain("    allocating");
    await expect(fs.access(path.join(p.dir, "oci"))).rejects.toThrow();
  });
});

describe("secrets", () => {
  it("a secret reaches its step and appears in no layer, blob, plan, key or log", async () => {
    const secret = `s3cr3t-${Math.random().toString(36).slice(2)}`;
    const p = await project(
      "secret",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }),
  Image.runShell("sha256sum /run/secrets/token > /token.sum", { name: "use", mounts: [Mount.secret("/run/secrets/token", { env: "LADING_TEST_TOKEN" })] }));
`,
    );
    const env = { LADING_TEST_TOKEN: secret };
    const plan = await runLading(["plan", p.spec, "--json", "--store", p.store], { env });
    const r = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`, "--out", `docker-archive:${p.dir}/img.tar`], { env });
    expect(r.code).toBe(0);
    const { inspection } = await validateImage(`oci:${p.dir}/oci:img`);
    const files = inspection.layers[inspection.layers.length - 1]!.files.map((f) => f.path);
    expect(files).toEqual(["/token.sum"]);
    // The step saw it: the digest of its value is in the layer.
    requireTool("umoci");
    await mustRun("umoci", ["unpack", "--image", `${p.dir}/oci:img`, `${p.dir}/bundle`]);
    expect(await fs.readFile(path.join(p.dir, "bundle", "rootfs", "token.sum"), "utf8")).toBe(`${createHash("sha256").update(secret).digest("hex")}  /run/secrets/token\n`);
    for (const text of [plan.stdout, plan.stderr, r.stdout, r.stderr]) expect(text).not.toContain(secret);
    // No file anywhere in the store or the outputs holds it, compressed or not.
    const grep = await run("sh", ["-c", `grep -rlF -- "$0" ${p.dir} ; for f in $(find ${p.dir} -type f); do gzip -dc "$f" 2>/dev/null | grep -qF -- "$0" && echo "$f"; done; true`, secret]);
    expect(grep.stdout.split("\n").filter((l) => l !== "" && !l.endsWith("/lading.ts"))).toEqual([]);
  });

  it("a missing secret is an error before anything runs", async () => {
    const p = await project(
      "secret-missing",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.runShell("echo ran > /ran", { name: "use", mounts: [Mount.secret("/run/secrets/t", { env: "LADING_NOT_SET" })] }));
`,
    );
    const r = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`], { env: { LADING_NOT_SET: undefined } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('export "img", layer "use", path "/run/secrets/t": secret from environment variable LADING_NOT_SET, which is not set');
    expect(r.stderr).not.toContain("step use:");
  });
});

describe("a failing step", () => {
  it("reports its exit code and last lines, names export and step, and writes nothing", async () => {
    const p = await project(
      "failing",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }), Image.runShell("echo first; echo about to fail; exit 3", { name: "broken" }));
`,
    );
    const r = await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('export "img", layer "broken": the step failed with exit code 3\n  hint: its last lines:\n    first\n    about to fail');
    await expect(fs.access(path.join(p.dir, "oci"))).rejects.toThrow();
    // Nothing of the step in the store: no layer record, no sandbox left behind.
    expect(await fs.readdir(path.join(p.store, "layers"))).toHaveLength(1);
    expect(await fs.readdir(path.join(p.store, "run", "s"))).toEqual([]);
  });
});

describe("rootless", () => {
  it("the same step gives the same layer digest as an unprivileged user as it does as root", async () => {
    requireTool("setpriv");
    const body = `const files = Layer.make("files", [Entry.file("/etc/gone", "old\\n"), Entry.file("/etc/keep/a", "a\\n")]);
export const img = pipe(Image.scratch, Image.withLayers(tools, files), Image.withEnv({ PATH: "/bin" }),
  Image.runShell("rm /etc/gone; rm -rf /etc/keep; mkdir -p /etc/keep /opt/x; echo b > /etc/keep/b; echo f > /opt/x/f; chmod 4755 /opt/x/f", { name: "change" }));
`;
    const p = await project("rootless", body);
    // The unprivileged user needs its own project and store.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lading-rootless-"));
    try {
      await fs.mkdir(path.join(dir, "node_modules"));
      await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
      await fs.writeFile(path.join(dir, "lading.ts"), HEADER + body);
      await fs.chown(dir, 65534, 65534);
      await fs.chown(path.join(dir, "lading.ts"), 65534, 65534);
      const asUser = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env", "env", `HOME=${dir}`, `PATH=${process.env["PATH"] ?? ""}`, `LADING_NO_COMPILE=${process.env["LADING_NO_COMPILE"] ?? ""}`,
        process.execPath, path.join(REPO, "bin", "lading.js"), "build", path.join(dir, "lading.ts"), "--no-check", "--store", path.join(dir, "store"), "--out", `oci:${dir}/oci:img`], { cwd: dir });
      expect(asUser.stderr).not.toMatch(/error/i);
      expect(asUser.code).toBe(0);
      const asRoot = await runLading(["build", p.spec, "--no-check", "--store", p.store, "--out", `oci:${p.dir}/oci:img`]);
      expect(asRoot.code).toBe(0);
      const rootless = (await validateImage(`oci:${dir}/oci:img`)).inspection.layers;
      const root = (await validateImage(`oci:${p.dir}/oci:img`)).inspection.layers;
      expect(rootless[rootless.length - 1]!.files.map((f) => `${f.path} ${f.mode.toString(8)} ${f.uid}:${f.gid}`)).toEqual([
        "/etc 755 0:0", "/etc/.wh.gone 644 0:0", "/etc/keep 755 0:0", "/etc/keep/.wh..wh..opq 644 0:0", "/etc/keep/b 644 0:0", "/opt 755 0:0", "/opt/x 755 0:0", "/opt/x/f 4755 0:0",
      ]);
      expect(rootless[rootless.length - 1]!.diffId).toBe(root[root.length - 1]!.diffId);
      expect(asUser.stdout.trim()).toBe(asRoot.stdout.trim());
    } finally {
      await run("sh", ["-c", `chmod -R u+rwx ${dir}; rm -rf ${dir}`]);
    }
  });
});

describe("lading run", () => {
  it("runs an image over a fresh writable layer, passes its exit code through and leaves nothing", async () => {
    const p = await project("container", `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin", A: "image" }), Image.withCmd(["/bin/sh", "-c", "echo default"]));
`);
    const host = path.join(p.dir, "shared");
    await fs.mkdir(host);
    await fs.writeFile(path.join(host, "in"), "from the host\n");
    const first = await runLading(["run", p.spec, "--store", p.store, "-e", "B=flag", "-v", `${host}:/shared`, "--", "/bin/sh", "-c", "echo $A $B; cat /shared/in; echo out > /shared/out; echo mine > /written; exit 7"]);
    expect(first.stdout).toBe("image flag\nfrom the host\n");
    expect(first.code).toBe(7);
    expect(await fs.readFile(path.join(host, "out"), "utf8")).toBe("out\n");
    // The writable layer went with the container: a second one starts from the image.
    const second = await runLading(["run", p.spec, "--store", p.store, "--", "/bin/sh", "-c", "test -e /written && echo kept || echo fresh"]);
    expect(second.stdout).toBe("fresh\n");
    expect(second.code).toBe(0);
    expect(await fs.readdir(path.join(p.store, "run", "s"))).toEqual([]);
    // Without ARGS, the image's command; from a built image location as well as a spec.
    await runLading(["build", p.spec, "--store", p.store, "--out", `oci:${p.dir}/oci:img`]);
    const located = await runLading(["run", `oci:${p.dir}/oci:img`, "--store", path.join(p.dir, "store2")]);
    expect(located.stdout).toBe("default\n");
    expect(located.code).toBe(0);
  });
});

describe("runtime settings as a value", () => {
  it("lower into the bundle's config.json and into lading run, whose flags override them", async () => {
    const p = await project(
      "runtime",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }),
  Image.withRuntime({ readOnlyRoot: true, tmpfs: ["/tmp"], capabilities: { drop: ["CHOWN"], add: ["NET_ADMIN"] }, memory: "64m", pids: 50, sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" } }),
  Image.withCmd(["/bin/sh", "-c", "touch /x 2>/dev/null || echo root-read-only; touch /tmp/y && echo tmp-writable; chown 1 /tmp/y 2>/dev/null || echo no-chown; cat /proc/sys/net/ipv4/ip_unprivileged_port_start"]));
`,
    );
    const r = await runLading(["run", p.spec, "--store", p.store]);
    expect(r.stdout).toBe("root-read-only\ntmp-writable\nno-chown\n0\n");
    expect(r.code).toBe(0);
    const plan = await runLading(["plan", p.spec, "--store", p.store]);
    expect(plan.stdout).toContain('"org.lading.runtime":"{\\"capAdd\\":[\\"CAP_NET_ADMIN\\"],\\"capDrop\\":[\\"CAP_CHOWN\\"],\\"memory\\":67108864');
    const built = await runLading(["build", p.spec, "--store", p.store, "--out", `bundle:${p.dir}/bundle`]);
    expect(built.code).toBe(0);
    const config = JSON.parse(await fs.readFile(path.join(p.dir, "bundle", "config.json"), "utf8")) as {
      root: { readonly: boolean };
      mounts: Array<{ destination: string; type: string }>;
      process: { capabilities: { bounding: string[] } };
      linux: { resources: { memory?: { limit: number }; pids?: { limit: number } }; sysctl?: Record<string, string> };
    };
    expect(config.root.readonly).toBe(true);
    expect(config.mounts.filter((m) => m.type === "tmpfs" && m.destination === "/tmp")).toHaveLength(1);
    expect(config.process.capabilities.bounding).toContain("CAP_NET_ADMIN");
    expect(config.process.capabilities.bounding).not.toContain("CAP_CHOWN");
    expect(config.linux.resources.memory).toEqual({ limit: 67108864 });
    expect(config.linux.resources.pids).toEqual({ limit: 50 });
    expect(config.linux.sysctl).toEqual({ "net.ipv4.ip_unprivileged_port_start": "0" });
    // A flag overrides the image's 64m for one run: 48 MiB fits in 64m, not in 16m.
    const hog = await runLading(["run", p.spec, "--store", p.store, "--memory", "16m", "--", "/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null && echo allocated"]);
    expect(hog.stdout).toBe("");
    expect(hog.code).toBe(137);
    const roomy = await runLading(["run", p.spec, "--store", p.store, "--", "/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null && echo allocated"]);
    expect(roomy.stdout).toBe("allocated\n");
  });

  it("refuses an unknown capability at eval", () => {
    const r = evaluate("spec.ts", "img", pipe(Image.scratch, Image.withRuntime({ capabilities: { add: ["FLY"] } })));
    expect(E.isLeft(r) ? r.left.map(formatDiagnostic) : []).toEqual(['spec.ts: export "img", layer "runtime": unknown capability "FLY" to add\n  hint: e.g. "NET_ADMIN" or "CAP_NET_ADMIN"']);
  });
});

describe("an upper directory as a layer", () => {
  it("keeps a file's security.capability, bytes intact, as a PAX SCHILY.xattr record", async () => {
    const upper = path.join(work, "upper-caps");
    await fs.mkdir(path.join(upper, "bin"), { recursive: true });
    await fs.writeFile(path.join(upper, "bin", "ping"), "not really ping\n", { mode: 0o755 });
    // VFS_CAP_REVISION_2, cap_net_bind_service in the permitted set: 20 bytes, not UTF-8.
    const caps = "0x0100000200040000000000000000000000000000";
    await mustRun("setfattr", ["-n", "security.capability", "-v", caps, path.join(upper, "bin", "ping")]);
    const store = await openStore(path.join(work, "upper-caps-store"));
    const { layer, inputs } = await layerFromUpper(upper, "caps", "sha256:0000000000000000000000000000000000000000000000000000000000000000");
    expect([...layer.entries].find((e) => e.path === "/bin/ping")?.xattrs).toEqual({ "security.capability": Buffer.from(caps.slice(2), "hex").toString("base64") });
    const blob = await buildLayer(store, layer, inputs, { created: 0, format: layerFormat });
    const out = path.join(work, "upper-caps-out");
    await fs.mkdir(out);
    requireTool("tar");
    await mustRun("tar", ["--xattrs", "--xattrs-include=security.capability", "-xzf", store.blobPath(blob.digest), "-C", out]);
    const read = await mustRun("getfattr", ["--absolute-names", "-n", "security.capability", "-e", "hex", path.join(out, "bin", "ping")]);
    expect(read.stdout).toContain(`security.capability=${caps}`);
  });
});

describe("build --check", () => {
  it("runs every step again and shows which gave a different layer, and which files differ", async () => {
    const p = await project(
      "recheck",
      `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.withEnv({ PATH: "/bin" }),
  Image.runShell("echo stable > /stable", { name: "stable" }),
  Image.runShell("sleep 1; date > /built-at", { name: "dated" }));
`,
    );
    const r = await runLading(["build", p.spec, "--store", p.store, "--check"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^step stable: same layer$/m);
    expect(r.stdout).toMatch(/^step dated: a different layer when run again$/m);
    expect(r.stdout).toMatch(/^ +~ \/built-at +content/m);
    expect(r.stdout).not.toContain("/stable ");
  });
});

describe("bad steps are refused at eval", () => {
  const problems = (image: Image.Image): string[] => {
    const r = evaluate("spec.ts", "img", image);
    return E.isLeft(r) ? r.left.map(formatDiagnostic) : [];
  };

  it("names export and step for each mistake", () => {
    expect(problems(pipe(Image.scratch, Image.run("make install" as unknown as string[], { name: "build" })))).toEqual([
      'spec.ts: export "img", layer "build": the command must be a non-empty array of strings (exec form), got "make install"\n  hint: e.g. Image.run(["make", "install"]) or Image.runShell("make && make install")',
    ]);
    expect(problems(pipe(Image.scratch, Image.run(["make"], { workingDir: "src" as "/src" })))).toEqual([
      'spec.ts: export "img", layer "run-1": the working directory must be an absolute in-image path, got "src"\n  hint: e.g. "/src"',
    ]);
    expect(problems(pipe(Image.scratch, Image.run(["true"]), Image.run(["make"], { mounts: [{ _tag: "Tmpfs", target: "/tmp" } as unknown as Mount.Mount] })))).toEqual([
      'spec.ts: export "img", layer "run-2": unknown mount type "Tmpfs"\n  hint: make mounts with Mount.bind, Mount.cache or Mount.secret',
    ]);
    expect(problems(pipe(Image.scratch, Image.run(["true"], { limits: { memory: "lots" } })))).toEqual([
      'spec.ts: export "img", layer "run-1": memory must be bytes or a size such as "512m", got "lots"',
    ]);
  });

  it("captures the image config where the step is, as a Dockerfile RUN does", () => {
    const r = evaluate("spec.ts", "img", pipe(Image.scratch, Image.withEnv({ A: "1" }), Image.withWorkingDir("/w"), Image.run(["true"]), Image.withEnv({ A: "2" }), Image.withWorkingDir("/x")));
    if (E.isLeft(r)) throw new Error(r.left.map(formatDiagnostic).join("\n"));
    const step = r.right.layers[0]!;
    expect(step._tag === "Run" ? [step.config.Env, step.config.WorkingDir] : undefined).toEqual([["A=1"], "/w"]);
    expect(r.right.config.Env).toEqual(["A=2"]);
  });

  it("plan --json shows the step with its command and key", async () => {
    const p = await project("plan", `export const img = pipe(Image.scratch, Image.withLayer(tools), Image.run(["/bin/echo", "hi"], { name: "hi", user: "1000:1000", workingDir: "/src" }));\n`);
    const r = await runLading(["plan", p.spec, "--json", "--store", p.store]);
    expect(r.code).toBe(0);
    const plan = decodedPlan(r.stdout);
    expect(plan.layers[1]).toMatchObject({ name: "hi", entries: [], run: { argv: ["/bin/echo", "hi"], user: "1000:1000", workingDir: "/src", network: "none", mounts: [], env: [] } });
    expect(plan.layers[1]!.cacheKey).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
