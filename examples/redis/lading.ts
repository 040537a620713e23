/**
 * A queue with redis, from Debian packages: the minimal Debian base, then redis-server
 * (with redis-cli) in a layer of its own, run as the redis user without persistence.
 */
import { Debian, Image, pipe } from "lading";
import { debianBase, users } from "lading/stdlib";

export const redis = pipe(
  Image.scratch,
  Image.withLayer(debianBase()),
  Image.withPackages(Debian.packages(Debian.bookworm, ["redis-server"]), "redis"),
  // The package's postinst adds the redis user: here it is data.
  Image.withLayer(users([{ name: "redis", uid: 999, home: "/var/lib/redis", shell: "/usr/sbin/nologin" }])),
  Image.withUser("redis"),
  Image.withExposedPorts("6379/tcp"),
  Image.withEntrypoint(["/usr/bin/redis-server"]),
  Image.withCmd(["--port", "6379", "--bind", "0.0.0.0", "--save", "", "--appendonly", "no", "--dir", "/tmp"]),
  Image.withLabels({ "org.opencontainers.image.title": "redis" }),
);
