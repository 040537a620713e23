/**
 * Building on a base image, as data: how the base's config and the spec's combine, which
 * parent directories a layer on a base carries, what an image pulling a base evaluates
 * to, and the lock file's format. No registry here: pull.test.ts runs the real one.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { digestOf, formatDiagnostic } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import type { PlannedBase } from "../src/plan/index.ts";
import { mergeConfig, nodeHost, planImage } from "../src/plan/index.ts";
import { layerFormat } from "../src/build/index.ts";
import { formatLock, readLock } from "../src/registry/index.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-base-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const baseConfig = {
  Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
  Entrypoint: ["/docker-entrypoint.sh"],
  Cmd: ["nginx", "-g", "daemon off;"],
  WorkingDir: "/srv",
  User: "nginx",
  ExposedPorts: { "80/tcp": {} },
  Labels: { maintainer: "base", version: "1" },
  StopSignal: "SIGQUIT",
  Healthcheck: { Test: ["CMD", "true"] },
};

describe("the config of an image on a base", () => {
  it("is the base's when the spec changes nothing, unknown fields included", () => {
    expect(mergeConfig(baseConfig, {})).toEqual({ ...baseConfig, Env: ["LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin"] });
  });

  it("merges Env and Labels, adds ports and volumes, and replaces the rest", () => {
    const merged = mergeConfig(baseConfig, {
      Env: ["APP=1", "PATH=/app/bin"],
      Labels: { version: "2" },
      ExposedPorts: { "8080/tcp": {} },
      Volumes: { "/data": {} },
      WorkingDir: "/app",
      User: "1000",
      Cmd: ["serve"],
    });
    expect(merged).toMatchObject({
      Env: ["APP=1", "LANG=C.UTF-8", "PATH=/app/bin"],
      Labels: { maintainer: "base", version: "2" },
      ExposedPorts: { "80/tcp": {}, "8080/tcp": {} },
      Volumes: { "/data": {} },
      WorkingDir: "/app",
      User: "1000",
      Entrypoint: ["/docker-entrypoint.sh"],
      Cmd: ["serve"],
      StopSignal: "SIGQUIT",
    });
  });

  it("drops the base's Cmd when the spec sets an Entrypoint alone, as a Dockerfile does", () => {
    const merged = mergeConfig(baseConfig, { Entrypoint: ["/app/run"] });
    expect(merged.Entrypoint).toEqual(["/app/run"]);
    expect("Cmd" in merged).toBe(false);
    expect(mergeConfig(baseConfig, { Entrypoint: ["/app/run"], Cmd: ["--port", "80"] }).Cmd).toEqual(["--port", "80"]);
  });

  it("leaves out the nulls some images write for an unset Cmd or Entrypoint", () => {
    const merged = mergeConfig({ Cmd: null, Entrypoint: null, Env: ["A=1"] }, {});
    expect(merged).toEqual({ Env: ["A=1"] });
  });
});

const fakeBase: PlannedBase = {
  reference: "registry.example.com/base:1",
  pinned: digestOf("index"),
  digest: digestOf("manifest"),
  config: { Env: ["PATH=/bin"] },
  history: [{ created_by: "base layer" }],
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf("layer"), size: 5, diffId: digestOf("tar") }],
};

describe("a layer on a base", () => {
  it("carries no parent directory the spec does not make, and keeps those its layers make", async () => {
    const image = pipe(
      Image.pull("registry.example.com/base:1"),
      Image.withLayers(
        Layer.make("dirs", [Entry.directory("/opt/app", { mode: 0o750, uid: 10, gid: 10 })]),
        Layer.make("files", [Entry.file("/opt/app/bin/run", "#!/bin/sh\n"), Entry.file("/usr/local/share/note", "hi\n")]),
      ),
    );
    const ir = evaluate("spec.ts", "app", image);
    if (E.isLeft(ir)) throw new Error(ir.left.map(formatDiagnostic).join("\n"));
    expect(ir.right.base).toEqual({ host: "registry.example.com", repository: "base", tag: "1", digest: undefined });
    const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat, base: fakeBase });
    if (E.isLeft(planned)) throw new Error(planned.left.map(formatDiagnostic).join("\n"));
    const [dirs, files] = planned.right.plan.layers;
    // /opt is the base's business; /opt/app is the spec's own.
    expect([...dirs!.entries].map((e) => e.path)).toEqual(["/opt/app"]);
    // /opt/app, made by a lower layer, is written again with what that layer made of it;
    // /opt/app/bin, which no layer of the spec makes, may be in the base (directories
    // merge), so it is left to the base, like /usr/local/share and above.
    expect([...files!.entries].map((e) => `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}`)).toEqual([
      "dir /opt/app 750 10",
      "file /opt/app/bin/run 644 0",
      "file /usr/local/share/note 644 0",
    ]);
    expect(planned.right.plan.annotations).toEqual({
      "org.opencontainers.image.base.name": "registry.example.com/base:1",
      "org.opencontainers.image.base.digest": fakeBase.digest,
    });
    expect(planned.right.plan.config).toEqual({ Env: ["PATH=/bin"] });
  });

  it("gets a different cache key than the same layer on scratch, whose parents are written", async () => {
    const layer = Layer.make("files", [Entry.file("/usr/local/share/note", "hi\n")]);
    const plan = async (image: Image.Image, base?: PlannedBase) => {
      const ir = evaluate("spec.ts", "app", image);
      if (E.isLeft(ir)) throw new Error("eval failed");
      const planned = await planImage(nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat, ...(base === undefined ? {} : { base }) });
      if (E.isLeft(planned)) throw new Error("plan failed");
      return planned.right.plan.layers[0]!;
    };
    const onScratch = await plan(pipe(Image.scratch, Image.withLayer(layer)));
    const onBase = await plan(pipe(Image.pull("registry.example.com/base:1"), Image.withLayer(layer)), fakeBase);
    expect([...onScratch.entries].map((e) => e.path)).toEqual(["/usr", "/usr/local", "/usr/local/share", "/usr/local/share/note"]);
    expect([...onBase.entries].map((e) => e.path)).toEqual(["/usr/local/share/note"]);
    expect(onBase.cacheKey).not.toBe(onScratch.cacheKey);
  });
});

describe("lading.lock", () => {
  it("is sorted JSON with one pin a line, and reads back to the same pins", async () => {
    const pins = new Map([
      ["registry.example.com/z:1", digestOf("z")],
      ["docker.io/library/debian:bookworm-slim", digestOf("d")],
    ]);
    const text = formatLock(pins);
    expect(text).toBe(
      `{\n  "lockVersion": 1,\n  "pins": {\n    "docker.io/library/debian:bookworm-slim": "${digestOf("d")}",\n    "registry.example.com/z:1": "${digestOf("z")}"\n  }\n}\n`,
    );
    expect(JSON.parse(text)).toEqual({ lockVersion: 1, pins: Object.fromEntries(pins) });
    const file = path.join(work, "lading.lock");
    await fs.writeFile(file, text);
    expect(await readLock(file, "lading.lock")).toEqual(new Map([...pins].sort()));
    expect(await readLock(path.join(work, "none.lock"), "none.lock")).toBeUndefined();
  });

  it("refuses a pin that is not a digest, naming the file", async () => {
    const file = path.join(work, "bad.lock");
    await fs.writeFile(file, `{"lockVersion": 1, "pins": {"registry.example.com/a:1": "latest"}}`);
    await expect(readLock(file, "bad.lock")).rejects.toThrow(/bad\.lock.*invalid pin/s);
  });
});
