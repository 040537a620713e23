/**
 * A run step that creates a user and gives it a directory, as `RUN adduser ... && chown`
 * does: the step's layer holds the changed /etc/passwd, /etc/group and /etc/shadow, the
 * new home and the data directory with its new owner. Debian's static BusyBox has no
 * adduser applet, so the step writes the three lines adduser would.
 */
import { Entry, Image, Layer, pipe } from "lading";
import { busybox } from "lading/stdlib";

const etc = Layer.make("etc", [
  Entry.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
  Entry.file("/etc/group", "root:x:0:\n"),
  Entry.file("/etc/shadow", "root:*:0:0:99999:7:::\n", { mode: 0o640 }),
]);

export const app = pipe(
  Image.scratch,
  Image.withLayers(busybox({ applets: ["sh", "chown", "mkdir", "id", "ls", "cat", "echo"] }), etc),
  Image.withEnv({ PATH: "/bin" }),
  Image.runShell(
    [
      "echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd",
      "echo 'app:x:1000:' >> /etc/group",
      "echo 'app:!:0:0:99999:7:::' >> /etc/shadow",
      "mkdir -p /home/app /data",
      "echo 'written by root, owned by app' > /data/greeting",
      "chown -R app:app /home/app /data",
    ].join(" && "),
    { name: "add-user" },
  ),
  Image.withUser("app"),
  Image.withWorkingDir("/data"),
  Image.withCmd(["/bin/sh", "-c", "id; ls -ln /data; cat /data/greeting"]),
);
