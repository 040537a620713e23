/**
 * The smallest useful image: BusyBox from Debian's busybox-static package (pinned in
 * lading.lock), and a greeting printed when the container runs.
 */
import { Entry, Image, Layer, pipe } from "lading";
import { busybox } from "lading/stdlib";

const greeting = Layer.make("greeting", [Entry.file("/etc/greeting", "Hello from lading!\n")]);

export const hello = pipe(
  Image.scratch,
  Image.withLayers(busybox({ applets: ["cat", "echo", "sh"] }), greeting),
  Image.withEnv({ PATH: "/bin" }),
  Image.withEntrypoint(["/bin/cat"]),
  Image.withCmd(["/etc/greeting"]),
  Image.withLabels({ "org.opencontainers.image.title": "hello" }),
);
