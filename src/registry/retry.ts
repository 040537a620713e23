/**
 * How a registry or archive request fails: a verdict (a DiagnosticError: a refusal, a
 * digest that does not match) is final; anything else (a dropped connection, a 5xx
 * answer, a body cut off) is tried again, waiting longer each time.
 */
import type { Reference } from "../core/index.ts";
import { DiagnosticError, failAt, formatReference } from "../core/index.ts";

/** Tries of one request before it fails. */
export const ATTEMPTS = 4;

/** A request that failed on every attempt: the network or the server, not a verdict. */
export class TransientError extends DiagnosticError {}

/** The wait before attempt `n` + 1 (from 1): 200 ms, doubling. */
export const backoff = (n: number): Promise<void> => new Promise((r) => setTimeout(r, 200 * 2 ** (n - 1)));

/** An error's message, with its cause's when it has one (Node's fetch errors hide the reason there). */
export const describeError = (e: unknown): string => {
  const cause = (e as { cause?: Error }).cause;
  return `${(e as Error).message}${cause === undefined ? "" : ` (${cause.message})`}`;
};

/** Throws a diagnostic placed at the registry repository `ref`. */
export const failFor = (ref: Reference, message: string, hint?: string): never => failAt(`docker://${formatReference(ref)}`, message, hint);

/**
 * Runs `f` until it succeeds, at most {@link ATTEMPTS} times, with backoff; a verdict
 * is thrown at once, and the last of other failures goes to `exhausted`.
 *
 * @category combinators
 */
export const retrying = async <A>(f: () => Promise<A>, exhausted: (e: unknown) => never): Promise<A> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      if (e instanceof DiagnosticError) throw e;
      if (attempt >= ATTEMPTS) return exhausted(e);
      await backoff(attempt);
    }
  }
};
