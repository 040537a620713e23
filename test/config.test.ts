/**
 * The config a Dockerfile user expects: env values that build on earlier ones (the base's
 * included), a working directory that exists, a user and a stop signal checked when the
 * image is planned, a healthcheck, and deletions of a lower layer's files.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { digestOf, expandTemplate, formatDiagnostic, substituteKnown } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import type { PlannedBase } from "../src/plan/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { layerFormat } from "../src/build/index.ts";
import { mustRun, run, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import { requireTool } from "./support/tools.ts";
import { walkRootfs } from "./support/rootfs.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-config-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const baseWith = (config: Record<string, unknown>): PlannedBase => ({
  reference: "registry.example.com/base:1",
  pinned: digestOf("index"),
  digest: digestOf("manifest"),
  config,
  history: [],
  layers: [],
});

/** Evaluates and plans an image; the diagnostics, formatted, when either fails. */
export const planOf = async (image: Image.Image, base?: PlannedBase) => {
  const ir = evaluate("spec.ts", "app", image);
  if (E.isLeft(ir)) return E.left(ir.left.map(formatDiagnostic));
  const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat, ...(base === undefined ? {} : { base }) });
  return E.isLeft(planned) ? E.left(planned.left.map(formatDiagnostic)) : E.right(planned.right);
};

const mustPlan = async (image: Image.Image, base?: PlannedBase) => {
  const r = await planOf(image, base);
  if (E.isLeft(r)) throw new Error(r.left.join("\n"));
  return r.right;
};

describe("env templates", () => {
  it("expand $NAME, ${NAME}, :- and :+, and keep \\$ and unknown references for later", () => {
    const known = { A: "1", EMPTY: "" };
    expect(substituteKnown("$A-${A}-${EMPTY:-d}-${A:+alt}-${B}-\\$A-$ 5", known)).toBe("1-1-d-alt-${B}-\\$A-$ 5");
    expect(substituteKnown("${B:-$A}", known)).toBe("${B:-1}");
    expect(expandTemplate("${B}x\\$A${C:-c}", new Map([["B", "b"]]))).toEqual({ value: "bx$Ac", unset: [] });
    expect(expandTemplate("$NOPE/bin", new Map())).toEqual({ value: "/bin", unset: ["NOPE"] });
  });

  it("a value sees the env before its withEnv call, as a Dockerfile's ENV does", async () => {
    const plan = await mustPlan(
      pipe(Image.scratch, Image.withEnv({ A: "1" }), Image.withEnv({ A: "2", B: "$A" }), Image.withEnv({ A: "3" }), Image.withEnv({ PRICE: "\\$5" })),
    );
    expect(plan.plan.config.Env).toEqual(["A=3", "B=1", "PRICE=$5"]);
    expect(plan.warnings).toEqual([]);
  });

  it("builds on a base's value, expanded when the image is planned", async () => {
    const image = pipe(
      Image.pull("registry.example.com/base:1"),
      Image.withEnv({ PATH: "/opt/a/bin:$PATH" }),
      Image.withEnvPrepended({ PATH: "/opt/b/bin" }),
      Image.withEnvAppended({ MANPATH: "/opt/man" }),
    );
    const plan = await mustPlan(image, baseWith({ Env: ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"] }));
    expect(plan.plan.config.Env).toEqual(["LANG=C.UTF-8", "MANPATH=/opt/man", "PATH=/opt/b/bin:/opt/a/bin:/usr/bin:/bin"]);
  });

  it("warns, naming the variable, when a reference names what nothing sets", async () => {
    const plan = await mustPlan(pipe(Image.scratch, Image.withEnv({ PATH: "/opt/bin:$PATH" })));
    expect(plan.plan.config.Env).toEqual(["PATH=/opt/bin:"]);
    expect((plan.warnings ?? []).map(formatDiagnostic)).toEqual([
      'spec.ts: export "app": warning: environment variable PATH refers to $PATH, which the spec does not set: it expands to nothing\n  hint: set PATH first, or escape the $ with a backslash for a literal one ("\\\\$" in a string literal)',
    ]);
  });
});

describe("the working directory", () => {
  it("is made by a layer of its own when no layer of the spec makes it, as WORKDIR does", async () => {
    const plan = await mustPlan(pipe(Image.scratch, Image.withLayer(Layer.make("workdir", [Entry.file("/a", "a")])), Image.withWorkingDir("/srv/app")));
    expect(plan.plan.layers.map((l) => `${l.name}: ${[...l.entries].map((e) => `${e.type} ${e.path} ${e.mode.toString(8)}`).join(", ")}`)).toEqual([
      "workdir: file /a 644",
      "workdir-2: dir /srv 755, dir /srv/app 755",
    ]);
    expect(plan.plan.layers[1]!.comment).toBe("WORKDIR /srv/app");
  });

  it("adds nothing when a layer makes it", async () => {
    const plan = await mustPlan(pipe(Image.scratch, Image.withLayer(Layer.make("app", [Entry.file("/app/run", "x")])), Image.withWorkingDir("/app")));
    expect(plan.plan.layers.map((l) => l.name)).toEqual(["app"]);
  });
});

describe("the user and the stop signal, checked when the image is planned", () => {
  const etc = Layer.make("etc", [Entry.file("/etc/passwd", "root:x:0:0::/root:/bin/sh\nwww:x:1000:1000::/:/bin/sh\n"), Entry.file("/etc/group", "root:x:0:\nwww:x:1000:\n")]);

  it("refuses a user or group the image's files lack, naming it", async () => {
    expect(await planOf(pipe(Image.scratch, Image.withLayer(etc), Image.withUser("nobody")))).toEqual(
      E.left(['spec.ts: export "app": user "nobody" is not in the image\'s /etc/passwd\n  hint: add it there, or give a numeric id']),
    );
    expect(await planOf(pipe(Image.scratch, Image.withLayer(etc), Image.withUser("www:staff")))).toEqual(
      E.left(['spec.ts: export "app": group "staff" is not in the image\'s /etc/group\n  hint: add it there, or give a numeric id']),
    );
    expect(await planOf(pipe(Image.scratch, Image.withUser("www")))).toEqual(
      E.left(['spec.ts: export "app": user "www" is not in the image: no layer holds /etc/passwd\n  hint: add it (users([...]) from lading/stdlib writes both files), or give a numeric id']),
    );
  });

  // A name on a pulled base is read from the base's layers: users.test.ts, with a registry.
  it("accepts a listed name, and any number without reading a base's files", async () => {
    expect(E.isRight(await planOf(pipe(Image.scratch, Image.withLayer(etc), Image.withUser("www:www"))))).toBe(true);
    expect(E.isRight(await planOf(pipe(Image.scratch, Image.withUser("4242:4242"))))).toBe(true);
    // This base's layers cannot be read (plan's host has no registry): a number needs none.
    expect(E.isRight(await planOf(pipe(Image.pull("registry.example.com/base:1"), Image.withUser("4242")), baseWith({})))).toBe(true);
  });

  it("refuses a signal Linux does not have", async () => {
    expect(await planOf(pipe(Image.scratch, Image.withStopSignal("SIGFOO")))).toEqual(
      E.left(['spec.ts: export "app": unknown stop signal "SIGFOO"\n  hint: use a Linux signal name such as "SIGTERM", "SIGQUIT" or "SIGRTMIN+3"']),
    );
    const plan = await mustPlan(pipe(Image.scratch, Image.withStopSignal("SIGRTMIN+3")));
    expect(plan.plan.config.StopSignal).toBe("SIGRTMIN+3");
  });
});

describe("the healthcheck", () => {
  it("is written in Docker's config form, durations in nanoseconds", async () => {
    const exec = await mustPlan(pipe(Image.scratch, Image.withHealthcheck(["/bin/check", "-q"], { interval: "30s", timeout: "500ms", startPeriod: "1m", retries: 3 })));
    expect(exec.plan.config.Healthcheck).toEqual({ Test: ["CMD", "/bin/check", "-q"], Interval: 30e9, Timeout: 5e8, StartPeriod: 60e9, Retries: 3 });
    const shell = await mustPlan(pipe(Image.scratch, Image.withHealthcheckShell("wget -q -O- localhost || exit 1")));
    expect(shell.plan.config.Healthcheck).toEqual({ Test: ["CMD-SHELL", "wget -q -O- localhost || exit 1"] });
    const none = await mustPlan(pipe(Image.pull("registry.example.com/base:1"), Image.withoutHealthcheck), baseWith({ Healthcheck: { Test: ["CMD", "true"] } }));
    expect(none.plan.config.Healthcheck).toEqual({ Test: ["NONE"] });
  });

  it("refuses a duration that is not one", async () => {
    const bad = pipe(Image.scratch, Image.withHealthcheck(["/bin/check"], { interval: "0s" }));
    expect(await planOf(bad)).toEqual(E.left(['spec.ts: export "app": healthcheck: invalid interval "0s"\n  hint: a duration of at least 1ms, such as "30s", "500ms" or "2m"']));
  });
});

describe("the healthcheck, as podman reads it", () => {
  it("comes back from a docker archive loaded into podman", async () => {
    requireTool("podman");
    const archive = path.join(work, "healthy.tar");
    const name = "localhost/lading-test-healthcheck:1";
    const built = await runLading(["build", "test/fixtures/config/healthcheck.ts", "--store", path.join(work, "store"), "--out", `docker-archive:${archive}:${name}`]);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    await mustRun("podman", ["load", "-q", "-i", archive]);
    try {
      const inspected = await mustRun("podman", ["image", "inspect", "--format", "{{json .HealthCheck}}", name]);
      expect(JSON.parse(inspected.stdout)).toEqual({ Test: ["CMD", "/bin/check", "--quick"], Interval: 5e9, Timeout: 2e9, Retries: 2 });
    } finally {
      await run("podman", ["rmi", "-f", name]);
    }
  });
});

describe("removing what lower layers hold", () => {
  const SPEC = "test/fixtures/config/remove.ts";

  it("plans whiteouts as the OCI files they are, and the unpacked image lacks what they remove", async () => {
    requireTool("umoci");
    const store = path.join(work, "store");
    const plan = await runLading(["plan", `${SPEC}#after`, "--json", "--store", store]);
    expect(plan.code).toBe(0);
    const layers = decodedPlan(plan.stdout).layers;
    expect([...layers[1]!.entries].map((e) => `${e.type} ${e.path} ${e.mode.toString(8)}`)).toEqual([
      "dir /etc 755",
      "file /etc/.wh.a 644",
      "dir /srv 755",
      "dir /srv/old 750",
      "file /srv/old/.wh..wh..opq 644",
      "file /srv/old/new 644",
    ]);
    const out = path.join(work, "removed");
    expect((await runLading(["build", `${SPEC}#after`, "--store", store, "--out", `oci:${out}:x`])).code).toBe(0);
    const bundle = path.join(work, "removed-bundle");
    await mustRun("umoci", ["unpack", "--image", `${out}:x`, bundle]);
    const tree = await walkRootfs(path.join(bundle, "rootfs"));
    expect([...tree.keys()].sort()).toEqual(["/etc", "/etc/b", "/srv", "/srv/old", "/srv/old/new"]);
    expect(tree.get("/srv/old")!.mode).toBe(0o750);
  });

  it("shows in lading diff as files removed", async () => {
    const d = await runLading(["diff", `${SPEC}#before`, `${SPEC}#after`, "--format", "json", "--store", path.join(work, "store")]);
    expect(d.code).toBe(1);
    const files = (JSON.parse(d.stdout) as { files: { path: string; change: string }[] }).files;
    expect(files.map((f) => `${f.change} ${f.path}`)).toEqual(["removed /etc/a", "changed /srv/old", "added /srv/old/new", "removed /srv/old/sub", "removed /srv/old/sub/y", "removed /srv/old/x"]);
  });
});
