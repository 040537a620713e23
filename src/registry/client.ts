/**
 * A client of the OCI distribution API, with no daemon and no other tool: manifests and
 * blobs by tag or digest, pushes with existence checks, anonymous, basic and bearer-token
 * authentication (credentials from the docker config file, sent only to the host they
 * are for), retries with backoff on 5xx answers and dropped connections. Every manifest
 * and blob read is checked against its digest before use.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestFromHex, digestOf, error } from "../core/index.ts";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from "../oci/index.ts";
import type { Reference } from "../core/index.ts";
import { formatReference } from "../core/index.ts";
import type { HttpResponse } from "./http.ts";
import { httpRequest } from "./http.ts";

/** The media types lading accepts for a manifest, most wanted first. */
const ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");

/** Manifests larger than this are refused: no image needs one, and reading it is a risk. */
const MAX_MANIFEST = 4 << 20;

const ATTEMPTS = 4;

const DockerConfig = t.partial({
  auths: t.record(t.string, t.partial({ auth: t.string, username: t.string, password: t.string })),
});

/**
 * Where credentials come from: `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`, read once per client.
 *
 * @category model
 */
export interface RegistryOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
}

const fail = (ref: Reference, message: string, hint?: string): never => {
  throw new DiagnosticError([error({ file: `docker://${formatReference(ref)}` }, message, hint)]);
};

/**
 * Docker Hub's API lives on another host than the name users write, and its
 * credentials are filed under its old index URL.
 */
const DOCKER_HUB = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/**
 * The host that serves the registry API for a reference's host.
 *
 * @category destructors
 */
export const apiHost = (host: string): string => (DOCKER_HUB.has(host) ? "registry-1.docker.io" : host);

/** Plain http only where nothing can listen in between: this machine. */
const isLoopback = (host: string): boolean => /^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$/.test(host);

/**
 * The registries the user marks insecure, from `LADING_INSECURE_REGISTRIES`
 * (`host[:port]`, comma-separated): they are spoken to over plain http.
 *
 * @category destructors
 */
export const insecureRegistries = (env: RegistryOptions["env"]): ReadonlySet<string> =>
  new Set((env["LADING_INSECURE_REGISTRIES"] ?? "").split(",").map((h) => h.trim()).filter((h) => h !== ""));

const readCredentials = async (host: string, env: RegistryOptions["env"]): Promise<string | undefined> => {
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

/** A request that failed on every attempt: the network or the server, not a verdict. */
class TransientError extends DiagnosticError {}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The wait before attempt `n` (from 1): 200 ms, doubling. */
const backoff = (n: number): Promise<void> => sleep(200 * 2 ** (n - 1));

/**
 * A request body that can be made again for a retry: bytes, or a range of a file.
 *
 * @category model
 */
export type Body = { readonly bytes: Uint8Array } | { readonly file: string; readonly start?: number; readonly size: number };

/**
 * How a blob reached the registry: it was there already, it was mounted from another
 * repository of the same registry, or its bytes were sent.
 *
 * @category model
 */
export type PushOutcome = "present" | "mounted" | "uploaded";

/**
 * A client for one repository.
 *
 * @category model
 */
export interface RegistryClient {
  readonly reference: Reference;
  /** The manifest (or index) at a tag or digest: its bytes, media type and digest, verified. */
  getManifest(tagOrDigest: string): Promise<{ readonly bytes: Buffer; readonly mediaType: string; readonly digest: Digest }>;
  /**
   * Downloads a blob to `file`, verifying its digest (and size, when given) while it
   * streams. Retries a cut-off transfer; nothing is left at `file` when it fails.
   */
  getBlob(digest: Digest, file: string, size?: number): Promise<void>;
  hasBlob(digest: Digest): Promise<boolean>;
  /**
   * Sends a blob: mounted from `mountFrom` (a repository of the same registry) when it
   * has it, else uploaded, in one request or, past the chunk size, in chunks that
   * resume where the registry stopped.
   */
  pushBlob(digest: Digest, body: Body, mountFrom?: string): Promise<Exclude<PushOutcome, "present">>;
  /** Asks the registry to mount a blob from another of its repositories; false if it would not. */
  mountBlob(digest: Digest, from: string): Promise<boolean>;
  putManifest(tagOrDigest: string, mediaType: string, bytes: Uint8Array): Promise<void>;
}

/**
 * A client's options: the environment (DOCKER_CONFIG, LADING_INSECURE_REGISTRIES), and
 * the largest upload request (by default a blob goes in one request; a chunk size splits
 * larger ones, for registries that limit a request's size).
 *
 * @category model
 */
export interface ClientOptions extends RegistryOptions {
  readonly chunkSize?: number;
}

/**
 * Blobs up to this size go in one PUT. Larger ones go as PATCH requests that can resume
 * where the registry stopped: one for the whole blob unless a chunk size is given.
 */
const MONOLITHIC = 32 << 20;

const bodyOf = (body: Body, headers: Record<string, string>): Uint8Array | Readable => {
  if ("bytes" in body) {
    headers["content-length"] = String(body.bytes.byteLength);
    return body.bytes;
  }
  headers["content-length"] = String(body.size);
  if (body.size === 0) return new Uint8Array(0);
  const start = body.start ?? 0;
  return createReadStream(body.file, { start, end: start + body.size - 1, highWaterMark: 1 << 20 });
};

const describe = (e: unknown): string => {
  const cause = (e as { cause?: Error }).cause;
  return `${(e as Error).message}${cause === undefined ? "" : ` (${cause.message})`}`;
};

/**
 * Where a registry's API is: https, except on this machine and for the registries the
 * user marks insecure.
 *
 * @category destructors
 */
export const registryUrl = (host: string, env: RegistryOptions["env"]): string =>
  `${isLoopback(host) || insecureRegistries(env).has(host) ? "http" : "https"}://${apiHost(host)}`;

/**
 * A client for `ref`'s repository.
 *
 * @category constructors
 */
export const registryClient = (ref: Reference, options: ClientOptions): RegistryClient => {
  const base = registryUrl(ref.host, options.env);
  const chunkSize = options.chunkSize ?? Number.POSITIVE_INFINITY;
  let credentials: Promise<string | undefined> | undefined;
  const creds = (): Promise<string | undefined> => (credentials ??= readCredentials(ref.host, options.env));
  /** The registry's last login challenge: how every later request logs in. */
  let challenge: ReturnType<typeof parseChallenge> | undefined;
  /** Bearer tokens by scope, kept until they expire. */
  const tokens = new Map<string, { readonly token: string; readonly until: number }>();

  const fetchToken = async (scopes: ReadonlyArray<string>): Promise<string> => {
    const params = challenge!.params;
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
        if (attempt >= ATTEMPTS) return fail(ref, `cannot reach the token server ${realm.origin}: ${describe(e)}`);
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

  /** The Authorization header for a request needing `scopes`, once the registry has asked. */
  const authorizationFor = async (scopes: ReadonlyArray<string>): Promise<string | undefined> => {
    if (challenge === undefined) return undefined;
    if (challenge.scheme === "basic") {
      const c = await creds();
      if (c === undefined) return fail(ref, "the registry asks for a login and no credentials are set for it", `add ${ref.host} to the docker config file (DOCKER_CONFIG or ~/.docker/config.json)`);
      return `Basic ${c}`;
    }
    if (challenge.scheme !== "bearer") return fail(ref, `the registry asks for an unknown kind of login: ${challenge.scheme}`);
    const cached = tokens.get(scopes.join(" "));
    return `Bearer ${cached !== undefined && cached.until > Date.now() ? cached.token : await fetchToken(scopes)}`;
  };

  interface RequestInit2 {
    readonly headers?: Record<string, string>;
    readonly body?: Body;
    /** The statuses that succeed. */
    readonly ok: ReadonlyArray<number>;
    readonly push?: boolean;
    /** Further scopes, such as pull access to a repository a blob is mounted from. */
    readonly scopes?: ReadonlyArray<string>;
    /** Whether to retry on 5xx and dropped connections (not for a chunk, which resumes instead). */
    readonly retry?: boolean;
  }

  /** One request, with login and retries. */
  const request = async (method: string, url: string, init: RequestInit2): Promise<HttpResponse> => {
    const scopes = [`repository:${ref.repository}:${init.push === true ? "pull,push" : "pull"}`, ...(init.scopes ?? [])];
    let lastError = "";
    const target = new URL(url, base);
    // The login goes with requests to the registry's own origin (scheme, host and port),
    // never to another one that a redirect or an upload location names.
    const ownHost = target.origin === new URL(base).origin;
    const attempts = init.retry === false ? 1 : ATTEMPTS;
    let loggedIn = false;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      const authorization = ownHost ? await authorizationFor(scopes) : undefined;
      if (authorization !== undefined) headers["authorization"] = authorization;
      const body = init.body === undefined ? undefined : bodyOf(init.body, headers);
      let res: HttpResponse;
      try {
        res = await httpRequest(target, { method, headers, ...(body === undefined ? {} : { body }) });
      } catch (e) {
        lastError = describe(e);
        if (attempt < attempts) await backoff(attempt);
        continue;
      }
      if (res.status === 401 && ownHost) {
        const header = res.header("www-authenticate");
        res.discard();
        // One new login a request: a second refusal means the credentials are wrong.
        if (header === undefined || loggedIn) return fail(ref, `the registry refused the login (HTTP 401) for ${method} ${target.pathname}`);
        challenge = parseChallenge(header);
        tokens.delete(scopes.join(" "));
        loggedIn = true;
        attempt--;
        continue;
      }
      if (init.ok.includes(res.status)) return res;
      const text = await res.text().catch(() => "");
      if (res.status >= 500 || res.status === 429) {
        lastError = `HTTP ${res.status}`;
        if (attempt < attempts) await backoff(attempt);
        continue;
      }
      // The path, not the URL: an upload's query holds the registry's session state.
      return fail(ref, `${method} ${target.pathname}: HTTP ${res.status}${text === "" ? "" : `: ${text.slice(0, 300).trim()}`}`);
    }
    throw new TransientError([
      error({ file: `docker://${formatReference(ref)}` }, attempts === 1 ? `${method} ${target.pathname} failed: ${lastError}` : `${method} ${target.pathname} failed after ${attempts} attempts: ${lastError}`),
    ]);
  };

  /**
   * Runs a download whose body may be cut off after the headers came: the whole
   * request again, with backoff. Errors that are verdicts (a digest that does not
   * match, a refusal) are not retried.
   */
  const withBodyRetry = async <A>(what: string, f: () => Promise<A>): Promise<A> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (e instanceof DiagnosticError) throw e;
        if (attempt >= ATTEMPTS) return fail(ref, `${what} failed after ${ATTEMPTS} attempts: ${describe(e)}`);
        await backoff(attempt);
      }
    }
  };

  const v2 = `/v2/${ref.repository}`;

  const uploadLocation = (res: HttpResponse): URL => {
    const location = res.header("location");
    if (location === undefined) return fail(ref, "the registry answered an upload without a location");
    const url = new URL(location, base);
    if (new URL(base).protocol === "https:" && url.protocol !== "https:") return fail(ref, `the registry named a plain http upload location (${url.origin}): refused`);
    return url;
  };

  /**
   * Runs the PUT that completes an upload. When its answer is lost, a retry finds the
   * session closed (404): the registry may have the blob all the same, and a HEAD says.
   */
  const completing = async (digest: Digest, put: () => Promise<HttpResponse>): Promise<void> => {
    try {
      const done = await put();
      done.discard();
    } catch (e) {
      if (!(await hasBlobNow(digest))) throw e;
    }
  };

  const hasBlobNow = (digest: Digest): Promise<boolean> =>
    request("HEAD", `${v2}/blobs/${digest}`, { ok: [200, 404], push: true }).then(
      (r) => r.status === 200,
      () => false,
    );

  /** Uploads `body` to a started upload session: in one PUT, or in resumable chunks. */
  const upload = async (digest: Digest, body: Body, start: URL): Promise<void> => {
    const size = "bytes" in body ? body.bytes.byteLength : body.size;
    if ("bytes" in body || (size <= MONOLITHIC && size <= chunkSize)) {
      // One PUT a session. A PUT cut off or unanswered spoils its session (the registry
      // kept part of the bytes, or closed it): unless the registry has the blob after
      // all, the upload starts again in a new one.
      let location = start;
      for (let session = 1; ; session++) {
        location.searchParams.set("digest", digest);
        let failure: string;
        try {
          const res = await request("PUT", location.toString(), { headers: { "content-type": "application/octet-stream" }, body, ok: [201, 404], push: true, retry: false });
          const text = await res.text().catch(() => "");
          if (res.status === 201) return;
          failure = `HTTP 404${text === "" ? "" : `: ${text.slice(0, 200).trim()}`}`;
        } catch (e) {
          if (!(e instanceof TransientError)) throw e;
          failure = e.diagnostics[0]?.message ?? "";
        }
        if (await hasBlobNow(digest)) return;
        if (session >= ATTEMPTS) return fail(ref, `the upload of blob ${digest} failed in ${ATTEMPTS} sessions: ${failure}`);
        await backoff(session);
        const fresh = await request("POST", `${v2}/blobs/uploads/`, { ok: [202], push: true });
        fresh.discard();
        location = uploadLocation(fresh);
      }
    }
    let location = start;
    let offset = 0;
    let failures = 0;
    let restarts = 0;
    while (offset < size) {
      const n = Math.min(chunkSize, size - offset);
      try {
        const res = await request("PATCH", location.toString(), {
          headers: { "content-type": "application/octet-stream", "content-range": `${offset}-${offset + n - 1}` },
          body: { file: body.file, start: (body.start ?? 0) + offset, size: n },
          ok: [202],
          push: true,
          retry: false,
        });
        res.discard();
        location = uploadLocation(res);
        offset += n;
        failures = 0;
      } catch (e) {
        if (++failures >= ATTEMPTS) {
          if (!(e instanceof DiagnosticError)) throw e;
          return fail(ref, `the upload of blob ${digest} failed after ${ATTEMPTS} attempts: ${e.diagnostics[0]?.message ?? ""}`);
        }
        await backoff(failures);
        // Ask how much arrived, and go on from there. "0-0" is ambiguous (nothing, or
        // one byte), as is a session the registry forgot: then start a new one.
        const status = await request("GET", location.toString(), { ok: [204], push: true }).catch(() => undefined);
        status?.discard();
        const range = /^0-([0-9]+)$/.exec(status?.header("range") ?? "");
        if (status === undefined || range === null || range[1] === "0") {
          if (++restarts >= ATTEMPTS) return fail(ref, `the upload of blob ${digest} was lost by the registry ${ATTEMPTS} times`);
          const fresh = await request("POST", `${v2}/blobs/uploads/`, { ok: [202], push: true });
          fresh.discard();
          location = uploadLocation(fresh);
          offset = 0;
        } else {
          location = uploadLocation(status);
          offset = Number(range[1]) + 1;
        }
      }
    }
    location.searchParams.set("digest", digest);
    await completing(digest, () => request("PUT", location.toString(), { ok: [201], push: true }));
  };

  const mountBlob = async (digest: Digest, from: string): Promise<boolean> => {
    const res = await request("POST", `${v2}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      ok: [201, 202],
      push: true,
      scopes: [`repository:${from}:pull`],
    });
    res.discard();
    if (res.status === 201) return true;
    // The registry opened an upload instead: cancel it, nothing will be sent to it.
    const location = res.header("location");
    if (location !== undefined) await request("DELETE", new URL(location, base).toString(), { ok: [204, 404], push: true, retry: false }).then((r) => r.discard(), () => undefined);
    return false;
  };

  return {
    reference: ref,
    getManifest: (tagOrDigest) =>
      withBodyRetry(`GET manifest ${tagOrDigest}`, async () => {
        const res = await request("GET", `${v2}/manifests/${tagOrDigest}`, { headers: { accept: ACCEPT }, ok: [200] });
        const length = Number(res.header("content-length") ?? "0");
        if (length > MAX_MANIFEST) {
          res.discard();
          return fail(ref, `the manifest is ${length} bytes, more than the ${MAX_MANIFEST} lading accepts`);
        }
        const parts: Buffer[] = [];
        let size = 0;
        for await (const chunk of res.body) {
          size += (chunk as Buffer).byteLength;
          if (size > MAX_MANIFEST) return fail(ref, `the manifest is more than the ${MAX_MANIFEST} bytes lading accepts`);
          parts.push(chunk as Buffer);
        }
        const bytes = Buffer.concat(parts);
        if (res.header("content-length") !== undefined && bytes.byteLength !== length) throw new Error(`the manifest was cut off at ${bytes.byteLength} of ${length} bytes`);
        const digest = digestOf(bytes);
        if (tagOrDigest.startsWith("sha256:") && digest !== tagOrDigest) return fail(ref, `the manifest ${tagOrDigest} does not match its digest: refused`);
        const claimed = res.header("docker-content-digest");
        if (claimed !== undefined && claimed !== digest) return fail(ref, `the manifest at ${tagOrDigest} does not match the digest the registry claims (${claimed}): refused`);
        return { bytes, mediaType: (res.header("content-type") ?? "").split(";")[0]!.trim(), digest };
      }),
    getBlob: async (digest, file, size) => {
      const mismatch = (): never => fail(ref, `blob ${digest} does not match its digest: refused`);
      try {
        await withBodyRetry(`GET blob ${digest}`, async () => {
          const res = await request("GET", `${v2}/blobs/${digest}`, { ok: [200] });
          const hash = createHash("sha256");
          let got = 0;
          await pipeline(
            res.body,
            new Transform({
              transform(chunk: Buffer, _enc, cb) {
                got += chunk.byteLength;
                // More bytes than the descriptor says can only be a wrong blob: stop reading.
                if (size !== undefined && got > size) {
                  cb(new DiagnosticError([error({ file: `docker://${formatReference(ref)}` }, `blob ${digest} does not match its digest: refused`)]));
                  return;
                }
                hash.update(chunk);
                cb(null, chunk);
              },
            }),
            createWriteStream(file, { highWaterMark: 1 << 20 }),
          );
          const length = res.header("content-length");
          if (length !== undefined && Number(length) !== got) throw new Error(`the blob was cut off at ${got} of ${length} bytes`);
          if (size !== undefined && got !== size) throw new Error(`the blob was cut off at ${got} of ${size} bytes`);
          if (digestFromHex(hash.digest("hex")) !== digest) mismatch();
        });
      } catch (e) {
        await fs.rm(file, { force: true });
        throw e;
      }
    },
    hasBlob: async (digest) => {
      const res = await request("HEAD", `${v2}/blobs/${digest}`, { ok: [200, 404], push: true });
      return res.status === 200;
    },
    mountBlob,
    pushBlob: async (digest, body, mountFrom) => {
      if (mountFrom !== undefined && mountFrom !== ref.repository && (await mountBlob(digest, mountFrom))) return "mounted";
      const started = await request("POST", `${v2}/blobs/uploads/`, { ok: [202], push: true });
      started.discard();
      await upload(digest, body, uploadLocation(started));
      return "uploaded";
    },
    putManifest: async (tagOrDigest, mediaType, bytes) => {
      const res = await request("PUT", `${v2}/manifests/${tagOrDigest}`, { headers: { "content-type": mediaType }, body: { bytes }, ok: [201], push: true });
      res.discard();
    },
  };
};
