/**
 * A static web site served by nginx, from Debian packages: the minimal Debian base, then
 * nginx and what it depends on, then the site's configuration and pages. Each package
 * set is a layer of its own, so the base is shared with every other Debian example and a
 * page edit rebuilds only the last layer.
 */
import { Debian, Entry, Image, Layer, pipe } from "lading";
import { busybox, debianBase, users } from "lading/stdlib";

const site = Layer.make("site", [
  Entry.copy("nginx.conf", "/etc/nginx/nginx.conf"),
  Entry.copy("public", "/srv/www"),
]);

export const nginx = pipe(
  Image.scratch,
  Image.withLayers(debianBase(), busybox()),
  Image.withPackages(Debian.packages(Debian.bookworm, ["nginx"]), "nginx"),
  // The package's postinst would add www-data with adduser: here it is data.
  Image.withLayers(users([{ name: "www-data", uid: 33, home: "/var/www", shell: "/usr/sbin/nologin" }]), site),
  Image.withExposedPorts("8080/tcp"),
  Image.withStopSignal("SIGQUIT"),
  Image.withEntrypoint(["/usr/sbin/nginx"]),
  Image.withLabels({ "org.opencontainers.image.title": "nginx" }),
);
