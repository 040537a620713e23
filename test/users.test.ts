/**
 * Layers that read the image below them: `Layer.derived` on the spec's own layers (what
 * it read is in the plan and its cache key), and `users()` on a Debian-like base pulled
 * from a real registry, whose /etc/passwd and /etc/group it adds to, read back by umoci
 * and by BusyBox's `id` under podman.
 */
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Entry, Image, Layer, pipe } from "../src/index.ts";
import { users } from "../stdlib/index.ts";
import type { Digest } from "../src/core/index.ts";
import { digestOf, formatDiagnostic, parseReference } from "../src/core/index.ts";
import { evaluate } from "../src/eval/index.ts";
import type { BaseLayer, Host, PlannedBase } from "../src/plan/index.ts";
import { nodeHost, planImage } from "../src/plan/index.ts";
import { layerFormat } from "../src/build/index.ts";
import { baseLayerFetcher, resolveBase } from "../src/registry/index.ts";
import { openStore } from "../src/store/index.ts";
import { mustRun, REPO, runLading } from "./support/cli.ts";
import type { Registry } from "./support/registry.ts";
import { startRegistry } from "./support/registry.ts";
import { PODMAN_RUN, requireTool } from "./support/tools.ts";
import { walkRootfs } from "./support/rootfs.ts";

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), "lading-users-"));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Evaluates and plans `image`; the diagnostics as text on failure. */
const planOf = async (image: Image.Image, opts: { readonly host?: Host; readonly base?: PlannedBase } = {}) => {
  const ir = evaluate("spec.ts", "app", image);
  if (E.isLeft(ir)) return E.left(ir.left.map(formatDiagnostic));
  const planned = await planImage(opts.host ?? nodeHost(), ir.right, { file: "spec.ts", specDir: work, created: 0, format: layerFormat, ...(opts.base === undefined ? {} : { base: opts.base }) });
  return E.isLeft(planned) ? E.left(planned.left.map(formatDiagnostic)) : E.right(planned.right);
};

const mustPlan = async (image: Image.Image, opts: { readonly host?: Host; readonly base?: PlannedBase } = {}) => {
  const r = await planOf(image, opts);
  if (E.isLeft(r)) throw new Error(r.left.join("\n"));
  return r.right;
};

type Planned = Awaited<ReturnType<typeof mustPlan>>;

/** The text of the file `p` of layer `name`, from the plan's inline content. */
const fileText = (planned: Planned, name: string, p: string): string | undefined => {
  const e = [...(planned.plan.layers.find((l) => l.name === name)?.entries ?? [])].find((x) => x.path === p);
  const bytes = e?.type === "file" ? planned.inputs.inline.get(e.digest) : undefined;
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
};

describe("Layer.derived", () => {
  const etc = (motd: string) => Layer.make("etc", [Entry.file("/etc/motd", motd), Entry.symlink("/etc/issue", "motd")]);
  const shout = Layer.derived("shout", (below) => [Entry.file("/etc/motd.upper", (below.readText("/etc/issue") ?? "nothing\n").toUpperCase())]);

  it("reads the layers below it through their symlinks, and the plan records what it read", async () => {
    const planned = await mustPlan(pipe(Image.scratch, Image.withLayers(etc("hi\n"), shout)));
    expect(fileText(planned, "shout", "/etc/motd.upper")).toBe("HI\n");
    expect(planned.plan.layers[1]!.reads).toEqual([{ path: "/etc/issue", stat: { type: "file", mode: 0o644, uid: 0, gid: 0, size: 3 }, digest: digestOf("hi\n") }]);
    expect(planned.plan.layers[0]!.reads).toBeUndefined();
  });

  it("gets another cache key when a file it read changes, and sees what a whiteout removed as absent", async () => {
    const hi = await mustPlan(pipe(Image.scratch, Image.withLayers(etc("hi\n"), shout)));
    const ho = await mustPlan(pipe(Image.scratch, Image.withLayers(etc("ho\n"), shout)));
    expect(ho.plan.layers[0]!.cacheKey).not.toBe(hi.plan.layers[0]!.cacheKey);
    expect(ho.plan.layers[1]!.cacheKey).not.toBe(hi.plan.layers[1]!.cacheKey);
    const removed = await mustPlan(pipe(Image.scratch, Image.withLayers(etc("hi\n"), Layer.make("trim", [Entry.remove("/etc/motd")]), shout)));
    expect(fileText(removed, "shout", "/etc/motd.upper")).toBe("NOTHING\n");
    expect(removed.plan.layers[2]!.reads).toEqual([{ path: "/etc/issue" }]);
  });

  it("cannot come after a run step, and a failure names its layer", async () => {
    const afterStep = await planOf(pipe(Image.scratch, Image.runShell("true", { name: "step" }), Image.withLayer(shout)));
    expect(afterStep).toEqual(
      E.left(['spec.ts: export "app", layer "shout": a derived layer cannot come after a run step: what the step makes is known only once it has run\n  hint: move the derived layer below the step, or make the change in a run step']),
    );
    const failing = Layer.derived("broken", (below) => {
      if (!below.exists("/etc/config")) throw new Error("no /etc/config below");
      return [];
    });
    expect(await planOf(pipe(Image.scratch, Image.withLayer(failing)))).toEqual(E.left(['spec.ts: export "app", layer "broken": deriving entries failed: no /etc/config below']));
  });
});

/** A base whose layers the plain host cannot read: it has no way to fetch them. */
const unreadableBase: PlannedBase = {
  reference: "registry.example.com/base:1",
  pinned: digestOf("index"),
  digest: digestOf("manifest"),
  config: {},
  history: [],
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf("layer"), size: 5, diffId: digestOf("tar") }],
};

describe("Layer.derived on a base plan cannot read", () => {
  it("is an error naming the layer and the base", async () => {
    const copy = Layer.derived("copy", (below) => [Entry.file("/etc/issue.copy", below.readFile("/etc/issue") ?? new Uint8Array())]);
    expect(await planOf(pipe(Image.pull("registry.example.com/base:1"), Image.withLayer(copy)), { base: unreadableBase })).toEqual(
      E.left(["spec.ts: export \"app\", layer \"copy\": reading the image below (docker://registry.example.com/base:1): this plan cannot read the base image's layers"]),
    );
  });
});

describe("checks that read a base this plan cannot read", () => {
  it("leave a named USER unchecked and make the WORKDIR, each with a warning, and fail nothing", async () => {
    const planned = await mustPlan(pipe(Image.pull("registry.example.com/base:1"), Image.withUser("www"), Image.withWorkingDir("/app")), { base: unreadableBase });
    expect(planned.plan.layers.map((l) => l.name)).toEqual(["workdir"]);
    const warnings = (planned.warnings ?? []).map(formatDiagnostic);
    expect(warnings.some((w) => w.includes("user www is not checked"))).toBe(true);
    expect(warnings.some((w) => w.includes("the working directory /app is made by a layer of its own"))).toBe(true);
  });
});

describe("users() over an archive's account files", () => {
  it("reads them from the archive, as the image will hold them", async () => {
    const dir = path.join(work, "archived");
    await fs.mkdir(path.join(dir, "tree", "etc"), { recursive: true });
    await fs.writeFile(path.join(dir, "tree", "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nbin:x:2:2::/bin:/bin/false\n");
    await fs.writeFile(path.join(dir, "tree", "etc", "group"), "root:x:0:\nbin:x:2:\n");
    await mustRun("tar", ["-cf", path.join(dir, "acct.tar"), "-C", path.join(dir, "tree"), "etc"]);
    await fs.writeFile(
      path.join(dir, "lading.ts"),
      `import { Entry, Image, Layer, pipe } from "lading";
import { users } from "lading/stdlib";

export const app = pipe(Image.scratch, Image.withLayer(Layer.make("acct", [Entry.archive("./acct.tar", "/")])), Image.withLayer(users([{ name: "app", uid: 1000 }])));
`,
    );
    const store = path.join(work, "archived-store");
    const r = await runLading(["build", path.join(dir, "lading.ts"), "--no-check", "--store", store, "--out", `oci:${path.join(dir, "oci")}`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rootfs = path.join(dir, "rootfs");
    await mustRun("umoci", ["raw", "unpack", "--rootless", "--image", path.join(dir, "oci"), rootfs]);
    expect(readFileSync(path.join(rootfs, "etc", "passwd"), "utf8")).toBe("root:x:0:0:root:/root:/bin/sh\nbin:x:2:2::/bin:/bin/false\napp:x:1000:1000::/:/bin/sh\n");
  });
});

describe("users() on the spec's own layers", () => {
  it("writes root and the users when nothing below has account files, as it always has", async () => {
    const planned = await mustPlan(pipe(Image.scratch, Image.withLayer(users([{ name: "www", uid: 1000 }])), Image.withUser("www")));
    expect(fileText(planned, "users", "/etc/passwd")).toBe("root:x:0:0::/root:/bin/sh\nwww:x:1000:1000::/:/bin/sh\n");
    expect(fileText(planned, "users", "/etc/group")).toBe("root:x:0:\nwww:x:1000:\n");
    expect([...planned.plan.layers[0]!.entries].map((e) => e.path)).toEqual(["/etc", "/etc/group", "/etc/passwd"]);
  });

  const accounts = Layer.make("accounts", [
    Entry.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nwww:x:1000:1000::/:/bin/sh\n"),
    Entry.file("/etc/group", "root:x:0:\nshadow:x:42:\nwww:x:1000:\nstaff:x:50:\n"),
    Entry.file("/etc/shadow", "root:*:19000:0:99999:7:::\n", { mode: 0o640, gid: 42 }),
  ]);

  it("adds to the files below, keeping their lines, mode and owner; the same account again adds nothing", async () => {
    const planned = await mustPlan(pipe(Image.scratch, Image.withLayers(accounts, users([{ name: "www", uid: 1000 }, { name: "app", uid: 1001, gid: 50, home: "/app" }]))));
    expect(fileText(planned, "users", "/etc/passwd")).toBe("root:x:0:0:root:/root:/bin/bash\nwww:x:1000:1000::/:/bin/sh\napp:x:1001:50::/app:/bin/sh\n");
    // gid 50 given: app joins staff, and gets no group of its own.
    expect(fileText(planned, "users", "/etc/group")).toBe("root:x:0:\nshadow:x:42:\nwww:x:1000:\nstaff:x:50:\n");
    expect(fileText(planned, "users", "/etc/shadow")).toBe("root:*:19000:0:99999:7:::\napp:!::0:99999:7:::\n");
    const shadow = [...planned.plan.layers[1]!.entries].find((e) => e.path === "/etc/shadow")!;
    expect([shadow.mode, shadow.uid, shadow.gid]).toEqual([0o640, 0, 42]);
    expect(planned.plan.layers[1]!.reads?.map((r) => `${r.path} ${r.digest ?? r.stat?.type ?? "absent"}`)).toEqual([
      "/etc/group " + digestOf("root:x:0:\nshadow:x:42:\nwww:x:1000:\nstaff:x:50:\n"),
      "/etc/gshadow absent",
      "/etc/passwd " + digestOf("root:x:0:0:root:/root:/bin/bash\nwww:x:1000:1000::/:/bin/sh\n"),
      "/etc/shadow " + digestOf("root:*:19000:0:99999:7:::\n"),
    ]);
  });

  it("starts the file below lacks with root, and keeps the root of the one it has", async () => {
    const passwdOnly = Layer.make("passwd", [Entry.file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")]);
    const planned = await mustPlan(pipe(Image.scratch, Image.withLayers(passwdOnly, users([{ name: "www", uid: 1000 }]))));
    expect(fileText(planned, "users", "/etc/passwd")).toBe("root:x:0:0:root:/root:/bin/bash\nwww:x:1000:1000::/:/bin/sh\n");
    expect(fileText(planned, "users", "/etc/group")).toBe("root:x:0:\nwww:x:1000:\n");
  });

  it("refuses a name or an id the files below give another account, naming it", async () => {
    expect(await planOf(pipe(Image.scratch, Image.withLayers(accounts, users([{ name: "www", uid: 1002 }]))))).toEqual(
      E.left(['spec.ts: export "app", layer "users": deriving entries failed: user www is already in /etc/passwd, as "www:x:1000:1000::/:/bin/sh"']),
    );
    expect(await planOf(pipe(Image.scratch, Image.withLayers(accounts, users([{ name: "web", uid: 1000 }]))))).toEqual(
      E.left(['spec.ts: export "app", layer "users": deriving entries failed: uid 1000 of user web is already www\'s in /etc/passwd']),
    );
    expect(await planOf(pipe(Image.scratch, Image.withLayers(accounts, users([{ name: "web", uid: 42 }]))))).toEqual(
      E.left(['spec.ts: export "app", layer "users": deriving entries failed: gid 42 of user web is already group shadow\'s in /etc/group: give the gid explicitly to join that group']),
    );
  });
});

describe("users() on a Debian-like base pulled from a registry", () => {
  let registry: Registry;
  let store: string;
  const passwdMaster = readFileSync("/usr/share/base-passwd/passwd.master", "utf8");
  const groupMaster = readFileSync("/usr/share/base-passwd/group.master", "utf8");
  const shadowOf = (passwd: string): string =>
    passwd
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => `${l.split(":")[0]}:*:19000:0:99999:7:::\n`)
      .join("");

  /** A project directory with lading installed as a dependency. */
  const project = async (name: string, files: Readonly<Record<string, string>>): Promise<string> => {
    const dir = path.join(work, name);
    await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
    await fs.symlink(REPO, path.join(dir, "node_modules", "lading"));
    for (const [f, text] of Object.entries(files)) await fs.writeFile(path.join(dir, f), text);
    return path.join(dir, "lading.ts");
  };

  const mustLading = async (args: ReadonlyArray<string>): Promise<string> => {
    const r = await runLading(args);
    if (r.code !== 0) throw new Error(`lading ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  };

  const baseRef = (tag: string): string => `${registry.host}/debianlike:${tag}`;

  beforeAll(async () => {
    requireTool("skopeo");
    registry = await startRegistry(path.join(work, "registry"));
    store = path.join(work, "store");
    // Debian's own account files (base-passwd's masters, which debootstrap installs as
    // /etc/passwd and /etc/group), a shadow file as Debian has it, and a gshadow that
    // an upper layer of the base removes.
    const spec = await project("base", {
      "passwd.1": passwdMaster,
      "passwd.2": `${passwdMaster}extra:x:5000:5000::/:/bin/sh\n`,
      group: groupMaster,
      "lading.ts": `import { Entry, Image, Layer, pipe } from "lading";
import { busybox } from "lading/stdlib";

const base = (passwd: string) =>
  pipe(
    Image.scratch,
    Image.withLayers(
      busybox({ source: "/bin/busybox", applets: ["sh", "id", "cat"] }),
      Layer.make("etc", [
        Entry.copy(passwd, "/etc/passwd"),
        Entry.copy("group", "/etc/group"),
        Entry.file("/etc/shadow", ${JSON.stringify(shadowOf(passwdMaster))}, { mode: 0o640, gid: 42 }),
        Entry.file("/etc/gshadow", "root:*::\\n", { mode: 0o640, gid: 42 }),
      ]),
      Layer.make("trim", [Entry.remove("/etc/gshadow")]),
    ),
    Image.withEnv({ PATH: "/bin" }),
  );

export const one = base("passwd.1");
export const two = base("passwd.2");
`,
    });
    for (const tag of ["one", "two"]) {
      const layout = path.join(work, `base-${tag}`);
      await mustLading(["build", `${spec}#${tag}`, "--store", store, "--out", `oci:${layout}:latest`]);
      await mustRun("skopeo", ["copy", "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${baseRef(tag)}`]);
    }
  });

  afterAll(async () => {
    await registry?.stop();
  });

  const appSpec = (tag: string, user: string): string => `import { Image, pipe } from "lading";
import { users } from "lading/stdlib";

export const app = pipe(
  Image.pull("${baseRef(tag)}"),
  Image.withLayer(users([{ name: "app", uid: 1000, home: "/home/app", createHome: true }])),
  Image.withUser("${user}"),
  Image.withCmd(["/bin/id"]),
);
`;

  it("keeps every line of the base's files and adds the new ones, as umoci and id read them", async () => {
    requireTool("umoci");
    const spec = await project("app", { "lading.ts": appSpec("one", "app") });
    const plan = await mustLading(["plan", spec, "--store", store]);
    expect(plan).toContain(`  reads /etc/passwd (${digestOf(passwdMaster)})`);
    expect(plan).toContain("  reads /etc/gshadow (absent)");
    const layout = path.join(work, "app-layout");
    const digest = await mustLading(["build", spec, "--store", store, "--out", `oci:${layout}:x`]);
    const bundle = path.join(work, "app-bundle");
    await mustRun("umoci", ["unpack", "--image", `${layout}:x`, bundle]);
    const rootfs = path.join(bundle, "rootfs");
    expect(passwdMaster.split("\n").length - 1).toBe(18);
    expect(groupMaster.split("\n").length - 1).toBe(38);
    expect(await fs.readFile(path.join(rootfs, "etc/passwd"), "utf8")).toBe(`${passwdMaster}app:x:1000:1000::/home/app:/bin/sh\n`);
    expect(await fs.readFile(path.join(rootfs, "etc/group"), "utf8")).toBe(`${groupMaster}app:x:1000:\n`);
    expect(await fs.readFile(path.join(rootfs, "etc/shadow"), "utf8")).toBe(`${shadowOf(passwdMaster)}app:!::0:99999:7:::\n`);
    const tree = await walkRootfs(rootfs);
    expect(tree.has("/etc/gshadow")).toBe(false);
    expect([tree.get("/etc/shadow")!.mode, tree.get("/etc/shadow")!.gid]).toEqual([0o640, 42]);
    expect([tree.get("/home/app")!.mode, tree.get("/home/app")!.uid]).toEqual([0o750, 1000]);

    requireTool("podman");
    const archive = path.join(work, "app.tar");
    expect(await mustLading(["build", spec, "--store", store, "--out", `docker-archive:${archive}:localhost/lading-users-app:1`])).toBe(digest);
    await mustRun("podman", ["load", "-q", "-i", archive]);
    expect((await mustRun("podman", [...PODMAN_RUN, "localhost/lading-users-app:1"])).stdout).toBe("uid=1000(app) gid=1000(app) groups=1000(app)\n");
    // A base account and a base group, by name: the base's lines are all there.
    expect((await mustRun("podman", [...PODMAN_RUN, "localhost/lading-users-app:1", "/bin/id", "daemon"])).stdout).toBe("uid=1(daemon) gid=1(daemon) groups=1(daemon)\n");
    expect((await mustRun("podman", [...PODMAN_RUN, "--user", "app:tty", "localhost/lading-users-app:1"])).stdout).toMatch(/^uid=1000\(app\) gid=5\(tty\)/);
  });

  it("refuses, when the image is planned, a user the base does not have, and accepts one it has", async () => {
    const ghost = await project("ghost", { "lading.ts": appSpec("one", "ghost") });
    const r = await runLading(["plan", ghost, "--store", store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`export "app": user "ghost" is not in the image's /etc/passwd`);
    const nobody = await project("nobody", { "lading.ts": appSpec("one", "nobody:nogroup") });
    expect((await runLading(["plan", nobody, "--store", store])).code).toBe(0);
  });

  it("reads only the base layers a path leads to, and a changed base file changes the layer's key", async () => {
    const s = await openStore(path.join(work, "api-store"));
    const opened: Digest[] = [];
    const inner = nodeHost(undefined, baseLayerFetcher(s, { env: {} }));
    const counting: Host = {
      ...inner,
      readBaseLayer: (base: PlannedBase, layer: BaseLayer, wanted: ReadonlySet<string>) => {
        opened.push(layer.digest);
        return inner.readBaseLayer(base, layer, wanted);
      },
    };
    const keyOn = async (tag: string) => {
      const ref = parseReference(baseRef(tag));
      if (E.isLeft(ref)) throw new Error(ref.left);
      const base = await resolveBase(s, ref.right, undefined, undefined, { env: {} });
      opened.length = 0;
      const image = pipe(Image.pull(baseRef(tag) as `${string}/${string}`), Image.withLayer(users([{ name: "app", uid: 1000 }])), Image.withUser("app"));
      const planned = await mustPlan(image, { host: counting, base });
      // busybox, etc, trim: /etc/passwd and its neighbours are found in trim and etc,
      // each read once; the busybox layer is never opened.
      expect(opened).toEqual([base.layers[2]!.digest, base.layers[1]!.digest]);
      return planned.plan.layers[0]!;
    };
    const one = await keyOn("one");
    const two = await keyOn("two");
    expect(one.reads?.find((r) => r.path === "/etc/passwd")?.digest).toBe(digestOf(passwdMaster));
    expect(two.reads?.find((r) => r.path === "/etc/passwd")?.digest).toBe(digestOf(`${passwdMaster}extra:x:5000:5000::/:/bin/sh\n`));
    expect(two.cacheKey).not.toBe(one.cacheKey);
  });

  it("makes the working directory only when neither the spec nor the base has it", async () => {
    const s = await openStore(path.join(work, "api-store"));
    const ref = parseReference(baseRef("one"));
    if (E.isLeft(ref)) throw new Error(ref.left);
    const base = await resolveBase(s, ref.right, undefined, undefined, { env: {} });
    const host = nodeHost(undefined, baseLayerFetcher(s, { env: {} }));
    const layersWith = async (dir: `/${string}`) =>
      (await mustPlan(pipe(Image.pull(baseRef("one") as `${string}/${string}`), Image.withLayer(Layer.make("app", [Entry.file("/app/x", "x")])), Image.withWorkingDir(dir)), { host, base })).plan.layers.map((l) => l.name);
    expect(await layersWith("/etc")).toEqual(["app"]);
    expect(await layersWith("/srv/data")).toEqual(["app", "workdir"]);
  });
});
