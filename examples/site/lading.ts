/**
 * A static web site served by BusyBox httpd as a non-root user. The layers go from what
 * changes least to what changes most: the server, the users, then the site's files, so
 * an edit to a page rebuilds only the last layer.
 */
import { Entry, Image, Layer, pipe } from "lading";
import { busybox, users } from "lading/stdlib";

const www = { name: "www", uid: 1000, gid: 1000, home: "/home/www", createHome: true } as const;

const files = Layer.make("site", [
  Entry.copy("public", "/srv/www", { exclude: ["**/*.draft.html", "**/.*"] }),
]);

export const site = pipe(
  Image.scratch,
  Image.withLayers(busybox(), users([www]), files),
  Image.withEnv({ PATH: "/bin", PORT: "8080" }),
  Image.withUser("www"),
  Image.withWorkingDir("/srv/www"),
  Image.withExposedPorts("8080/tcp"),
  Image.withEntrypoint(["/bin/httpd", "-f", "-v", "-p", "8080", "-h", "/srv/www"]),
  Image.withStopSignal("SIGTERM"),
  Image.withLabels({ "org.opencontainers.image.title": "site", "org.opencontainers.image.description": "A static site served by BusyBox httpd" }),
);
