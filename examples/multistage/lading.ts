/**
 * A multi-stage build: a build image renders the pages in pages/ (bind-mounted, so they
 * are part of the step's cache key but never of a layer) into HTML with BusyBox's text
 * tools, and the runtime image takes only the rendered directory, as Dockerfile's
 * `COPY --from` does. None of the build image's layers is in the runtime image.
 */
import { Entry, Image, Layer, Mount, pipe } from "lading";
import { busybox } from "lading/stdlib";

const render = [
  "mkdir -p /out",
  "for f in /src/*.txt; do n=$(basename \"$f\" .txt); { echo \"<!doctype html><title>$n</title><pre>\"; sed -e 's/&/\\&amp;/g' -e 's/</\\&lt;/g' -e 's/>/\\&gt;/g' \"$f\"; echo '</pre>'; } > /out/$n.html; done",
  "cd /out && sha256sum *.html > SHA256SUMS",
].join(" && ");

/** The build image: a shell and text tools, nothing else. */
export const builder = pipe(
  Image.scratch,
  Image.withLayer(busybox({ applets: ["sh", "basename", "echo", "mkdir", "sed", "sha256sum"] })),
  Image.withEnv({ PATH: "/bin" }),
  Image.runShell(render, { name: "render", mounts: [Mount.bind("pages", "/src")] }),
);

/** The runtime image: a web server and the rendered pages. */
export const web = pipe(
  Image.scratch,
  Image.withLayers(
    busybox({ applets: ["httpd", "sh", "cat", "wget", "sleep"] }),
    Layer.make("pages", [Entry.fromImage(builder, "/out", "/srv/www")]),
  ),
  Image.withEnv({ PATH: "/bin" }),
  Image.withExposedPorts("8080/tcp"),
  Image.withEntrypoint(["/bin/httpd", "-f", "-p", "8080", "-h", "/srv/www"]),
);
