/**
 * The real container tools the tests run against. A missing tool fails the test that
 * needs it, loudly, with the package to install: it never passes silently.
 */
import { execFileSync } from "node:child_process";

const PACKAGES: Record<string, string> = {
  skopeo: "skopeo",
  umoci: "umoci",
  "oci-image-tool": "oci-image-tool",
  podman: "podman",
  runc: "runc",
  buildah: "buildah",
  busybox: "busybox-static",
  tar: "tar",
  "docker-registry": "docker-registry",
  htpasswd: "apache2-utils",
  gzip: "gzip",
  getfattr: "attr",
  setpriv: "util-linux",
};

/** Throws unless `tool` is on PATH. */
export const requireTool = (tool: string): void => {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
  } catch {
    throw new Error(`the tests need ${tool}: apt-get install ${PACKAGES[tool] ?? tool} (.ci/run installs it)`);
  }
};

/** podman run flags that work on these machines (see the README). */
export const PODMAN_RUN = ["run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none"] as const;
