/**
 * The registry client's HTTP: node:http and node:https with kept-alive connections,
 * bodies as Node streams end to end (a blob goes from socket to hash to file with no
 * conversion), redirects followed for reads (never from https to plain http), and a
 * login never carried to another origin.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { Readable } from "node:stream";

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 8 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 8 }),
};

/** A connection that says nothing for this long is given up (and retried by the caller). */
const IDLE_MS = 60_000;

const REDIRECTS = 5;

/** The most of an answer's body read as text, or read off to keep a connection. */
const TEXT_LIMIT = 64 << 10;

/**
 * An answer: status, headers, and the body as a stream to read, or to discard.
 *
 * @category model
 */
export interface HttpResponse {
  readonly status: number;
  header(name: string): string | undefined;
  readonly body: Readable;
  /** Reads the body, for a small answer such as an error: at most 64 KiB of it. */
  text(): Promise<string>;
  /** Drops the body: a short one is read off so the connection is kept; a long one closes it. */
  discard(): void;
}

/**
 * A request: a body is bytes or a stream whose length is in the headers.
 *
 * @category model
 */
export interface HttpRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | Readable;
}

const once = (url: URL, req: HttpRequest): Promise<HttpResponse> =>
  new Promise((resolve, reject) => {
    const module = url.protocol === "https:" ? https : http;
    const agent = url.protocol === "https:" ? agents["https:"] : agents["http:"];
    const r = module.request(url, { method: req.method, headers: req.headers, agent }, (res) => {
      // An answer to HEAD has no body: consumed now, its connection goes back to the pool.
      if (req.method === "HEAD") res.resume();
      resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const v = res.headers[name.toLowerCase()];
          return Array.isArray(v) ? v.join(", ") : v;
        },
        body: res,
        text: async () => {
          const parts: Buffer[] = [];
          let size = 0;
          for await (const c of res) {
            parts.push(c as Buffer);
            size += (c as Buffer).byteLength;
            // An answer that goes on is cut here: a registry cannot fill lading's memory.
            if (size >= TEXT_LIMIT) {
              res.destroy();
              break;
            }
          }
          return Buffer.concat(parts).toString("utf8").slice(0, TEXT_LIMIT);
        },
        discard: () => {
          const length = Number(res.headers["content-length"] ?? Number.NaN);
          if (length <= TEXT_LIMIT) res.resume();
          else res.destroy();
        },
      });
    });
    r.setTimeout(IDLE_MS, () => r.destroy(new Error(`no answer for ${IDLE_MS / 1000} s`)));
    r.on("error", reject);
    const body = req.body;
    if (body === undefined) r.end();
    else if (body instanceof Uint8Array) r.end(body);
    else {
      body.on("error", (e) => r.destroy(e));
      body.pipe(r);
    }
  });

/**
 * Sends a request. A redirect is followed for GET and HEAD (a registry may serve blobs
 * from storage elsewhere), without the Authorization header when it leads to another
 * host; other answers are returned as they are.
 *
 * @category destructors
 */
export const httpRequest = async (url: URL, req: HttpRequest): Promise<HttpResponse> => {
  let target = url;
  let headers = req.headers;
  for (let hop = 0; ; hop++) {
    const res = await once(target, { ...req, headers });
    const location = res.header("location");
    const redirect = [301, 302, 303, 307, 308].includes(res.status) && location !== undefined;
    if (!redirect || (req.method !== "GET" && req.method !== "HEAD") || hop >= REDIRECTS) return res;
    res.discard();
    const next = new URL(location, target);
    if (target.protocol === "https:" && next.protocol !== "https:") throw new Error(`refused a redirect from https to ${next.protocol}//${next.host}`);
    // The login is for the origin it was given to: scheme, host and port.
    if (next.origin !== url.origin) {
      const { authorization: _dropped, ...rest } = headers as Record<string, string>;
      headers = rest;
    }
    target = next;
  }
};
