/**
 * Logging in to a registry as it asks: anonymous until a 401 names a scheme, then basic
 * (credentials from the docker config file) or bearer tokens from the token server the
 * challenge names, kept by scope until they expire. Credentials go only to the host they
 * are filed for, and never in clear text to a token server on another network path.
 */
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Reference } from "../core/index.ts";
import type { HttpResponse } from "./http.ts";
import { httpRequest } from "./http.ts";
import { ATTEMPTS, backoff, describeError, failFor as fail } from "./retry.ts";

const DockerConfig = t.partial({
  auths: t.record(t.string, t.partial({ auth: t.string, username: t.string, password: t.string })),
});

/**
 * Docker Hub's API lives on another host than the name users write, and its
 * credentials are filed under its old index URL.
 */
export const DOCKER_HUB: ReadonlySet<string> = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** The `auth` of the docker config file's entry for `host`, base64 `user:password`. */
const readCredentials = async (host: string, env: Readonly<Record<string, string | undefined>>): Promise<string | undefined> => {
  const dir = env["DOCKER_CONFIG"] ?? path.join(os.homedir(), ".docker");
  const text = await fs.readFile(path.join(dir, "config.json"), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const config = DockerConfig.decode(parsed);
  if (E.isLeft(config)) return undefined;
  const keys = DOCKER_HUB.has(host) ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"] : [host, `https://${host}`, `http://${host}`];
  const entry = keys.map((k) => config.right.auths?.[k]).find((e) => e !== undefined);
  if (entry === undefined) return undefined;
  if (entry.auth !== undefined) return entry.auth;
  if (entry.username !== undefined && entry.password !== undefined) return Buffer.from(`${entry.username}:${entry.password}`).toString("base64");
  return undefined;
};

/** Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm=...`). */
const parseChallenge = (header: string): { readonly scheme: string; readonly params: Record<string, string> } => {
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return { scheme, params };
};

/**
 * A client's login state for one repository.
 *
 * @category model
 */
export interface Login {
  /** The Authorization header for a request needing `scopes`, once the registry has asked. */
  authorizationFor(scopes: ReadonlyArray<string>): Promise<string | undefined>;
  /** Takes a 401's challenge: later requests log in as it says; the token for `scopes` is dropped. */
  challenged(header: string, scopes: ReadonlyArray<string>): void;
}

/**
 * The login of a client of `ref` whose API is at `base`.
 *
 * @category constructors
 */
export const login = (ref: Reference, base: string, env: Readonly<Record<string, string | undefined>>): Login => {
  let credentials: Promise<string | undefined> | undefined;
  const creds = (): Promise<string | undefined> => (credentials ??= readCredentials(ref.host, env));
  /** The registry's last login challenge: how every later request logs in. */
  let challenge: ReturnType<typeof parseChallenge> | undefined;
  /** Bearer tokens by scope, kept until they expire. */
  const tokens = new Map<string, { readonly token: string; readonly until: number }>();

  const fetchToken = async (params: Record<string, string>, scopes: ReadonlyArray<string>): Promise<string> => {
    if (params["realm"] === undefined) return fail(ref, "the registry asks for a token but names no token server");
    const realm = new URL(params["realm"]);
    if (params["service"] !== undefined) realm.searchParams.set("service", params["service"]);
    for (const s of scopes) realm.searchParams.append("scope", s);
    // Credentials go to the token server only when it runs on the registry's own host
    // (or is Docker Hub's own, auth.docker.io), and never in clear text over a network
    // the registry itself is not spoken to in.
    const registry = new URL(base);
    const sameHost = realm.hostname === registry.hostname || (DOCKER_HUB.has(ref.host) && realm.hostname === "auth.docker.io");
    const c = sameHost && (realm.protocol === "https:" || registry.protocol === "http:") ? await creds() : undefined;
    let res: HttpResponse | undefined;
    for (let attempt = 1; res === undefined; attempt++) {
      res = await httpRequest(realm, { method: "GET", headers: c === undefined ? {} : { authorization: `Basic ${c}` } }).catch(async (e: unknown) => {
        if (attempt >= ATTEMPTS) return fail(ref, `cannot reach the token server ${realm.origin}: ${describeError(e)}`);
        await backoff(attempt);
        return undefined;
      });
      if (res !== undefined && res.status >= 500 && attempt < ATTEMPTS) {
        res.discard();
        res = undefined;
        await backoff(attempt);
      }
    }
    if (res.status < 200 || res.status > 299) {
      res.discard();
      return fail(ref, `the token server ${realm.origin} refused: HTTP ${res.status}`, c === undefined ? "no credentials were sent: add them to the docker config file" : undefined);
    }
    const text = await res.text().catch(() => "");
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // No token in it: said below.
    }
    const token = typeof body.token === "string" ? body.token : typeof body.access_token === "string" ? body.access_token : undefined;
    if (token === undefined) return fail(ref, `the token server ${realm.origin} sent no token`);
    // 60 s when the server does not say (the token spec's default), less a margin.
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    tokens.set(scopes.join(" "), { token, until: Date.now() + Math.max(lifetime - 10, lifetime / 2) * 1000 });
    return token;
  };

  return {
    authorizationFor: async (scopes) => {
      if (challenge === undefined) return undefined;
      if (challenge.scheme === "basic") {
        const c = await creds();
        if (c === undefined) return fail(ref, "the registry asks for a login and no credentials are set for it", `add ${ref.host} to the docker config file (DOCKER_CONFIG or ~/.docker/config.json)`);
        return `Basic ${c}`;
      }
      if (challenge.scheme !== "bearer") return fail(ref, `the registry asks for an unknown kind of login: ${challenge.scheme}`);
      const cached = tokens.get(scopes.join(" "));
      return `Bearer ${cached !== undefined && cached.until > Date.now() ? cached.token : await fetchToken(challenge.params, scopes)}`;
    },
    challenged: (header, scopes) => {
      challenge = parseChallenge(header);
      tokens.delete(scopes.join(" "));
    },
  };
};
