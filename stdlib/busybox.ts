/**
 * BusyBox: one static binary that provides a shell and the usual commands, linked as
 * applets. Written with lading's public API only.
 */
import { Debian, Entry, Layer } from "lading";

/**
 * The applets linked by default: enough for a shell, scripts and a small web server.
 *
 * @category instances
 */
export const defaultApplets: ReadonlyArray<string> = [
  "cat", "echo", "env", "httpd", "id", "ls", "mkdir", "printf", "ps", "rm", "sh", "sleep", "test", "wget",
];

/**
 * Options of {@link busybox}.
 *
 * @category model
 */
export interface BusyboxOptions {
  /**
   * Host path of a static busybox. Left out, `/bin/busybox` comes from Debian's
   * `busybox-static` package of `archive` (fetched, verified and pinned in lading.lock),
   * so no host file is needed.
   */
  readonly source?: string;
  /** The archive busybox-static comes from; default Debian 12. */
  readonly archive?: Debian.Archive;
  readonly applets?: ReadonlyArray<string>;
}

/**
 * A layer with `/bin/busybox` and a symlink per applet in `/bin`.
 *
 * @category constructors
 */
export const busybox = (options: BusyboxOptions = {}): Layer.Layer =>
  Layer.generated("busybox", () => [
    options.source === undefined
      ? Debian.file("/bin/busybox", options.archive ?? Debian.bookworm, "busybox-static", "/bin/busybox", { mode: 0o755 })
      : Entry.copy(options.source, "/bin/busybox", { mode: 0o755 }),
    ...(options.applets ?? defaultApplets).map((applet) => Entry.symlink(`/bin/${applet}`, "busybox")),
  ]);
