/**
 * Sending a blob: mounted from another repository of the same registry when it has it,
 * else uploaded in one PUT or, past the chunk size, in PATCH requests that resume where
 * the registry stopped. A session spoiled by a cut-off request is started again; a lost
 * answer to the completing PUT is settled by asking whether the registry has the blob.
 */
import type { Digest } from "../core/index.ts";
import { DiagnosticError } from "../core/index.ts";
import type { Body, RequestInit } from "./client.ts";
import type { HttpResponse } from "./http.ts";
import { ATTEMPTS, backoff, failFor, TransientError } from "./retry.ts";
import type { Reference } from "../core/index.ts";

/**
 * Blobs up to this size go in one PUT. Larger ones go as PATCH requests that can resume
 * where the registry stopped: one for the whole blob unless a chunk size is given.
 */
const MONOLITHIC = 32 << 20;

/** How an uploader speaks to its repository: one request, logged in and retried. */
export interface Requests {
  readonly ref: Reference;
  /** The registry API's origin. */
  readonly base: string;
  request(method: string, url: string, init: RequestInit): Promise<HttpResponse>;
}

/**
 * Blob uploads to `r`'s repository, in requests of at most `chunkSize` bytes.
 *
 * @category constructors
 */
export const uploader = (r: Requests, chunkSize: number) => {
  const { ref, base, request } = r;
  const fail = (message: string, hint?: string): never => failFor(ref, message, hint);
  const v2 = `/v2/${ref.repository}`;

  const uploadLocation = (res: HttpResponse): URL => {
    const location = res.header("location");
    if (location === undefined) return fail("the registry answered an upload without a location");
    const url = new URL(location, base);
    if (new URL(base).protocol === "https:" && url.protocol !== "https:") return fail(`the registry named a plain http upload location (${url.origin}): refused`);
    return url;
  };

  const hasBlobNow = (digest: Digest): Promise<boolean> =>
    request("HEAD", `${v2}/blobs/${digest}`, { ok: [200, 404], push: true }).then(
      (res) => res.status === 200,
      () => false,
    );

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

  const startSession = async (): Promise<URL> => {
    const started = await request("POST", `${v2}/blobs/uploads/`, { ok: [202], push: true });
    started.discard();
    return uploadLocation(started);
  };

  /**
   * One PUT a session. A PUT cut off or unanswered spoils its session (the registry kept
   * part of the bytes, or closed it): unless the registry has the blob after all, the
   * upload starts again in a new one.
   */
  const putWhole = async (digest: Digest, body: Body, start: URL): Promise<void> => {
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
      if (session >= ATTEMPTS) return fail(`the upload of blob ${digest} failed in ${ATTEMPTS} sessions: ${failure}`);
      await backoff(session);
      location = await startSession();
    }
  };

  /** PATCH requests of `chunkSize` bytes; after a failure, on from what the registry says it has. */
  const patchChunks = async (digest: Digest, body: { readonly file: string; readonly start?: number; readonly size: number }, start: URL): Promise<void> => {
    let location = start;
    let offset = 0;
    let failures = 0;
    let restarts = 0;
    while (offset < body.size) {
      const n = Math.min(chunkSize, body.size - offset);
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
          return fail(`the upload of blob ${digest} failed after ${ATTEMPTS} attempts: ${e.diagnostics[0]?.message ?? ""}`);
        }
        await backoff(failures);
        // Ask how much arrived, and go on from there. "0-0" is ambiguous (nothing, or
        // one byte), as is a session the registry forgot: then start a new one.
        const status = await request("GET", location.toString(), { ok: [204], push: true }).catch(() => undefined);
        status?.discard();
        const range = /^0-([0-9]+)$/.exec(status?.header("range") ?? "");
        if (status === undefined || range === null || range[1] === "0") {
          if (++restarts >= ATTEMPTS) return fail(`the upload of blob ${digest} was lost by the registry ${ATTEMPTS} times`);
          location = await startSession();
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
    if (location !== undefined) await request("DELETE", new URL(location, base).toString(), { ok: [204, 404], push: true, retry: false }).then((d) => d.discard(), () => undefined);
    return false;
  };

  return {
    mountBlob,
    pushBlob: async (digest: Digest, body: Body, mountFrom?: string): Promise<"mounted" | "uploaded"> => {
      if (mountFrom !== undefined && mountFrom !== ref.repository && (await mountBlob(digest, mountFrom))) return "mounted";
      const start = await startSession();
      if ("bytes" in body || (body.size <= MONOLITHIC && body.size <= chunkSize)) await putWhole(digest, body, start);
      else await patchChunks(digest, body, start);
      return "uploaded";
    },
  };
};
