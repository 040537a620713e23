/**
 * An HTTP reverse proxy in front of a test registry that breaks chosen exchanges on
 * purpose, by a fixed rule and never at random, so the tests that use it cannot flake.
 *
 * It forwards every request (method, path and query, headers, streamed bodies) to the
 * registry, with the registry's own Host, and rewrites a Location that names the
 * registry to name the proxy, so an upload goes on through the proxy. A rule picks the
 * exchanges to break from what each request is (its number, method, path, size and
 * attempt, see `Exchange`), and says how:
 *
 * - `drop`: the connection is closed before anything is forwarded; the registry never
 *   sees the request.
 * - `status500`: the request is read and answered `500` without being forwarded.
 * - `truncate`: a transfer cut off halfway. A request with a body (an upload) reaches the
 *   registry with its full Content-Length but only half its bytes, then both connections
 *   close; any other request is forwarded, and its answer sent with the registry's
 *   headers and full Content-Length but half its body before the connection closes.
 * - `corrupt`: a GET is forwarded and its answer sent whole, with one byte of the body
 *   flipped: same length, wrong digest.
 * - `loseAnswer`: the request is forwarded and handled by the registry, then the
 *   connection closes before the answer reaches the client.
 *
 * A rule that matches an exchange the fault cannot apply to (`truncate` or `corrupt` on an
 * empty body, `corrupt` on anything but a GET) forwards it untouched, and that exchange
 * is not counted as a fault: `injected` counts only faults that really happened.
 */
import * as http from "node:http";
import type { Registry } from "./registry.ts";

export type FaultKind = "drop" | "status500" | "truncate" | "corrupt" | "loseAnswer";

/** One request the proxy received. */
export interface Exchange {
  /** 1 for the first request the proxy received, then 2, 3, ... */
  readonly n: number;
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  /** The path and the query. */
  readonly url: string;
  /** The request body's Content-Length, if it has one. */
  readonly size: number | undefined;
  /**
   * 1 for the first request for the same thing, then 2, 3, ...: the same method and
   * path, except that a request into an upload session counts by what it sends (the
   * digest a PUT completes, the range of a chunk), not by the session's path: a client
   * that retries in a new session is making the same request again.
   */
  readonly attempt: number;
}

export interface FaultRule {
  readonly kind: FaultKind;
  readonly when: (exchange: Exchange) => boolean;
}

export interface Logged extends Exchange {
  /** The fault injected into this exchange, if any. */
  readonly fault: FaultKind | undefined;
  /** The status the client was sent, if a status line was sent at all. */
  readonly status: number | undefined;
}

export interface FaultProxy {
  /** host:port of the proxy, for docker://HOST/REPO references. */
  readonly host: string;
  /** Every request, in the order they arrived. */
  readonly log: ReadonlyArray<Logged>;
  /** How many faults were injected (of one kind, or of any). */
  injected(kind?: FaultKind): number;
  stop(): Promise<void>;
}

/** Headers that belong to one connection, never forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]);

const forwardable = (headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders => {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
};

const readAll = (stream: NodeJS.ReadableStream): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });

/** What a request is for, the key its attempts are counted by (see `Exchange.attempt`). */
const attemptKey = (method: string, url: string, headers: http.IncomingHttpHeaders): string => {
  const u = new URL(url, "http://proxy");
  const session = /^(.*\/blobs\/uploads\/)[^/]+$/.exec(u.pathname);
  if (session === null) return `${method} ${u.pathname}`;
  return `${method} ${session[1]}* digest=${u.searchParams.get("digest") ?? ""} range=${headers["content-range"] ?? ""}`;
};

const hasBody = (req: http.IncomingMessage): boolean =>
  req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? "0") > 0;

/**
 * Starts a proxy on 127.0.0.1 (a free port) in front of `registry`, breaking the
 * exchanges `rule` picks (none without a rule).
 */
export const startFaultProxy = async (registry: Registry, rule?: FaultRule): Promise<FaultProxy> => {
  const [upstreamHost, upstreamPort] = registry.host.split(":") as [string, string];
  const log: Logged[] = [];
  const attempts = new Map<string, number>();
  let host = "";

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    const path = url.split("?")[0]!;
    const key = attemptKey(method, url, req.headers);
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const length = req.headers["content-length"];
    const exchange: Exchange = { n: log.length + 1, method, path, url, size: length === undefined ? undefined : Number(length), attempt };
    const entry: { -readonly [K in keyof Logged]: Logged[K] } = { ...exchange, fault: undefined, status: undefined };
    log.push(entry);
    const kind = rule !== undefined && rule.when(exchange) ? rule.kind : undefined;
    const client = req.socket;
    res.on("error", () => {});
    req.on("error", () => {});

    if (kind === "drop") {
      entry.fault = "drop";
      client.destroy();
      return;
    }
    if (kind === "status500") {
      entry.fault = "status500";
      req.resume();
      req.on("end", () => {
        entry.status = 500;
        res.writeHead(500, { "content-type": "application/json" }).end('{"errors":[{"code":"UNKNOWN","message":"fault injected by the test proxy"}]}\n');
      });
      return;
    }

    const headers = forwardable(req.headers);
    headers["host"] = registry.host;
    // A connection of its own for every request: no reused connection the registry may
    // have closed, so the only failures are the ones the rule asks for.
    const upstream = http.request({ host: upstreamHost, port: Number(upstreamPort), method, path: url, headers, agent: false });
    // The registry's connection broke (it may answer early and close while a body is
    // still coming): the client's breaks too, as it would without the proxy.
    upstream.on("error", () => client.destroy());

    // An upload cut off halfway: the registry gets half the body, then nothing more.
    if (kind === "truncate" && hasBody(req)) {
      void readAll(req).then((body) => {
        if (body.length === 0) {
          upstream.end(body);
          return;
        }
        entry.fault = "truncate";
        upstream.write(body.subarray(0, Math.floor(body.length / 2)), () => {
          upstream.destroy();
          client.destroy();
        });
      }, () => client.destroy());
    } else {
      req.pipe(upstream);
    }

    upstream.on("response", (answer) => {
      if (entry.fault === "truncate") {
        answer.resume();
        return;
      }
      const out = forwardable(answer.headers);
      const location = answer.headers.location;
      if (location !== undefined) out["location"] = location.replace(`//${registry.host}/`, `//${host}/`);
      const status = answer.statusCode ?? 502;
      const withBody = method !== "HEAD" && status !== 204 && status !== 304;

      if (kind === "loseAnswer") {
        entry.fault = "loseAnswer";
        answer.resume();
        answer.on("end", () => client.destroy());
        return;
      }
      if ((kind === "truncate" || kind === "corrupt") && withBody && entry.fault === undefined) {
        void readAll(answer).then((body) => {
          entry.status = status;
          if (body.length === 0 || (kind === "corrupt" && method !== "GET")) {
            res.writeHead(status, out).end(body);
            return;
          }
          entry.fault = kind;
          out["content-length"] = String(body.length);
          if (kind === "corrupt") {
            const bad = Buffer.from(body);
            const at = Math.floor(bad.length / 2);
            bad[at] = bad[at]! ^ 0x01;
            res.writeHead(status, out).end(bad);
            return;
          }
          res.writeHead(status, out);
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => client.destroy());
        }, () => client.destroy());
        return;
      }
      entry.status = status;
      res.writeHead(status, out);
      answer.pipe(res);
    });
  };

  const server = http.createServer(handle);
  // A connection the proxy breaks on purpose may error afterwards: that is expected.
  server.on("connection", (socket) => socket.on("error", () => {}));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("the fault proxy has no port");
  host = `127.0.0.1:${address.port}`;
  return {
    host,
    log,
    injected: (kind) => log.filter((l) => l.fault !== undefined && (kind === undefined || l.fault === kind)).length,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
