/**
 * A user database with PostgreSQL, from Debian packages. The package's postinst would
 * create the cluster (pg_createcluster); maintainer scripts do not run, so the entrypoint
 * makes one with initdb at the first start, in /var/lib/postgresql/data (a volume). Once
 * run steps exist, a run step can make the cluster at build time instead.
 */
import { Debian, Entry, Image, Layer, pipe } from "lading";
import { busybox, debianBase, users } from "lading/stdlib";

const BIN = "/usr/lib/postgresql/15/bin";
const DATA = "/var/lib/postgresql/data";

const start = Layer.make("start", [
  Entry.executable(
    "/usr/local/bin/start-postgres",
    `#!/bin/sh
set -e
if [ ! -s ${DATA}/PG_VERSION ]; then
  ${BIN}/initdb -D ${DATA} -U postgres --auth=trust --locale=C.UTF-8 -E UTF8 >/dev/null
  echo "listen_addresses = '*'" >> ${DATA}/postgresql.conf
  echo "unix_socket_directories = '/tmp'" >> ${DATA}/postgresql.conf
  echo "host all all 0.0.0.0/0 trust" >> ${DATA}/pg_hba.conf
fi
exec ${BIN}/postgres -D ${DATA}
`,
  ),
  Entry.directory(DATA, { mode: 0o700, uid: 999, gid: 999 }),
]);

export const postgres = pipe(
  Image.scratch,
  // initdb runs the server through /bin/sh: BusyBox provides it.
  Image.withLayers(debianBase(), busybox({ applets: ["sh", "echo", "test", "["] })),
  Image.withPackages(Debian.packages(Debian.bookworm, ["postgresql-15"]), "postgresql"),
  Image.withLayers(users([{ name: "postgres", uid: 999, home: "/var/lib/postgresql" }]), start),
  Image.withUser("postgres"),
  Image.withEnv({ PATH: `${BIN}:/usr/bin:/bin` }),
  Image.withVolumes(DATA),
  Image.withExposedPorts("5432/tcp"),
  Image.withStopSignal("SIGINT"),
  Image.withEntrypoint(["/usr/local/bin/start-postgres"]),
  Image.withLabels({ "org.opencontainers.image.title": "postgres" }),
);
