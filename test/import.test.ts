/**
 * `lading import`: a corpus of Dockerfiles of varied styles (test/fixtures/dockerfile),
 * each translated and compared with its golden spec. The RUN-free ones are committed as
 * the lading.ts beside their Dockerfile, type check, and build to the same files, modes,
 * owners and config as buildah builds from the Dockerfile, compared with `lading diff`.
 * The others (RUN, COPY --from) are golden text until run steps land. Regenerate with:
 *
 *   UPDATE_GOLDEN=1 npx vitest run test/import.test.ts
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, REPO, runLading } from "./support/cli.ts";
import { decodedPlan } from "./support/plan.ts";
import { expectGolden } from "./support/golden.ts";
import { requireTool } from "./support/tools.ts";

const CORPUS = "test/fixtures/dockerfile";
/** Built by lading and by buildah, and compared. */
const BUILT = ["static-site", "config-only"];
/** Translated and type checked. */
const RUN_FREE = [...BUILT, "escapes"];
/** Translated and type checked, with run steps. */
const WITH_RUN = ["node-app", "python-service"];

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-import-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const importCase = async (name: string): Promise<{ readonly code: string; readonly warnings: string }> => {
  const r = await runLading(["import", `${CORPUS}/${name}/Dockerfile`]);
  expect(r.code).toBe(0);
  return { code: `${r.stdout.trimEnd()}\n`, warnings: r.stderr };
};

/** The committed spec is the golden output: rewritten under UPDATE_GOLDEN=1. */
const expectSpec = async (name: string, code: string): Promise<void> => {
  const file = path.join(REPO, CORPUS, name, "lading.ts");
  if (process.env["UPDATE_GOLDEN"] === "1") await fs.writeFile(file, code);
  expect(code).toBe(await fs.readFile(file, "utf8"));
};

describe("lading import", () => {
  it.each(RUN_FREE)("translates %s into the committed spec", async (name) => {
    const { code, warnings } = await importCase(name);
    expect(warnings).toBe("");
    await expectSpec(name, code);
  });

  it("writes specs that type check", async () => {
    const check = await runLading(["check", ...RUN_FREE.map((name) => `${CORPUS}/${name}/lading.ts`)]);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
  });

  it.each(WITH_RUN)("translates %s, RUN and COPY --from included, and warns about what it could not", async (name) => {
    const { code, warnings } = await importCase(name);
    await expectGolden("import", `${name}.txt`, code);
    await expectGolden("import", `${name}.warnings.txt`, warnings);
    if (name === "python-service") {
      // An untranslatable line: a comment with its line number, and a warning naming it.
      expect(code).toContain("// line 11: ADD https://example.com/tool.tar.gz /opt/  (of a URL without --checksum cannot be pinned: add --checksum=sha256:");
      expect(warnings).toContain(`${CORPUS}/python-service/Dockerfile:11: warning: ADD of a URL without --checksum cannot be pinned`);
    }
  });

  it("writes specs with run steps and multi-stage copies that type check", async () => {
    const dir = path.join(work, "with-run");
    await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
    const files: string[] = [];
    for (const name of WITH_RUN) {
      const file = path.join(dir, `${name}.ts`);
      await fs.writeFile(file, (await importCase(name)).code);
      files.push(file);
    }
    const check = await runLading(["check", ...files]);
    // Warnings (a step that opts into the network) may come; no error may.
    expect(check.stderr).not.toMatch(/error/i);
    expect(check.code).toBe(0);
  });

  it("follows Docker's escape directive, quotes and continuations", async () => {
    const plan = await runLading(["plan", `${CORPUS}/escapes/lading.ts`, "--json", "--store", path.join(work, "store")]);
    expect(plan.code).toBe(0);
    const { config } = decodedPlan(plan.stdout);
    expect(config.Env).toEqual(["DIR=C:\\data", 'MESSAGE=a "quoted" word', "PRICE=5"]);
    expect(config.Labels).toEqual({ description: "multi line" });
    expect(config.Cmd).toEqual(["/bin/sh", "-c", "echo $MESSAGE"]);
  });
});

describe("an imported spec against buildah", () => {
  it.each(BUILT)("%s: lading and buildah build the same files, modes, owners and config", async (name) => {
    requireTool("buildah");
    const dir = path.join(REPO, CORPUS, name);
    const ours = path.join(work, `lading-${name}`);
    const built = await runLading(["build", `${CORPUS}/${name}/lading.ts`, "--store", path.join(work, "store"), "--out", `oci:${ours}:x`]);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    const theirs = path.join(work, `buildah-${name}.tar`);
    const storage = ["--storage-driver", "vfs", "--root", path.join(work, "buildah", "root"), "--runroot", path.join(work, "buildah", "runroot")];
    // The docker format (and archive) keeps the HEALTHCHECK, which buildah leaves out of
    // an OCI config.
    await mustRun("buildah", [...storage, "bud", "-q", "--format", "docker", "--timestamp", "0", "-f", "Dockerfile", "-t", `localhost/lading-import-${name}`, "."], { cwd: dir });
    await mustRun("buildah", [...storage, "push", "-q", `localhost/lading-import-${name}`, `docker-archive:${theirs}`]);
    const d = await runLading(["diff", `docker-archive:${theirs}`, `oci:${ours}:x`, "--format", "json"]);
    const diff = JSON.parse(d.stdout) as { files: unknown[]; config: { field: string }[]; annotations: { field: string }[] };
    expect(diff.files).toEqual([]);
    // What buildah adds of its own: the Docker config's empty fields and a hostname, its
    // version label, and where the Dockerfile sets none, a default PATH and an empty
    // Entrypoint.
    const dockerFormat = ["AttachStderr", "AttachStdin", "AttachStdout", "Domainname", "Hostname", "Image", "OnBuild", "OpenStdin", "StdinOnce", "Tty"];
    const buildahOnly = [...dockerFormat, "Labels.io.buildah.version", ...(name === "config-only" ? ["Env.PATH", "Entrypoint"] : [])];
    expect(diff.config.map((c) => c.field).sort()).toEqual(buildahOnly.sort());
    expect(diff.annotations).toEqual([]);
  });
});
