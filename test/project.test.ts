/**
 * The README's "Use it in your project", run as it is written: lading packed with
 * `npm pack`, installed into a new project, `lading init`, and a build of the starter
 * spec named after the project.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, REPO, run, runLading } from "./support/cli.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-project-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** The shell lines of the README's block under "Use it in your project". */
const readmeBlock = async (): Promise<ReadonlyArray<string>> => {
  const readme = await fs.readFile(path.join(REPO, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Use it in your project"));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  if (m === null) throw new Error("README: no sh block under 'Use it in your project'");
  return m[1]!.split("\n").filter((l) => l.trim() !== "");
};

describe("lading in one's own project", () => {
  it("follows the README: npm install of the packed tarball, init, build", async () => {
    const packed = await mustRun("npm", ["pack", "--silent", "--pack-destination", work], { cwd: REPO });
    const tarball = path.join(work, packed.stdout.trim().split("\n").pop()!);
    const lines = await readmeBlock();
    expect(lines[1]).toBe("npm install /path/to/lading-0.1.0.tgz");
    const script = lines.map((l) => l.replace("/path/to/lading-0.1.0.tgz", tarball)).join(" && ");
    // The project knows nothing of this checkout: only the tarball and the npm cache.
    const r = await run("/bin/sh", ["-c", `set -e; ${script}`], { cwd: work, env: { npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(r.stdout.slice(r.stdout.lastIndexOf("[{"))) as { RepoTags: string[] }[];
    expect(manifest[0]!.RepoTags).toEqual(["localhost/my-app:latest"]);
    expect(await fs.readFile(path.join(work, "my-app", "lading.ts"), "utf8")).toContain('import { Entry, Image, Layer, pipe } from "lading";');
    const tsconfig = JSON.parse(await fs.readFile(path.join(work, "my-app", "tsconfig.json"), "utf8")) as { compilerOptions: { strict: boolean } };
    expect(tsconfig.compilerOptions.strict).toBe(true);
  }, 300_000);

  it("checks and builds a spec anywhere, with no lading installed beside it, against this lading", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lading-anywhere-"));
    try {
      const spec = `import { Entry, Image, Layer, pipe } from "lading";
import { users } from "lading/stdlib";

export const app = pipe(Image.scratch, Image.withLayer(Layer.make("hi", [Entry.file("/hi", "hi\\n")])), Image.withLayer(users([{ name: "app", uid: 1000 }])));
`;
      await fs.writeFile(path.join(dir, "lading.ts"), spec);
      // As CommonJS (no package.json), then as an ES module.
      for (const manifest of [undefined, JSON.stringify({ type: "module" })]) {
        if (manifest !== undefined) await fs.writeFile(path.join(dir, "package.json"), manifest);
        const checked = await runLading(["check", "lading.ts", "--store", path.join(dir, "store")], { cwd: dir });
        expect(checked.stderr).toBe("");
        expect(checked.code).toBe(0);
        const built = await runLading(["build", ".", "--no-check", "--store", path.join(dir, "store"), "--out", `oci:${path.join(dir, "oci")}`], { cwd: dir });
        expect(built.stderr).toBe("");
        expect(built.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      }
      // A type error is still one.
      await fs.writeFile(path.join(dir, "lading.ts"), spec.replace("uid: 1000", 'uid: "1000"'));
      const bad = await runLading(["check", "lading.ts", "--store", path.join(dir, "store")], { cwd: dir });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("lading.ts:4:");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
