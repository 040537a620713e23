/**
 * An API endpoint in Python with Flask, redis and psycopg, from Debian packages: the
 * minimal Debian base, then Python and the libraries in a layer of their own, then the
 * application. Run it next to the redis example (same network namespace, or REDIS_HOST).
 * Python's byte code is not compiled ahead (the packages' postinst would run py3compile):
 * Python compiles what it imports, in memory, as the image is read-only to it.
 */
import { Debian, Entry, Image, Layer, pipe } from "lading";
import { debianBase, users } from "lading/stdlib";

const app = Layer.make("app", [Entry.copy("app.py", "/app/app.py")]);

export const api = pipe(
  Image.scratch,
  Image.withLayer(debianBase()),
  Image.withPackages(Debian.packages(Debian.bookworm, ["python3", "python3-flask", "python3-redis", "python3-psycopg2"]), "python"),
  Image.withLayers(users([{ name: "api", uid: 1000 }]), app),
  Image.withUser("api"),
  Image.withEnv({ PYTHONDONTWRITEBYTECODE: "1", PORT: "8000" }),
  Image.withExposedPorts("8000/tcp"),
  Image.withEntrypoint(["/usr/bin/python3", "/app/app.py"]),
  Image.withLabels({ "org.opencontainers.image.title": "api" }),
);
