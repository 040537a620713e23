/**
 * A small bearer-token server of the tests' own, for the registry's token auth: it checks
 * a basic login, then signs a JWT (RS256, with its certificate in x5c) granting the
 * requested repository actions. The registry trusts the certificate through its config.
 */
import { createSign } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as path from "node:path";
import { mustRun } from "./cli.ts";
import { requireTool } from "./tools.ts";

export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly certificate: string;
  /** What the server was asked: did a request carry a login? */
  readonly requests: ReadonlyArray<{ readonly scope: string; readonly withLogin: boolean }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

/** Starts the server on 127.0.0.1; `realmHost` is the host name the realm URL uses. */
export const startTokenServer = async (dir: string, login: { readonly user: string; readonly password: string }, realmHost = "127.0.0.1"): Promise<TokenServer> => {
  requireTool("openssl");
  await fs.mkdir(dir, { recursive: true });
  const key = path.join(dir, "key.pem");
  const certificate = path.join(dir, "cert.pem");
  await mustRun("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=lading-test-tokens"]);
  const keyPem = await fs.readFile(key, "utf8");
  const der = Buffer.from((await fs.readFile(certificate, "utf8")).replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const service = "lading-tests";
  const issuer = "lading-test-issuer";
  const requests: Array<{ scope: string; withLogin: boolean }> = [];
  const expected = `Basic ${Buffer.from(`${login.user}:${login.password}`).toString("base64")}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    // A client asks for several scopes at once (pull access to a repository it mounts
    // from, with push access to its own) by repeating the parameter.
    const scopes = url.searchParams.getAll("scope");
    const scope = scopes.join(" ");
    const withLogin = req.headers.authorization !== undefined;
    requests.push({ scope, withLogin });
    if (req.headers.authorization !== expected) {
      res.writeHead(401).end();
      return;
    }
    const access = scopes.map((sc) => {
      const [, name = "", actions = ""] = sc.split(":");
      return { type: "repository", name, actions: actions.split(",") };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [der.toString("base64")] };
    const claims = { iss: issuer, sub: login.user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: `${now}-${requests.length}`, access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(input).sign(keyPem);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `${input}.${b64url(signature)}` }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    realm: `http://${realmHost}:${port}/token`,
    service,
    issuer,
    certificate,
    requests,
    stop: () => new Promise((r) => server.close(() => r())),
  };
};
