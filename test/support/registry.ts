/**
 * The reference registry (distribution 2.8, Debian's docker-registry), started by the
 * tests on 127.0.0.1 with a config file of their own, optionally behind htpasswd auth.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { mustRun } from "./cli.ts";
import { requireTool } from "./tools.ts";

export interface Registry {
  /** host:port, for docker://HOST/REPO references. */
  readonly host: string;
  /** The server's process, whose CPU time a benchmark counts apart from the client's. */
  readonly pid: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** Registries still running: {@link stopAllRegistries} stops them however a run ends. */
const running = new Set<ChildProcess>();

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  running.delete(child);
};

/** Stops every registry this process started and has not stopped yet. */
export const stopAllRegistries = (): Promise<void> => Promise.all([...running].map(stopChild)).then(() => undefined);

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });

/** Token auth: the registry trusts tokens signed with `certificate` for `service`. */
export interface TokenAuth {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly certificate: string;
}

/**
 * Starts a registry whose storage lives in `dir`; with `users`, every request needs a
 * basic login; with a token server, a bearer token from it.
 */
export const startRegistry = async (dir: string, users?: Readonly<Record<string, string>>, tokens?: TokenAuth): Promise<Registry> => {
  requireTool("docker-registry");
  await fs.mkdir(path.join(dir, "data"), { recursive: true });
  const port = await freePort();
  let auth = "";
  if (users !== undefined) {
    requireTool("htpasswd");
    const file = path.join(dir, "htpasswd");
    for (const [i, [user, password]] of Object.entries(users).entries()) {
      await mustRun("htpasswd", [...(i === 0 ? ["-c"] : []), "-B", "-b", file, user, password]);
    }
    auth = `auth:\n  htpasswd:\n    realm: lading-tests\n    path: ${file}\n`;
  }
  if (tokens !== undefined) {
    auth = `auth:\n  token:\n    realm: ${tokens.realm}\n    service: ${tokens.service}\n    issuer: ${tokens.issuer}\n    rootcertbundle: ${tokens.certificate}\n`;
  }
  const config = path.join(dir, "config.yml");
  await fs.writeFile(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, "data")}\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString();
  });
  const started = await new Promise<Error | undefined>((r) => {
    child.once("spawn", () => r(undefined));
    child.once("error", (e) => r(e));
  });
  if (started !== undefined) {
    running.delete(child);
    throw new Error(`cannot start docker-registry: ${started.message}`);
  }
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://${host}/v2/`).then(
      () => true,
      () => false,
    );
    if (up) return { host, pid: child.pid!, stop: () => stopChild(child) };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopChild(child);
  throw new Error(`docker-registry did not start on ${host}:\n${stderr}`);
};
