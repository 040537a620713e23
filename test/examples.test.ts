/**
 * Every example is built, validated by lading's validator, oci-image-tool and skopeo,
 * unpacked by umoci and compared with its plan entry by entry, then loaded into podman
 * and run.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildPlan } from "../src/plan/index.ts";
import { mustRun, run, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import { PODMAN_RUN, requireTool } from "./support/tools.ts";
import { validateImage, validateOciLayout } from "./support/validate.ts";
import { expectedTree, treeOfLayers, walkRootfs } from "./support/rootfs.ts";

interface Example {
  readonly name: string;
  readonly spec: string;
  /** The export built, when it is not named like the example: the image's name in podman. */
  readonly exportName?: string;
  /** podman run arguments after the image, and what the container must print. */
  readonly run: { readonly args: ReadonlyArray<string>; readonly before?: ReadonlyArray<string>; readonly stdout: RegExp };
}

const EXAMPLES: ReadonlyArray<Example> = [
  { name: "hello", spec: "examples/hello/lading.ts", run: { args: [], stdout: /^Hello from lading!\n$/ } },
  {
    name: "site",
    spec: "examples/site/lading.ts",
    run: {
      before: ["--entrypoint", "/bin/sh"],
      // Start the image's own server as configured, then fetch the page from inside.
      args: ["-c", "id -un; httpd -p 8080 -h /srv/www; sleep 0.5; wget -qO- http://127.0.0.1:8080/index.html; wget -qO- http://127.0.0.1:8080/news.draft.html 2>/dev/null || echo draft-excluded"],
      stdout: /^www\n<!doctype html>[\s\S]*Shipped with lading[\s\S]*draft-excluded\n$/,
    },
  },
  {
    name: "multistage",
    spec: "examples/multistage/lading.ts#web",
    exportName: "web",
    run: {
      before: ["--entrypoint", "/bin/sh"],
      // The pages rendered in the build image are served; its tools are not there.
      args: ["-c", "httpd -p 8080 -h /srv/www; sleep 0.5; wget -qO- http://127.0.0.1:8080/about.html; test -e /bin/sed || echo no-build-tools"],
      stdout: /^<!doctype html><title>about<\/title><pre>\nA two-stage build[\s\S]*with &lt;none&gt; of the tools\.\n<\/pre>\nno-build-tools\n$/,
    },
  },
  {
    name: "users",
    spec: "examples/users/lading.ts",
    exportName: "app",
    run: { args: [], stdout: /^uid=1000\(app\) gid=1000\(app\) groups=1000\(app\)\ntotal 4\n-rw-r--r-- +1 1000 +1000 +30 .* greeting\nwritten by root, owned by app\n$/ },
  },
];

/** What a build with run steps prints on stderr besides nothing: each step and its output. */
const STEP_LINES = /^(?:step [a-z-]+: .*\n|[a-z-]+ \| .*\n)*$/;

let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-examples-"));
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe.each(EXAMPLES)("example $name", (example) => {
  let dir: string;
  let plan: BuildPlan;
  let digest: string;

  beforeAll(async () => {
    dir = path.join(work, example.name);
    await fs.mkdir(dir);
    const store = path.join(dir, "store");
    const planned = await runLading(["plan", example.spec, "--json", "--store", store]);
    expect(planned.stderr).toMatch(STEP_LINES);
    expect(planned.code).toBe(0);
    plan = decodedPlan(planned.stdout);
    const built = await runLading([
      "build",
      example.spec,
      "--store",
      store,
      "--out",
      `oci:${dir}/oci:${example.name}`,
      "--out",
      `docker-archive:${dir}/image.tar`,
      "--out",
      `oci-archive:${dir}/image-oci.tar:${example.name}`,
    ]);
    expect(built.stderr).toMatch(STEP_LINES);
    expect(built.code).toBe(0);
    digest = built.stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("passes lading's validator, oci-image-tool and skopeo", async () => {
    const { inspection, skopeo } = await validateOciLayout(`${dir}/oci`, example.name);
    expect(skopeo["Digest"]).toBe(digest);
    expect(inspection.layers.length).toBe(plan.layers.length);
    expect((skopeo["Layers"] as unknown[]).length).toBe(plan.layers.length);
    expect(skopeo["Architecture"]).toBe(plan.platform.architecture);
    expect(skopeo["Env"]).toEqual(plan.config.Env ?? null);
  });

  it("writes archives that lading and skopeo read back as the same image", async () => {
    for (const loc of [`docker-archive:${dir}/image.tar`, `oci-archive:${dir}/image-oci.tar:${example.name}`]) {
      const { inspection } = await validateImage(loc);
      expect(inspection.layers.length).toBe(plan.layers.length);
      requireTool("skopeo");
      const s = JSON.parse((await mustRun("skopeo", ["inspect", "--config", loc])).stdout) as { rootfs: { diff_ids: string[] } };
      const oci = JSON.parse((await mustRun("skopeo", ["inspect", "--config", `oci:${dir}/oci:${example.name}`])).stdout) as { rootfs: { diff_ids: string[] } };
      expect(s.rootfs.diff_ids).toEqual(oci.rootfs.diff_ids);
    }
  });

  it("unpacks with umoci to exactly the tree its plan declares", async () => {
    requireTool("umoci");
    const bundle = path.join(dir, "bundle");
    await mustRun("umoci", ["unpack", "--image", `${dir}/oci:${example.name}`, bundle]);
    const actual = await walkRootfs(path.join(bundle, "rootfs"));
    // A run step's files are known once it has run: they are read back from its layer.
    const expected = plan.layers.some((l) => l.run !== undefined) ? treeOfLayers((await validateImage(`oci:${dir}/oci:${example.name}`)).inspection.layers) : expectedTree(plan);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [p, e] of expected) expect({ path: p, ...actual.get(p) }).toEqual({ path: p, ...e });
    // The runtime config umoci generates carries the image's process.
    const config = JSON.parse(await fs.readFile(path.join(bundle, "config.json"), "utf8")) as { process: { args: string[]; env: string[] } };
    expect(config.process.args).toEqual([...(plan.config.Entrypoint ?? []), ...(plan.config.Cmd ?? [])]);
  });

  it("loads into podman and runs", async () => {
    requireTool("podman");
    const loaded = await mustRun("podman", ["load", "-q", "-i", `${dir}/image.tar`]);
    const name = `localhost/${example.exportName ?? example.name}:latest`;
    expect(loaded.stdout).toContain(name);
    try {
      const r = await run("podman", [...PODMAN_RUN, ...(example.run.before ?? []), name, ...example.run.args]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(example.run.stdout);
      expect(r.code).toBe(0);
    } finally {
      await run("podman", ["rmi", "-f", name]);
    }
  });
});
