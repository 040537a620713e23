/**
 * A client of the OCI distribution API, with no daemon and no other tool: manifests and
 * blobs by tag or digest, pushes with existence checks, anonymous, basic and bearer-token
 * authentication (credentials from the docker config file, sent only to the host they
 * are for), retries with backoff on 5xx answers and dropped connections. Every manifest
 * and blob read is checked against its digest before use.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestFromHex, digestOf, error } from "../core/index.ts";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from "../oci/index.ts";
import type { Reference } from "./Reference.ts";
import { formatReference } from "./Reference.ts";

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

/** Plain http only where nothing can listen in between: this machine. */
const isLoopback = (host: string): boolean => /^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$/.test(host);

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
  const entry = config.right.auths?.[host] ?? config.right.auths?.[`https://${host}`] ?? config.right.auths?.[`http://${host}`];
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A request body that can be made again for a retry.
 *
 * @category model
 */
export type Body = { readonly bytes: Uint8Array } | { readonly file: string; readonly size: number };

/**
 * A client for one repository.
 *
 * @category model
 */
export interface RegistryClient {
  readonly reference: Reference;
  /** The manifest (or index) at a tag or digest: its bytes, media type and digest. */
  getManifest(tagOrDigest: string): Promise<{ readonly bytes: Buffer; readonly mediaType: string; readonly digest: Digest }>;
  /** Downloads a blob to `file`, verifying its digest; nothing is left when it fails. */
  getBlob(digest: Digest, file: string): Promise<void>;
  hasBlob(digest: Digest): Promise<boolean>;
  pushBlob(digest: Digest, body: Body): Promise<void>;
  putManifest(tagOrDigest: string, mediaType: string, bytes: Uint8Array): Promise<void>;
}

/**
 * A client for `ref`'s repository.
 *
 * @category constructors
 */
export const registryClient = (ref: Reference, options: RegistryOptions): RegistryClient => {
  const base = `${isLoopback(ref.host) ? "http" : "https"}://${ref.host}`;
  const tokens = new Map<string, string>();
  let credentials: Promise<string | undefined> | undefined;
  const creds = (): Promise<string | undefined> => (credentials ??= readCredentials(ref.host, options.env));
  let authorization: string | undefined;

  const authenticate = async (challenge: string, scope: string): Promise<string> => {
    const { scheme, params } = parseChallenge(challenge);
    if (scheme === "basic") {
      const c = await creds();
      if (c === undefined) return fail(ref, "the registry asks for a login and no credentials are set for it", `add ${ref.host} to the docker config file (DOCKER_CONFIG or ~/.docker/config.json)`);
      return `Basic ${c}`;
    }
    if (scheme !== "bearer" || params["realm"] === undefined) return fail(ref, `the registry asks for an unknown kind of login: ${challenge}`);
    const cached = tokens.get(scope);
    if (cached !== undefined) return `Bearer ${cached}`;
    const realm = new URL(params["realm"]);
    if (params["service"] !== undefined) realm.searchParams.set("service", params["service"]);
    realm.searchParams.set("scope", scope);
    // Credentials go to the token server only when it runs on the registry's own host.
    const c = realm.hostname === new URL(base).hostname ? await creds() : undefined;
    const res = await fetch(realm, { headers: c === undefined ? {} : { authorization: `Basic ${c}` } }).catch((e: Error) =>
      fail(ref, `cannot reach the token server ${realm.origin}: ${e.message}`),
    );
    if (!res.ok) return fail(ref, `the token server ${realm.origin} refused: HTTP ${res.status}`, c === undefined ? "no credentials were sent: add them to the docker config file" : undefined);
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === "string" ? body.token : typeof body.access_token === "string" ? body.access_token : undefined;
    if (token === undefined) return fail(ref, `the token server ${realm.origin} sent no token`);
    tokens.set(scope, token);
    return `Bearer ${token}`;
  };

  /** One request, with authentication and retries; `ok` lists the statuses that succeed. */
  const request = async (
    method: string,
    url: string,
    init: { readonly headers?: Record<string, string>; readonly body?: Body; readonly ok: ReadonlyArray<number>; readonly push?: boolean },
  ): Promise<Response> => {
    const scope = `repository:${ref.repository}:${init.push === true ? "pull,push" : "pull"}`;
    let lastError = "";
    const target = new URL(url, base);
    // The login goes with requests to the registry's own host, never to a host a
    // redirect or an upload location names.
    const ownHost = target.host === new URL(base).host;
    let backoff = false;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (backoff) await sleep(200 * 2 ** (attempt - 1));
      backoff = true;
      const headers: Record<string, string> = { ...init.headers, ...(authorization === undefined || !ownHost ? {} : { authorization }) };
      let body: RequestInit["body"] | undefined;
      if (init.body !== undefined) {
        if ("bytes" in init.body) body = init.body.bytes;
        else {
          body = Readable.toWeb(createReadStream(init.body.file)) as unknown as RequestInit["body"];
          headers["content-length"] = String(init.body.size);
        }
      }
      let res: Response;
      try {
        res = await fetch(target, { method, headers, redirect: "follow", ...(body === undefined ? {} : { body, duplex: "half" }) } as RequestInit);
      } catch (e) {
        lastError = `${(e as Error).message}${(e as { cause?: Error }).cause === undefined ? "" : ` (${(e as { cause: Error }).cause.message})`}`;
        continue;
      }
      if (res.status === 401) {
        const challenge = res.headers.get("www-authenticate");
        await res.body?.cancel();
        if (challenge === null || authorization !== undefined && attempt > 0) return fail(ref, `the registry refused the login (HTTP 401) for ${method} ${url}`);
        authorization = await authenticate(challenge, scope);
        backoff = false;
        continue;
      }
      if (init.ok.includes(res.status)) return res;
      const text = await res.text().catch(() => "");
      if (res.status >= 500) {
        lastError = `HTTP ${res.status}`;
        continue;
      }
      return fail(ref, `${method} ${url}: HTTP ${res.status}${text === "" ? "" : `: ${text.slice(0, 300).trim()}`}`);
    }
    return fail(ref, `${method} ${url} failed after ${ATTEMPTS} attempts: ${lastError}`);
  };

  const v2 = `/v2/${ref.repository}`;
  return {
    reference: ref,
    getManifest: async (tagOrDigest) => {
      const res = await request("GET", `${v2}/manifests/${tagOrDigest}`, { headers: { accept: ACCEPT }, ok: [200] });
      const length = Number(res.headers.get("content-length") ?? "0");
      if (length > MAX_MANIFEST) return fail(ref, `the manifest is ${length} bytes, more than the ${MAX_MANIFEST} lading accepts`);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (bytes.byteLength > MAX_MANIFEST) return fail(ref, `the manifest is more than the ${MAX_MANIFEST} bytes lading accepts`);
      const digest = digestOf(bytes);
      if (tagOrDigest.startsWith("sha256:") && digest !== tagOrDigest) return fail(ref, `the manifest does not match its digest ${tagOrDigest}`);
      const claimed = res.headers.get("docker-content-digest");
      if (claimed !== null && claimed !== digest) return fail(ref, `the manifest does not match the digest the registry claims (${claimed})`);
      return { bytes, mediaType: (res.headers.get("content-type") ?? "").split(";")[0]!.trim(), digest };
    },
    getBlob: async (digest, file) => {
      const res = await request("GET", `${v2}/blobs/${digest}`, { ok: [200] });
      const hash = createHash("sha256");
      const tmp = `${file}.tmp`;
      const out = await fs.open(tmp, "w");
      try {
        for await (const chunk of Readable.fromWeb(res.body as never)) {
          hash.update(chunk as Buffer);
          await out.write(chunk as Buffer);
        }
      } finally {
        await out.close();
      }
      if (digestFromHex(hash.digest("hex")) !== digest) {
        await fs.rm(tmp, { force: true });
        return fail(ref, `blob ${digest} does not match its digest: refused`);
      }
      await fs.rename(tmp, file);
    },
    hasBlob: async (digest) => {
      const res = await request("HEAD", `${v2}/blobs/${digest}`, { ok: [200, 404], push: true });
      return res.status === 200;
    },
    pushBlob: async (digest, body) => {
      const started = await request("POST", `${v2}/blobs/uploads/`, { ok: [202], push: true });
      await started.body?.cancel();
      const location = started.headers.get("location");
      if (location === null) return fail(ref, "the registry started an upload without a location");
      const url = new URL(location, base);
      url.searchParams.set("digest", digest);
      const done = await request("PUT", url.toString(), { headers: { "content-type": "application/octet-stream" }, body, ok: [201], push: true });
      await done.body?.cancel();
    },
    putManifest: async (tagOrDigest, mediaType, bytes) => {
      const res = await request("PUT", `${v2}/manifests/${tagOrDigest}`, { headers: { "content-type": mediaType }, body: { bytes }, ok: [201], push: true });
      await res.body?.cancel();
    },
  };
};
