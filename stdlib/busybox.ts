/**
 * BusyBox: one static binary that provides a shell and the usual commands, linked as
 * applets. Written with lading's public API only.
 */
import { Entry, Layer } from "lading";

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
  /** Host path of a static busybox; default Debian's busybox-static, `/bin/busybox`. */
  readonly source?: string;
  readonly applets?: ReadonlyArray<string>;
}

/**
 * A layer with `/bin/busybox` and a symlink per applet in `/bin`.
 *
 * @category constructors
 */
export const busybox = (options: BusyboxOptions = {}): Layer.Layer =>
  Layer.generated("busybox", () => [
    Entry.copy(options.source ?? "/bin/busybox", "/bin/busybox", { mode: 0o755 }),
    ...(options.applets ?? defaultApplets).map((applet) => Entry.symlink(`/bin/${applet}`, "busybox")),
  ]);
