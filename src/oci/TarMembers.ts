/**
 * Reading a tar member by member, as every unpacker does (an image archive, a layer into
 * a bundle or a run step's lower directory).
 */
import type * as tar from "tar-stream";

/**
 * Runs `handle` for each member of `extract`, one at a time; the member's stream is then
 * drained and the next one read, or the extract fails with what `handle` threw. A member
 * stream's own error (a failure mid-member destroys it too) is heard here and reported by
 * the pipeline the extract is part of, so it never goes unhandled and crashes the process.
 *
 * @category destructors
 */
export const eachMember = (extract: tar.Extract, handle: (header: tar.Header, stream: tar.ExtractEvents["entry"][1]) => Promise<void>): void => {
  extract.on("entry", (header, stream, next) => {
    stream.on("error", () => {});
    const done = (e?: unknown): void => {
      stream.resume();
      next(e as Error | undefined);
    };
    handle(header, stream).then(() => done(), done);
  });
};
