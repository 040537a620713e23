/**
 * lading resolves as apt does: for each example's package set, the packages lading
 * chooses (name and version) are the ones `apt-get install --no-install-recommends`
 * would install into an empty root, simulated (`apt-get -s`) with a throwaway apt
 * directory that reads the same archive the host's apt sources name.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debianPackageHost, readAptSources, sourceForSuite } from "../src/deb/index.ts";
import { openStore } from "../src/store/index.ts";
import { mustRun } from "./support/cli.ts";
import { requireTool } from "./support/tools.ts";

const SETS: ReadonlyArray<ReadonlyArray<string>> = [
  ["base-files", "netbase", "tzdata", "ca-certificates", "libc6"],
  ["nginx"],
  ["redis-server"],
  ["python3", "python3-flask", "python3-redis", "python3-psycopg2"],
  ["postgresql-15"],
];

let root: string;
let aptOptions: string[];
/** One host for every set: the index is read once. */
let host: ReturnType<typeof debianPackageHost>;

beforeAll(async () => {
  requireTool("apt-get");
  root = await fs.mkdtemp(path.join(os.tmpdir(), "lading-apt-"));
  for (const d of ["etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial", "var/lib/dpkg", "var/cache/apt/archives/partial"]) await fs.mkdir(path.join(root, d), { recursive: true });
  await fs.writeFile(path.join(root, "var/lib/dpkg/status"), "");
  // The archive the host's apt sources give for bookworm: the one lading reads too.
  const source = sourceForSuite(await readAptSources(), "bookworm");
  await fs.writeFile(
    path.join(root, "etc/apt/sources.list.d/debian.sources"),
    `Types: deb\nURIs: ${source.uri}\nSuites: bookworm\nComponents: main\nSigned-By: ${source.signedBy ?? "/usr/share/keyrings/debian-archive-keyring.gpg"}\n`,
  );
  aptOptions = [
    `-oDir=${root}`,
    `-oDir::State::Status=${root}/var/lib/dpkg/status`,
    `-oDir::Cache=${root}/var/cache/apt`,
    "-oAPT::Architecture=amd64",
    "-oAPT::Architectures::=amd64",
    "-oDebug::NoLocking=1",
  ];
  await mustRun("apt-get", [...aptOptions, "-qq", "update"]);
  host = debianPackageHost(await openStore(path.join(root, "store")), { specDir: root });
}, 180_000);

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe("resolution agrees with apt-get", () => {
  it.each(SETS.map((s) => [s.join(" "), s] as const))("for %s", async (_name, names) => {
    const sim = await mustRun("apt-get", [...aptOptions, "-s", "install", "--no-install-recommends", ...names]);
    const apt = [...sim.stdout.matchAll(/^Inst (\S+) \((\S+) /gm)].map((m) => `${m[1]}=${m[2]}`).sort();
    const lading = (await host.resolve({ archive: { suite: "bookworm", components: ["main"], architecture: "amd64" }, packages: names.map((name) => ({ name })), essential: false }, []))
      .map((p) => `${p.name}=${p.version}`)
      .sort();
    expect(apt.length).toBeGreaterThan(names.length - 1);
    expect(lading).toEqual(apt);
  }, 120_000);
});
