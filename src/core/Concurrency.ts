/**
 * Bounded concurrency for I/O-bound work: a few transfers at once, not one at a time and
 * not all at once.
 */

/**
 * Runs `f` on every item, at most `limit` at a time; rejects with the first failure
 * once the running calls have settled.
 *
 * @category destructors
 */
export const forEachLimit = async <A>(items: ReadonlyArray<A>, limit: number, f: (a: A) => Promise<void>): Promise<void> => {
  let next = 0;
  let failure: { readonly error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await f(item);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
};
