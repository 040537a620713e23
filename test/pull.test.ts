/**
 * Base images from a registry: `Image.pull` resolved at plan time, layers fetched only
 * for outputs that need their bytes (and mounted for a push to the same registry),
 * lading.lock and `--frozen`, and `lading copy`, all against the real registry started
 * here on 127.0.0.1, with a base image skopeo pushed in Docker's media types.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, REPO, run, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import type { Registry } from "./support/registry.ts";
import { startRegistry } from "./support/registry.ts";
import { PODMAN_RUN, requireTool } from "./support/tools.ts";
import { validateOciLayout } from "./support/validate.ts";

let work: string;
let registry: Registry;
/** The hello example as an OCI layout, and its digest. */
let helloLayout: string;
let helloDigest: string;
/** The site example, the image a moved tag points to. */
let siteLayout: string;

const DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

/** A project directory with a spec and lading installed as a dependency. */
const project = async (name: string, spec: string): Promise<string> => {
  const dir = path.join(work, name);
  await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
  await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
  await fs.writeFile(path.join(dir, "lading.ts"), spec);
  return path.join(dir, "lading.ts");
};

const appSpec = (base: string): string => `import { Entry, Image, Layer, pipe } from "lading";

export const app = pipe(
  Image.pull("${base}"),
  Image.withLayer(Layer.make("app", [Entry.file("/app/note.txt", "built on a pulled base\\n")])),
  Image.withCmd(["/app/note.txt", "/etc/greeting"]),
  Image.withEnv({ APP: "1" }),
);
`;

const storeBlobs = async (store: string): Promise<ReadonlyArray<string>> =>
  (await fs.readdir(path.join(store, "blobs", "sha256")).catch(() => [] as string[])).map((h) => `sha256:${h}`);

const skopeoDigest = async (ref: string): Promise<string> =>
  (JSON.parse((await mustRun("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`])).stdout) as { Digest: string }).Digest;

const mustLading = async (args: ReadonlyArray<string>): Promise<string> => {
  const r = await runLading(args);
  if (r.code !== 0) throw new Error(`lading ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
};

beforeAll(async () => {
  requireTool("skopeo");
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-pull-"));
  registry = await startRegistry(path.join(work, "registry"));
  const store = path.join(work, "examples-store");
  helloLayout = path.join(work, "hello");
  siteLayout = path.join(work, "site");
  helloDigest = await mustLading(["build", "examples/hello/lading.ts", "--store", store, "--out", `oci:${helloLayout}:latest`]);
  await mustLading(["build", "examples/site/lading.ts", "--store", store, "--out", `oci:${siteLayout}:latest`]);
});

afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

describe("Image.pull", () => {
  it("builds on a base skopeo pushed, downloading its layers only for outputs that need them", async () => {
    const base = `${registry.host}/library/hello:1`;
    await mustRun("skopeo", ["copy", "--dest-tls-verify=false", "--format", "v2s2", `oci:${helloLayout}:latest`, `docker://${base}`]);
    const spec = await project("lazy", appSpec(base));
    const store = path.join(work, "lazy-store");

    // Plan: the base's manifest and config, its layers named, none downloaded.
    const plan = decodedPlan(await mustLading(["plan", spec, "--json", "--store", store]));
    if (plan.base === undefined) throw new Error("the plan names no base");
    expect(plan.base.reference).toBe(base);
    expect(plan.base.layers.map((l) => l.mediaType)).toEqual([DOCKER_GZIP, DOCKER_GZIP]);
    const baseLayers: ReadonlyArray<string> = plan.base.layers.map((l) => l.digest);
    expect((await storeBlobs(store)).filter((d) => baseLayers.includes(d))).toEqual([]);
    // The config is the base's, changed by the spec: Entrypoint, PATH and the label
    // come from the base; Cmd is replaced; APP is added.
    expect(plan.config).toMatchObject({ Entrypoint: ["/bin/cat"], Cmd: ["/app/note.txt", "/etc/greeting"], Env: ["APP=1", "PATH=/bin"], Labels: { "org.opencontainers.image.title": "hello" } });
    expect(plan.annotations["org.opencontainers.image.base.name"]).toBe(base);
    // /app is not in the base: no entry for it, so the base keeps what it has and a
    // runtime makes what it lacks.
    expect([...plan.layers[0]!.entries].map((e) => e.path)).toEqual(["/app/note.txt"]);

    // A push to the same registry mounts the base layers: still none downloaded.
    const target = `${registry.host}/team/app:1`;
    const digest = await mustLading(["build", spec, "--store", store, "--out", `docker://${target}`]);
    expect((await storeBlobs(store)).filter((d) => baseLayers.includes(d))).toEqual([]);
    expect(await skopeoDigest(target)).toBe(digest);
    requireTool("podman");
    await mustRun("podman", ["pull", "-q", "--tls-verify=false", `docker://${target}`]);
    const ran = await mustRun("podman", [...PODMAN_RUN, target]);
    expect(ran.stdout).toBe("built on a pulled base\nHello from lading!\n");

    // Outputs that hold the bytes fetch the base layers, verified, into the store; the
    // digest does not depend on where the image goes.
    const layout = path.join(work, "lazy-oci");
    const archive = path.join(work, "lazy.tar");
    expect(await mustLading(["build", spec, "--store", store, "--out", `oci:${layout}:app`, "--out", `docker-archive:${archive}:localhost/pulled-app:1`])).toBe(digest);
    expect((await storeBlobs(store)).filter((d) => baseLayers.includes(d)).sort()).toEqual([...baseLayers].sort());
    // What each base layer unpacks to is recorded with it, found as it downloaded: the
    // diff_id its config gives, so no later write reads the layer again to check it.
    for (const l of plan.base.layers) {
      const record = JSON.parse(await fs.readFile(path.join(store, "unpacked", `${l.digest.slice(7)}.gzip.json`), "utf8")) as { diffId: string };
      expect(record.diffId).toBe(l.diffId);
    }
    const { inspection } = await validateOciLayout(layout, "app");
    expect(inspection.layers).toHaveLength(3);
    const manifest = JSON.parse(await fs.readFile(path.join(layout, "blobs", "sha256", digest.slice(7)), "utf8")) as { layers: Array<{ mediaType: string }>; annotations: Record<string, string> };
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([OCI_GZIP, OCI_GZIP, OCI_GZIP]);
    expect(manifest.annotations["org.opencontainers.image.base.digest"]).toBe(await skopeoDigest(base));
    await mustRun("podman", ["load", "-q", "-i", archive]);
    expect((await mustRun("podman", [...PODMAN_RUN, "localhost/pulled-app:1"])).stdout).toBe("built on a pulled base\nHello from lading!\n");

    // A runtime bundle holds the base's files and the spec's, and runc runs it.
    const bundle = path.join(work, "lazy-bundle");
    expect(await mustLading(["build", spec, "--store", store, "--out", `bundle:${bundle}`])).toBe(digest);
    requireTool("runc");
    const ran2 = await run("runc", ["run", "--bundle", bundle, `lading-pull-${process.pid}`]);
    expect(ran2.stderr).toBe("");
    expect(ran2.stdout).toBe("built on a pulled base\nHello from lading!\n");

    // The spec and the image built from it are the same to diff, base files included.
    const same = await runLading(["diff", spec, `oci:${layout}:app`, "--store", store]);
    expect(same.stderr).toBe("");
    expect(same.code).toBe(0);
    const files = JSON.parse((await runLading(["diff", `oci:${helloLayout}:latest`, spec, "--format", "json", "--store", store])).stdout) as { files: Array<{ path: string; change: string }> };
    expect(files.files.map((f) => `${f.change} ${f.path}`)).toEqual(["added /app/note.txt"]);

    // Two specs on that base: the base is read once for both, and only what is above it differs.
    const variant = await project("pulled-variant", appSpec(base).replace('"built on a pulled base\\n"', '"built on a pulled base, again\\n"'));
    const twoSpecs = await runLading(["diff", spec, variant, "--store", store, "--no-check"]);
    expect(twoSpecs.stderr).toBe("");
    expect(twoSpecs.stdout).toMatch(/^  ~ \/app\/note\.txt\b/m);
    expect(twoSpecs.stdout).not.toMatch(/\/etc\/greeting/);
    expect(twoSpecs.code).toBe(1);
    const sameSpecs = await runLading(["diff", spec, await project("pulled-same", appSpec(base)), "--store", store, "--no-check"]);
    expect(sameSpecs.stdout).toContain("no differences");
    expect(sameSpecs.code).toBe(0);
  });

  it("needs no registry once the lock pins the base and the store has it", async () => {
    const own = await startRegistry(path.join(work, "own-registry"));
    const base = `${own.host}/library/hello:1`;
    const spec = await project("offline", appSpec(base));
    const store = path.join(work, "offline-store");
    let digest: string;
    try {
      await mustLading(["copy", `oci:${helloLayout}:latest`, `docker://${base}`, "--store", store]);
      await mustLading(["lock", spec, "--store", store]);
      digest = await mustLading(["build", spec, "--frozen", "--store", store, "--out", `oci:${path.join(work, "offline-1")}`]);
    } finally {
      await own.stop();
    }
    // The registry is gone: the pin and the store are enough.
    expect(await mustLading(["build", spec, "--frozen", "--store", store, "--out", `oci:${path.join(work, "offline-2")}`])).toBe(digest);
    // Without the lock the tag must be asked for, and the registry says nothing.
    await fs.rm(path.join(path.dirname(spec), "lading.lock"));
    const r = await runLading(["build", spec, "--store", store, "--out", `oci:${path.join(work, "offline-3")}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`docker://${base}`);
    expect(r.stderr).not.toContain("internal error");
  });
});

describe("lading.lock", () => {
  it("pins the base of an image the export takes files from, so a frozen multi-stage build needs no tag", async () => {
    const base = `${registry.host}/library/stage:one`;
    await mustRun("skopeo", ["copy", "--dest-tls-verify=false", `oci:${helloLayout}:latest`, `docker://${base}`]);
    const spec = await project(
      "stages",
      `import { Entry, Image, Layer, pipe } from "lading";

const stage = Image.pull("${base}");
export const app = pipe(Image.scratch, Image.withLayer(Layer.make("taken", [Entry.fromImage(stage, "/etc/greeting", "/greeting")])), Image.withCmd(["/greeting"]));
`,
    );
    const store = path.join(work, "stages-store");
    expect(await mustLading(["lock", spec, "--store", store])).toContain(`${base} sha256:`);
    const lock = await fs.readFile(path.join(path.dirname(spec), "lading.lock"), "utf8");
    expect(lock).toContain(base);
    const digest = await mustLading(["build", spec, "--frozen", "--store", store, "--out", `oci:${path.join(work, "stages-out")}`]);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("keeps a frozen build's digest when the tag moves, until the lock is renewed", async () => {
    const base = `${registry.host}/library/moving:stable`;
    await mustRun("skopeo", ["copy", "--dest-tls-verify=false", `oci:${helloLayout}:latest`, `docker://${base}`]);
    const spec = await project("locked", appSpec(base));
    const lock = path.join(path.dirname(spec), "lading.lock");
    const store = path.join(work, "locked-store");
    const out = (n: number): string => `oci:${path.join(work, `locked-${n}`)}`;

    // --frozen without a lock file: refused, saying what to run.
    const none = await runLading(["build", spec, "--frozen", "--store", store, "--out", out(0)]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("--frozen needs lading.lock");
    expect(none.stderr).toContain("lading lock");

    const locked = await mustLading(["lock", spec, "--store", store]);
    expect(locked).toBe(`${base} ${helloDigest} (new)`);
    expect(await fs.readFile(lock, "utf8")).toBe(`{\n  "lockVersion": 1,\n  "pins": {\n    "${base}": "${helloDigest}"\n  }\n}\n`);
    const before = await mustLading(["build", spec, "--frozen", "--store", store, "--out", out(1)]);

    // The tag moves to another image.
    await mustRun("skopeo", ["copy", "--dest-tls-verify=false", `oci:${siteLayout}:latest`, `docker://${base}`]);
    const moved = await skopeoDigest(base);
    expect(moved).not.toBe(helloDigest);
    expect(await mustLading(["build", spec, "--frozen", "--store", store, "--out", out(2)])).toBe(before);
    // A build without --frozen honours the pin too.
    expect(await mustLading(["build", spec, "--store", store, "--out", out(3)])).toBe(before);

    // Renewing the lock takes the new image, and says what changed.
    expect(await mustLading(["lock", spec, "--store", store])).toBe(`${base} ${moved} (was ${helloDigest})`);
    const after = await mustLading(["build", spec, "--frozen", "--store", store, "--out", out(4)]);
    expect(after).not.toBe(before);

    // A lock that does not pin the reference is stale: --frozen names it.
    await fs.writeFile(lock, `{\n  "lockVersion": 1,\n  "pins": {}\n}\n`);
    const stale = await runLading(["build", spec, "--frozen", "--store", store, "--out", out(5)]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`export "app"`);
    expect(stale.stderr).toContain(`${base} is not pinned`);
    // A lock file that is not one: an error naming it, not a crash.
    await fs.writeFile(lock, "{ not json");
    const broken = await runLading(["build", spec, "--store", store, "--out", out(6)]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("lading.lock");
    expect(broken.stderr).not.toContain("internal error");
  });
});

describe("lading copy", () => {
  it("copies between layouts, archives and registries, keeping the digest, and mounts within a registry", async () => {
    const first = `${registry.host}/copies/hello:1`;
    const store = path.join(work, "copy-store");
    expect(await mustLading(["copy", `oci:${helloLayout}:latest`, `docker://${first}`, "--store", store])).toBe(helloDigest);
    expect(await skopeoDigest(first)).toBe(helloDigest);

    // Registry to registry on one host, with an empty store: the layers are mounted,
    // so only the manifest and config are fetched.
    const emptyStore = path.join(work, "copy-store-empty");
    const second = `${registry.host}/elsewhere/hello:2`;
    expect(await mustLading(["copy", `docker://${first}`, `docker://${second}`, "--store", emptyStore])).toBe(helloDigest);
    expect(await skopeoDigest(second)).toBe(helloDigest);
    expect(await storeBlobs(emptyStore)).toHaveLength(2);

    // Registry to a layout and to a docker archive podman loads.
    const layout = path.join(work, "copied");
    expect(await mustLading(["copy", `docker://${second}`, `oci:${layout}:hello`, "--store", emptyStore])).toBe(helloDigest);
    await validateOciLayout(layout, "hello");
    const archive = path.join(work, "copied.tar");
    await mustLading(["copy", `oci:${layout}:hello`, `docker-archive:${archive}:localhost/copied:1`, "--store", emptyStore]);
    requireTool("podman");
    await mustRun("podman", ["load", "-q", "-i", archive]);
    expect((await mustRun("podman", [...PODMAN_RUN, "localhost/copied:1"])).stdout).toBe("Hello from lading!\n");

    // A docker archive holds no manifest: the copy gets an OCI one that skopeo reads.
    const third = `${registry.host}/fromarchive/hello:3`;
    const fromArchive = await mustLading(["copy", `docker-archive:${archive}`, `docker://${third}`, "--store", store]);
    expect(await skopeoDigest(third)).toBe(fromArchive);

    const bad = await runLading(["copy", `oci:${layout}:nosuchtag`, `docker://${third}`, "--store", store]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`no image tagged "nosuchtag"`);
  });
});

describe("a multi-platform index", () => {
  it("gives each export the image for its platform, and says which platforms there are", async () => {
    const store = path.join(work, "index-store");
    // Two images of one spec, for two platforms, pushed by digest; then an index of both.
    const specs = await project(
      "platforms",
      `import { Entry, Image, Layer, Platform, pipe } from "lading";

const files = (arch: string) => Layer.make("files", [Entry.file("/arch", arch)]);
export const amd64 = pipe(Image.scratch, Image.withLayer(files("amd64")));
export const arm64 = pipe(Image.scratch, Image.withLayer(files("arm64")), Image.withPlatform(Platform.linuxArm64));
`,
    );
    const repo = `${registry.host}/multi/files`;
    const amd64 = await mustLading(["build", `${specs}#amd64`, "--store", store, "--out", `docker://${repo}:amd64`]);
    const arm64 = await mustLading(["build", `${specs}#arm64`, "--store", store, "--out", `docker://${repo}:arm64`]);
    const size = async (digest: string): Promise<number> => (await fs.stat(path.join(store, "blobs", "sha256", digest.slice(7)))).size;
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: amd64, size: await size(amd64), platform: { os: "linux", architecture: "amd64" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: arm64, size: await size(arm64), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ],
    });
    const put = await fetch(`http://${repo.replace(/^([^/]+)\//, "$1/v2/")}/manifests/both`, {
      method: "PUT",
      headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
      body: index,
    });
    expect(put.status).toBe(201);

    const spec = await project(
      "on-index",
      `import { Entry, Image, Layer, Platform, pipe } from "lading";

const note = Layer.make("note", [Entry.file("/note", "on the index")]);
export const onAmd64 = pipe(Image.pull("${repo}:both"), Image.withLayer(note));
export const onArm64 = pipe(Image.pull("${repo}:both"), Image.withLayer(note), Image.withPlatform(Platform.linuxArm64));
export const onS390x = pipe(Image.pull("${repo}:both"), Image.withLayer(note), Image.withPlatform(Platform.linux("s390x")));
`,
    );
    const base = async (exportName: string): Promise<{ digest: string; pinned: string } | undefined> =>
      decodedPlan(await mustLading(["plan", `${spec}#${exportName}`, "--json", "--store", store])).base;
    const indexDigest = `sha256:${createHash("sha256").update(index).digest("hex")}`;
    expect(await base("onAmd64")).toMatchObject({ digest: amd64, pinned: indexDigest });
    expect(await base("onArm64")).toMatchObject({ digest: arm64, pinned: indexDigest });
    const missing = await runLading(["plan", `${spec}#onS390x`, "--store", store]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`export "onS390x": docker://${repo}:both: the index has no image for linux/s390x`);
    expect(missing.stderr).toContain("it has: linux/amd64, linux/arm64/v8");
    // lading lock checks the pin serves every export's platform, and says which does not.
    const lockRun = await runLading(["lock", spec, "--store", store]);
    expect(lockRun.code).toBe(1);
    expect(lockRun.stderr).toContain("the index has no image for linux/s390x");
    // lading copy takes a platform from an index too.
    const layout = path.join(work, "arm64-copy");
    expect(await mustLading(["copy", `docker://${repo}:both`, `oci:${layout}:arm`, "--platform", "linux/arm64", "--store", store])).toBe(arm64);
    expect(await mustLading(["copy", `docker://${repo}:both`, `oci:${layout}:amd`, "--store", store])).toBe(amd64);
  });
});

describe("a base whose directories are symlinks", () => {
  it("gets the spec's files through them in a runtime bundle, as a container would", async () => {
    const store = path.join(work, "merged-usr-store");
    const baseSpec = await project(
      "merged-usr-base",
      `import { Entry, Image, Layer, pipe } from "lading";

export const base = pipe(
  Image.scratch,
  Image.withLayer(Layer.make("usr", [Entry.directory("/usr/lib"), Entry.file("/usr/lib/os-release", "ID=test\\n"), Entry.symlink("/lib", "usr/lib")])),
);
`,
    );
    const ref = `${registry.host}/library/merged-usr:1`;
    await mustLading(["build", baseSpec, "--store", store, "--out", `docker://${ref}`]);
    const spec = await project(
      "merged-usr-app",
      `import { Entry, Image, Layer, pipe } from "lading";

export const app = pipe(Image.pull("${ref}"), Image.withLayer(Layer.make("conf", [Entry.file("/lib/app.conf", "on the base\\n")])), Image.withCmd(["/bin/true"]));
`,
    );
    const bundle = path.join(work, "merged-usr-bundle");
    await mustLading(["build", spec, "--store", store, "--out", `bundle:${bundle}`]);
    const rootfs = path.join(bundle, "rootfs");
    expect(await fs.readlink(path.join(rootfs, "lib"))).toBe("usr/lib");
    expect(await fs.readFile(path.join(rootfs, "usr", "lib", "app.conf"), "utf8")).toBe("on the base\n");
    expect((await fs.readdir(path.join(rootfs, "usr", "lib"))).sort()).toEqual(["app.conf", "os-release"]);
  });
});

