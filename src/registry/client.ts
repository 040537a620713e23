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
import type { Readable, Writable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../core/index.ts";
import { DiagnosticError, digestFromHex, digestOf, error, gathering } from "../core/index.ts";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from "../oci/index.ts";
import type { Reference } from "../core/index.ts";
import { formatReference } from "../core/index.ts";
import { DOCKER_HUB, login } from "./auth.ts";
import type { HttpResponse } from "./http.ts";
import { httpRequest } from "./http.ts";
import { ATTEMPTS, backoff, describeError, failFor as fail, retrying, TransientError } from "./retry.ts";
import { uploader } from "./upload.ts";

/** The media types lading accepts for a manifest, most wanted first. */
const ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");

/** Manifests larger than this are refused: no image needs one, and reading it is a risk. */
const MAX_MANIFEST = 4 << 20;

/**
 * How far a blob's download has come: bytes received (again from 0 when a cut-off
 * transfer starts over) of its size, when known; `done` once it is whole and checked.
 *
 * @category model
 */
export interface TransferProgress {
  readonly digest: Digest;
  readonly received: number;
  readonly size: number | undefined;
  readonly done: boolean;
}

/**
 * Where credentials come from: `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`, read once per client; and who hears how downloads go.
 *
 * @category model
 */
export interface RegistryOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Told as each chunk of a blob arrives, and when the blob is whole. */
  readonly onTransfer?: (p: TransferProgress) => void;
}

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
   * streams. Retries a cut-off transfer; nothing is left at `file` when it fails. Each
   * attempt's bytes also go to a fresh `tap()`, as fast as it takes them, ended when the
   * attempt's body ends; a tap that fails is let go and the download goes on.
   */
  getBlob(digest: Digest, file: string, size?: number, tap?: () => Writable): Promise<void>;
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

/**
 * A pass-through that also writes each chunk to `tap`, at the tap's pace, and ends it
 * with the stream; a tap that fails is let go (its error is its owner's to read) and the
 * stream goes on. A stream that fails destroys the tap.
 */
const teeTo = (tap: Writable): Transform => {
  tap.on("error", () => undefined);
  const open = (): boolean => !tap.destroyed && !tap.writableEnded;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (!open() || tap.write(chunk)) {
        cb(null, chunk);
        return;
      }
      const go = (): void => {
        tap.off("drain", go).off("close", go);
        cb(null, chunk);
      };
      tap.on("drain", go).on("close", go);
    },
    flush(cb) {
      if (open()) tap.end();
      cb();
    },
    destroy(e, cb) {
      // Ended, the tap finishes what it was given; failed, it is let go.
      if (e !== null) tap.destroy();
      cb(e);
    },
  });
};

/**
 * One request of a client: what succeeds, whether it pushes, and whether it may be retried.
 *
 * @category model
 */
export interface RequestInit {
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
  const auth = login(ref, base, options.env);


  /** One request, with login and retries. */
  const request = async (method: string, url: string, init: RequestInit): Promise<HttpResponse> => {
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
      const authorization = ownHost ? await auth.authorizationFor(scopes) : undefined;
      if (authorization !== undefined) headers["authorization"] = authorization;
      const body = init.body === undefined ? undefined : bodyOf(init.body, headers);
      let res: HttpResponse;
      try {
        res = await httpRequest(target, { method, headers, ...(body === undefined ? {} : { body }) });
      } catch (e) {
        lastError = describeError(e);
        if (attempt < attempts) await backoff(attempt);
        continue;
      }
      if (res.status === 401 && ownHost) {
        const header = res.header("www-authenticate");
        res.discard();
        // One new login a request: a second refusal means the credentials are wrong.
        if (header === undefined || loggedIn) return fail(ref, `the registry refused the login (HTTP 401) for ${method} ${target.pathname}`);
        auth.challenged(header, scopes);
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
  const withBodyRetry = <A>(what: string, f: () => Promise<A>): Promise<A> =>
    retrying(f, (e) => fail(ref, `${what} failed after ${ATTEMPTS} attempts: ${describeError(e)}`));

  const v2 = `/v2/${ref.repository}`;

  const uploads = uploader({ ref, base, request }, chunkSize);

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
    getBlob: async (digest, file, size, tap) => {
      const mismatch = (): never => fail(ref, `blob ${digest} does not match its digest: refused`);
      try {
        await withBodyRetry(`GET blob ${digest}`, async () => {
          const res = await request("GET", `${v2}/blobs/${digest}`, { ok: [200] });
          const hash = createHash("sha256");
          let got = 0;
          const tapped = tap?.();
          await pipeline([
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
                options.onTransfer?.({ digest, received: got, size, done: false });
                cb(null, chunk);
              },
            }),
            // A few writes to the file and the tap instead of one a packet.
            gathering(1 << 20),
            ...(tapped === undefined ? [] : [teeTo(tapped)]),
            createWriteStream(file, { highWaterMark: 1 << 20 }),
          ]);
          const length = res.header("content-length");
          if (length !== undefined && Number(length) !== got) throw new Error(`the blob was cut off at ${got} of ${length} bytes`);
          if (size !== undefined && got !== size) throw new Error(`the blob was cut off at ${got} of ${size} bytes`);
          if (digestFromHex(hash.digest("hex")) !== digest) mismatch();
          options.onTransfer?.({ digest, received: got, size, done: true });
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
    mountBlob: uploads.mountBlob,
    pushBlob: uploads.pushBlob,
    putManifest: async (tagOrDigest, mediaType, bytes) => {
      const res = await request("PUT", `${v2}/manifests/${tagOrDigest}`, { headers: { "content-type": mediaType }, body: { bytes }, ok: [201], push: true });
      res.discard();
    },
  };
};
