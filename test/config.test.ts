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
import { Image, pipe } from "../src/index.ts";
import { digestOf, expandTemplate, formatDiagnostic, substituteKnown } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import type { PlannedBase } from "../src/plan/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { layerFormat } from "../src/build/index.ts";

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
