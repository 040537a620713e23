/**
 * A registry that lies: an HTTP server on 127.0.0.1 serving one image (a manifest, its
 * config and its layers) and, for each kind of request, the wrong answer a scenario
 * names: wrong bytes, wrong sizes, wrong headers, cut-off or endless bodies, malformed or
 * ambiguous manifests, redirects to another host, logins that never succeed, slow
 * bodies, server errors. A wrong answer is given on every attempt or on the first only,
 * so both a client's verdicts and its retries are exercised.
 */
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** The wrong answers, by name. */
export const WRONG_ANSWERS = [
  "none",
  "wrongDigest",
  "wrongSize",
  "contentType",
  "truncated",
  "hugeLength",
  "malformedJson",
  "layersAndManifests",
  "redirectOtherHost",
  "authLoop",
  "slowDrip",
  "status500",
  "headerDigest",
] as const;

/** One kind of wrong answer. */
export type WrongAnswer = (typeof WRONG_ANSWERS)[number];

/** What the registry answers to each kind of request, and whether a retry gets the same. */
export interface Scenario {
  readonly tag: WrongAnswer;
  readonly manifestByDigest: WrongAnswer;
  readonly config: WrongAnswer;
  readonly layer: WrongAnswer;
  /** Every attempt gets the wrong answer; otherwise the first only. */
  readonly persistent: boolean;
}

/** The image the registry holds: blobs by digest, and the manifest its tag names. */
export interface HostileImage {
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly blobs: ReadonlyMap<string, Buffer>;
}

export interface HostileRegistry {
  /** host:port, for docker://HOST/REPO:TAG references. */
  readonly host: string;
  /** The scenario the next requests are answered by; the attempt counts start again. */
  setScenario(s: Scenario): void;
  /** Requests that reached the other host with an Authorization header (must stay 0). */
  readonly leakedLogins: () => number;
  stop(): Promise<void>;
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

const flipped = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  const i = Math.floor(c.length / 2);
  if (c.length > 0) c[i] = c[i]! ^ 0x01;
  return c;
};

const listen = (server: http.Server): Promise<string> =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));

/**
 * Starts the registry for `image` under the repository `repo` and tag `latest`, with the
 * scenario where nothing is wrong.
 */
export const startHostileRegistry = async (image: HostileImage, repo: string): Promise<HostileRegistry> => {
  let scenario: Scenario = { tag: "none", manifestByDigest: "none", config: "none", layer: "none", persistent: false };
  let attempts = new Map<string, number>();
  let leaked = 0;

  // The other host a redirect leads to: it serves damaged bytes, and notes any login sent to it.
  const other = http.createServer((req, res) => {
    if (req.headers.authorization !== undefined) leaked++;
    const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1] ?? /\/manifests\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
    const body = digest === undefined ? undefined : image.blobs.get(digest);
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": body.length, "content-type": "application/octet-stream" }).end(flipped(body));
  });
  const otherHost = await listen(other);

  const send = (req: http.IncomingMessage, res: http.ServerResponse, what: "tag" | "manifestByDigest" | "config" | "layer", body: Buffer, mediaType: string): void => {
    const key = `${req.method} ${req.url}`;
    const n = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, n);
    const wrong = scenario.persistent || n === 1 ? scenario[what] : "none";
    const isManifest = what === "tag" || what === "manifestByDigest";
    const headers: http.OutgoingHttpHeaders = { "content-type": mediaType, "docker-content-digest": sha256(body) };
    const whole = (b: Buffer, h: http.OutgoingHttpHeaders = headers): void => {
      res.writeHead(200, { ...h, "content-length": b.length });
      res.end(req.method === "HEAD" ? undefined : b);
    };
    switch (wrong) {
      case "none":
        return whole(body);
      case "wrongDigest":
        return whole(flipped(body));
      case "wrongSize":
        return whole(Buffer.concat([body, Buffer.from("and then some")]));
      case "contentType":
        return whole(body, { ...headers, "content-type": "text/html; charset=utf-8" });
      case "truncated":
        res.writeHead(200, { ...headers, "content-length": body.length });
        res.write(body.subarray(0, Math.floor(body.length / 2)));
        return void setTimeout(() => res.destroy(), 10);
      case "hugeLength":
        res.writeHead(200, { ...headers, "content-length": String(2 ** 40) });
        res.write(body);
        return void setTimeout(() => res.destroy(), 10);
      case "malformedJson":
        return whole(Buffer.from(isManifest || what === "config" ? '{"schemaVersion": 2, "layers": [' : "not a blob"));
      case "layersAndManifests": {
        if (!isManifest) return whole(body);
        const m = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
        const evil = { ...m, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.manifestDigest, size: image.manifest.length, platform: { os: "linux", architecture: "amd64" } }] };
        return whole(Buffer.from(JSON.stringify(evil)));
      }
      case "redirectOtherHost":
        res.writeHead(307, { location: `http://${otherHost}${req.url}` });
        return void res.end();
      case "authLoop":
        res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="hostile",scope="repository:${repo}:pull"`, "content-type": "application/json" });
        return void res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      case "slowDrip": {
        res.writeHead(200, { ...headers, "content-length": body.length });
        let at = 0;
        const step = Math.max(64, Math.ceil(body.length / 40));
        const drip = (): void => {
          if (res.destroyed) return;
          if (at >= body.length) return void res.end();
          res.write(body.subarray(at, at + step));
          at += step;
          setTimeout(drip, 10);
        };
        return drip();
      }
      case "status500":
        res.writeHead(500, { "content-type": "application/json" });
        return void res.end('{"errors":[{"code":"UNKNOWN"}]}');
      case "headerDigest":
        return whole(body, { ...headers, "docker-content-digest": sha256(Buffer.from("something else")) });
      default: {
        const never: never = wrong;
        throw new Error(`unknown wrong answer ${String(never)}`);
      }
    }
  };

  let host = "";
  const server = http.createServer((req, res) => {
    res.on("error", () => {});
    const url = req.url ?? "/";
    if (url === "/v2/" || url === "/v2") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
    if (url.startsWith("/token")) return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "never-enough", expires_in: 300 }));
    const m = new RegExp(`^/v2/${repo}/(manifests|blobs)/([^/?]+)$`).exec(url);
    if (m === null) return void res.writeHead(404).end();
    const [, kind, ref] = m as unknown as [string, string, string];
    if (kind === "manifests") {
      if (ref === "latest") return send(req, res, "tag", image.manifest, "application/vnd.oci.image.manifest.v1+json");
      const body = image.blobs.get(ref);
      if (body === undefined || ref !== image.manifestDigest) return void res.writeHead(404).end();
      return send(req, res, "manifestByDigest", body, "application/vnd.oci.image.manifest.v1+json");
    }
    const body = image.blobs.get(ref);
    if (body === undefined) return void res.writeHead(404).end();
    return send(req, res, ref === image.configDigest ? "config" : "layer", body, "application/octet-stream");
  });
  host = await listen(server);
  return {
    host,
    setScenario: (s) => {
      scenario = s;
      attempts = new Map();
    },
    leakedLogins: () => leaked,
    stop: async () => {
      server.closeAllConnections();
      other.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => other.close(r))]);
    },
  };
};
