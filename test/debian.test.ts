/**
 * Debian packages as data: dpkg's version order (against dpkg itself), apt's resolution
 * over an index made here, control and sources parsing, and reading `.deb`s, hostile
 * ones included. The archive served over http is in debian-archive.test.ts.
 */
import { execFileSync } from "node:child_process";
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PackageRecord } from "../src/deb/index.ts";
import { compareVersions, DebError, makeIndex, parseDeb822Sources, parseOneLineSources, parseRelations, readDeb, resolve } from "../src/deb/index.ts";
import { debianPurl, declaredLicenses } from "../src/sbom/index.ts";
import { makeDeb } from "./support/debarchive.ts";

const dpkgOrder = (a: string, b: string): number => {
  const lt = (() => {
    try {
      execFileSync("dpkg", ["--compare-versions", a, "lt", b]);
      return true;
    } catch {
      return false;
    }
  })();
  if (lt) return -1;
  try {
    execFileSync("dpkg", ["--compare-versions", a, "eq", b]);
    return 0;
  } catch {
    return 1;
  }
};

describe("Debian versions", () => {
  it("order as deb-version(7) says", () => {
    const sorted = ["0~rc1", "0", "0.1", "0.1a", "0.1+b1", "0.9", "1.0~beta", "1.0", "1.0-1", "1.0-1+b1", "1.0-2", "1.0a", "1.01.1", "2", "10", "1:0.1"];
    for (let i = 0; i + 1 < sorted.length; i++) expect([sorted[i], Math.sign(compareVersions(sorted[i]!, sorted[i + 1]!))]).toEqual([sorted[i], -1]);
    expect(compareVersions("1.0", "1.00")).toBe(0);
    expect(compareVersions("0:1.0", "1.0")).toBe(0);
  });

  it("agree with dpkg --compare-versions on generated versions", () => {
    const part = fc.stringMatching(/^[0-9][0-9a-z.+~]{0,5}$/);
    const version = fc.tuple(fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), part, fc.option(fc.stringMatching(/^[0-9a-z.+~]{1,4}$/), { nil: undefined })).map(
      ([epoch, up, rev]) => `${epoch === undefined ? "" : `${epoch}:`}${up}${rev === undefined ? "" : `-${rev}`}`,
    );
    // Each pair runs dpkg twice: a few dozen pairs keep the suite fast.
    fc.assert(
      fc.property(version, version, (a, b) => Math.sign(compareVersions(a, b)) === dpkgOrder(a, b)),
      { numRuns: 40, seed: 20261202 },
    );
  });

  it("are a total order: antisymmetric and transitive", () => {
    const version = fc.stringMatching(/^([0-9]:)?[0-9][0-9a-z.+~]{0,4}(-[0-9a-z.+~]{1,3})?$/);
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        // Opposite signs, or both 0 (summed, so that 0 and -0 are one).
        expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0);
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 300, seed: 20261202 },
    );
  });
});

describe("control and sources", () => {
  it("reads relations with alternatives, versions and architecture qualifiers", () => {
    expect(parseRelations("libc6 (>= 2.34), python3:any | python3-minimal (<< 3.12), awk")).toEqual([
      [{ name: "libc6", relation: ">=", version: "2.34" }],
      [{ name: "python3", archQualifier: "any" }, { name: "python3-minimal", relation: "<<", version: "3.12" }],
      [{ name: "awk" }],
    ]);
  });

  it("reads apt's deb822 and one-line sources", () => {
    const deb822 = "Types: deb deb-src\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n";
    expect(parseDeb822Sources(deb822, "x.sources")).toEqual([
      { uri: "http://archive.example/debian", suites: ["bookworm", "bookworm-updates"], components: ["main", "contrib"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg", from: "x.sources" },
    ]);
    expect(parseOneLineSources("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main\ndeb-src http://a.example/debian bookworm main\n", "sources.list")).toEqual([
      { uri: "http://a.example/debian", suites: ["bookworm"], components: ["main"], signedBy: "/k.gpg", from: "sources.list" },
    ]);
  });
});

const rec = (name: string, version: string, fields: Partial<PackageRecord> = {}): PackageRecord => ({
  name,
  version,
  architecture: "amd64",
  multiArch: "no",
  essential: false,
  priority: "optional",
  depends: "",
  preDepends: "",
  provides: "",
  source: name,
  filename: `pool/main/${name}_${version}_amd64.deb`,
  sha256: `sha256:${"0".repeat(64)}`,
  size: 1,
  ...fields,
});

const names = (r: ReturnType<typeof resolve>): string[] => (E.isRight(r) ? r.right.packages.map((p) => `${p.name}=${p.version}`).sort() : [`error: ${r.left.package}: ${r.left.message}`]);

describe("resolution as apt does it", () => {
  const index = makeIndex("amd64", [
    rec("app", "1.0", { depends: "libfoo (>= 2), mail-transport-agent, awk | mawk, python3:any", preDepends: "libc6" }),
    rec("libfoo", "1.5"),
    rec("libfoo", "2.1", { depends: "libc6 (>= 2.36)" }),
    rec("libc6", "2.36-9", { multiArch: "same" }),
    rec("libc6", "2.31-1", { multiArch: "same" }),
    rec("exim4", "4.96", { provides: "mail-transport-agent", priority: "standard" }),
    rec("postfix", "3.7", { provides: "mail-transport-agent" }),
    rec("mawk", "1.3", { provides: "awk", priority: "required" }),
    rec("gawk", "5.2", { provides: "awk" }),
    rec("python3", "3.11", { multiArch: "allowed", architecture: "all" }),
    rec("base-files", "12", { essential: true }),
    rec("sh-a", "1", { depends: "sh-b" }),
    rec("sh-b", "1", { depends: "sh-a" }),
    rec("pre-a", "1", { preDepends: "pre-b" }),
    rec("pre-b", "1", { preDepends: "pre-a" }),
    rec("broken", "1", { depends: "missing (>= 1) | libfoo (>= 9)" }),
    rec("other-arch", "1", { architecture: "arm64" }),
  ]);

  it("takes the highest candidate meeting each constraint, virtual names through their best provider", () => {
    expect(names(resolve(index, [{ name: "app" }]))).toEqual(["app=1.0", "exim4=4.96", "libc6=2.36-9", "libfoo=2.1", "mawk=1.3", "python3=3.11"]);
  });

  it("takes an exact version when asked, and an installed package satisfies its dependents", () => {
    expect(names(resolve(index, [{ name: "libfoo", version: "1.5" }]))).toEqual(["libfoo=1.5"]);
    const installed = [rec("libc6", "2.36-9", { multiArch: "same" }), rec("postfix", "3.7", { provides: "mail-transport-agent" })];
    expect(names(resolve(index, [{ name: "app" }], { installed }))).toEqual(["app=1.0", "libfoo=2.1", "mawk=1.3", "python3=3.11"]);
  });

  it("adds Essential packages only when asked", () => {
    expect(names(resolve(index, [{ name: "libfoo", version: "1.5" }], { essential: true }))).toEqual(["base-files=12", "libfoo=1.5"]);
  });

  it("accepts a cycle of Depends, as apt does, and refuses one of Pre-Depends, naming the packages", () => {
    expect(names(resolve(index, [{ name: "sh-a" }]))).toEqual(["sh-a=1", "sh-b=1"]);
    const r = resolve(index, [{ name: "pre-a" }]);
    expect(E.isLeft(r) && r.left.message).toBe("a Pre-Depends cycle: pre-a -> pre-b -> pre-a; apt cannot order it either");
  });

  it("refuses what it cannot satisfy, naming the package and the dependency", () => {
    expect(names(resolve(index, [{ name: "broken" }]))).toEqual(["error: broken: broken 1 depends on missing (>= 1) | libfoo (>= 9), which no package of the archive satisfies"]);
    expect(names(resolve(index, [{ name: "other-arch" }]))).toEqual(["error: other-arch: no package other-arch in the archive for amd64"]);
    expect(names(resolve(index, [{ name: "libfoo", version: "3" }]))).toEqual(["error: libfoo: libfoo has no version 3 in the archive (it has 2.1, 1.5)"]);
    expect(names(resolve(index, [{ name: "awk" }]))).toEqual(["error: awk: awk is a virtual package provided by gawk, mawk: name one of them"]);
  });
});

describe("reading a .deb", () => {
  it("gives its control file and its entries with digests, absolute symlinks kept", async () => {
    const deb = await makeDeb({ name: "t", version: "1", files: [{ path: "usr/bin/t", content: "#!/bin/sh\n", mode: 0o755 }, { path: "bin/sh", symlink: "/usr/bin/t" }, { path: "usr/bin/t2", hardlink: "./usr/bin/t" }] });
    const c = await readDeb(deb);
    expect(c.control).toMatch(/^Package: t\nVersion: 1\n/);
    // Archive order, as the .deb holds them.
    expect([...c.entries].map((e) => [e.path, e.type, e.mode.toString(8), e.type === "file" ? e.digest : e.type === "dir" ? "" : e.target])).toEqual([
      ["/usr", "dir", "755", ""],
      ["/usr/bin", "dir", "755", ""],
      ["/usr/bin/t", "file", "755", `sha256:${sha256sum("#!/bin/sh\n")}`],
      ["/bin", "dir", "755", ""],
      ["/bin/sh", "symlink", "777", "/usr/bin/t"],
      ["/usr/bin/t2", "hardlink", "644", "/usr/bin/t"],
    ]);
  });

  it.each([
    ["a name with ..", [{ path: "usr/../../etc/passwd", content: "x" }], 'its data holds a name with .. "./usr/../../etc/passwd"'],
    ["an absolute name", [{ path: "/etc/passwd", content: "x" }], 'its data holds an absolute name "/etc/passwd"'],
    ["a write through its own symlink", [{ path: "usr/lib/x", symlink: "/etc" }, { path: "usr/lib/x/passwd", content: "x" }], "its data writes /usr/lib/x/passwd through its own symlink /usr/lib/x"],
    ["a hard link out of the package", [{ path: "usr/bin/t", hardlink: "../../etc/shadow" }], 'its hard link /usr/bin/t points to "../../etc/shadow", not a file before it in the package'],
  ])("refuses %s", async (_what, files, message) => {
    const deb = await makeDeb({ name: "evil", version: "1", files });
    const r = await readDeb(deb).then(() => "accepted", (e: unknown) => (e instanceof DebError ? e.message : `other error: ${String(e)}`));
    expect(r).toBe(message);
  });
});

/** The sha256 of a text, by coreutils rather than by the code under test. */
function sha256sum(text: string): string {
  return execFileSync("sha256sum", { input: text }).toString().slice(0, 64);
}

describe("the bill of lading", () => {
  it("gives Debian package URLs with the version and architecture escaped", () => {
    expect(debianPurl({ name: "busybox-static", version: "1:1.35.0-4+deb12u1+b1", architecture: "amd64" })).toBe("pkg:deb/debian/busybox-static@1%3A1.35.0-4%2Bdeb12u1%2Bb1?arch=amd64");
  });

  it("reads licenses from machine-readable copyright files only", () => {
    const dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+ with OpenSSL exception\n\nFiles: lib/*\nLicense: BSD-3-clause or Expat\n\nLicense: Custom thing\n Text.\n";
    expect(declaredLicenses(dep5)).toBe("BSD-3-Clause AND GPL-2.0-or-later AND LicenseRef-Custom-thing AND MIT");
    expect(declaredLicenses("This package was debianized by someone.\nLicense: GPL\n")).toBeUndefined();
  });
});
