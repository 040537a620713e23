/**
 * A Dockerfile, parsed by dockerfile-ast, translated into the parts of a lading spec:
 * the parameters its ARGs become, and per stage the steps of a `pipe`, as TypeScript
 * expressions. What has no lading form becomes a comment holding the original line,
 * and a warning. The build context is read only to tell files from directories and to
 * expand wildcards, through a reader the caller gives.
 */
import * as path from "node:path/posix";
import { DockerfileParser } from "dockerfile-ast";
import type { Flag, Instruction } from "dockerfile-ast";
import picomatch from "picomatch";

/**
 * What the translation reads of the build context (the Dockerfile's directory), by
 * paths relative to it.
 *
 * @category model
 */
export interface ContextReader {
  readonly kind: (rel: string) => "file" | "dir" | undefined;
  readonly list: (dirRel: string) => ReadonlyArray<string>;
  /** The patterns of `.dockerignore`, if there is one. */
  readonly ignore: ReadonlyArray<string>;
}

/**
 * One step of a stage's pipe: a TypeScript expression, or a comment for what has no
 * lading form.
 *
 * @category model
 */
export type Step = { readonly _tag: "Expr"; readonly code: string } | { readonly _tag: "Comment"; readonly text: string };

/**
 * A build stage: the identifier of its constant, the expression it starts from and its
 * steps.
 *
 * @category model
 */
export interface Stage {
  readonly ident: string;
  readonly from: string;
  readonly steps: ReadonlyArray<Step>;
}

/**
 * A translated Dockerfile: the ARGs as parameters (name and default), the stages in
 * order (the last is the image a `docker build` makes), which lading modules the code
 * uses, and the warnings, each with the Dockerfile's line.
 *
 * @category model
 */
export interface Translation {
  readonly params: ReadonlyArray<{ readonly name: string; readonly default: string }>;
  readonly stages: ReadonlyArray<Stage>;
  readonly uses: ReadonlySet<string>;
  readonly warnings: ReadonlyArray<{ readonly line: number; readonly message: string }>;
}

const RESERVED = new Set(
  "break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await args".split(" "),
);

/** A stage name as a TypeScript identifier: `build-env` is `buildEnv`. */
const identOf = (name: string, taken: ReadonlySet<string>): string => {
  let id = name.replace(/[^A-Za-z0-9_$]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase());
  if (id === "" || /^[0-9]/.test(id)) id = `stage${id}`;
  if (RESERVED.has(id)) id = `${id}Stage`;
  let out = id;
  for (let i = 2; taken.has(out); i++) out = `${id}${i}`;
  return out;
};

/** A string as a TS literal; ARG references (`$NAME`, `${NAME}`) become `${args.NAME}`. */
const literal = (text: string, args: ReadonlySet<string>): string => {
  const re = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;
  let uses = false;
  let out = "";
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const name = m[1] ?? m[2]!;
    if (!args.has(name)) continue;
    uses = true;
    out += text.slice(last, m.index).replace(/[`\\]|\$\{/g, (s) => `\\${s}`) + `\${args.${name}}`;
    last = m.index + m[0].length;
  }
  if (!uses) return JSON.stringify(text);
  return `\`${out}${text.slice(last).replace(/[`\\]|\$\{/g, (s) => `\\${s}`)}\``;
};

/** A property name: as it is when it is an identifier, else quoted. */
const key = (name: string): string => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name));

/** A registry reference with its host, as `Image.pull` wants: `node:20` is `docker.io/library/node:20`. */
const withRegistry = (image: string): string => {
  const first = image.split("/")[0]!;
  // A host from an ARG is the argument's business: the parameter must name one.
  if (first.includes("$")) return image;
  if (image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) return image;
  return image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`;
};

/** The text of a range of lines and characters. */
const textOf = (lines: ReadonlyArray<string>, r: { start: { line: number; character: number }; end: { line: number; character: number } }): string => {
  if (r.start.line === r.end.line) return lines[r.start.line]!.slice(r.start.character, r.end.character);
  return [lines[r.start.line]!.slice(r.start.character), ...lines.slice(r.start.line + 1, r.end.line), lines[r.end.line]!.slice(0, r.end.character)].join("\n");
};

const SIGNAL_NUMBERS: Record<string, string> = { "1": "SIGHUP", "2": "SIGINT", "3": "SIGQUIT", "9": "SIGKILL", "10": "SIGUSR1", "12": "SIGUSR2", "15": "SIGTERM", "28": "SIGWINCH" };

const PLATFORMS: Record<string, string> = { "linux/amd64": "Platform.linuxAmd64", "linux/arm64": "Platform.linuxArm64", "linux/arm64/v8": "Platform.linuxArm64" };

/** A Dockerfile `.dockerignore` pattern, made relative to a copied directory. */
const ignoreFor = (patterns: ReadonlyArray<string>, sourceRel: string): ReadonlyArray<string> => {
  const prefix = sourceRel === "." || sourceRel === "" ? "" : `${sourceRel.replace(/\/$/, "")}/`;
  const out: string[] = [];
  for (const raw of patterns) {
    const p = raw.replace(/^\.?\//, "").replace(/\/$/, "");
    if (p.startsWith("**")) out.push(p);
    else if (prefix === "") out.push(p);
    else if (p.startsWith(prefix)) out.push(p.slice(prefix.length));
  }
  return out;
};

/**
 * A property name as generated code writes it.
 *
 * @category destructors
 */
export { key as propertyKey };

/**
 * Translates the Dockerfile `text`, whose build context `context` reads.
 *
 * @category destructors
 */
export const translateDockerfile = (text: string, context: ContextReader): Translation => {
  const dockerfile = DockerfileParser.parse(text);
  const lines = text.split(/\r?\n/);
  const warnings: { line: number; message: string }[] = [];
  const uses = new Set<string>(["Image", "pipe"]);
  const params = new Map<string, string>();
  const argNames = new Set<string>();
  const stages: Stage[] = [];
  const stageIdents = new Map<string, string>();
  const taken = new Set<string>();
  const negations = context.ignore.filter((p) => p.startsWith("!"));
  if (negations.length > 0) warnings.push({ line: 0, message: `.dockerignore exceptions (${negations.join(", ")}) are not carried over: those paths stay excluded` });
  const ignore = context.ignore.filter((p) => !p.startsWith("!") && p.trim() !== "" && !p.startsWith("#"));

  let steps: Step[] | undefined;
  let workdir = "/";
  let shell: ReadonlyArray<string> = ["/bin/sh", "-c"];
  let layerNames = new Set<string>();
  // The directories the stage has so far, when it knows them all (on scratch): a COPY
  // with --chown makes the missing parents of its destination owned by that user, as
  // Docker does, so they are written as entries with that owner.
  let made: Set<string> | undefined;
  const madeByStage = new Map<string, ReadonlySet<string> | undefined>();
  const ancestors = (p: string): string[] => {
    const out: string[] = [];
    for (let d = path.dirname(p); d !== "/" && d !== "."; d = path.dirname(d)) out.unshift(d);
    return out;
  };
  let current: { ident: string; from: string } | undefined;

  // What a stage built on another inherits: its working directory and shell.
  const inherited = new Map<string, { readonly workdir: string; readonly shell: ReadonlyArray<string> }>();
  const finish = (): void => {
    if (current !== undefined && steps !== undefined) {
      stages.push({ ...current, steps });
      inherited.set(current.ident, { workdir, shell });
      madeByStage.set(current.ident, made);
    }
  };
  const untranslated = (i: Instruction, why: string): void => {
    const line = i.getRange().start.line + 1;
    warnings.push({ line, message: `${i.getKeyword()} ${why}: kept as a comment` });
    steps?.push({ _tag: "Comment", text: `line ${line}: ${textOf(lines, i.getRange())}  (${why})` });
  };
  const expr = (code: string): void => {
    steps?.push({ _tag: "Expr", code });
  };
  const layerName = (base: string): string => {
    const clean = base.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "files";
    let name = clean;
    for (let i = 2; layerNames.has(name); i++) name = `${clean}-${i}`;
    layerNames.add(name);
    return name;
  };
  // Normalized, without a trailing slash: lading's paths name what is there, not how.
  const absolute = (p: string): string => path.normalize(path.isAbsolute(p) ? p : path.join(workdir, p)).replace(/(.)\/+$/, "$1");
  const flagValue = (flags: ReadonlyArray<Flag>, name: string): string | undefined => flags.find((f) => f.getName() === name)?.getValue() ?? undefined;

  const copy = (i: Instruction & { getFlags(): Flag[] }, keyword: "COPY" | "ADD"): void => {
    const flags = i.getFlags();
    const line = i.getRange().start.line + 1;
    for (const f of flags) {
      if (!["from", "chown", "chmod", "link", ...(keyword === "ADD" ? ["checksum"] : [])].includes(f.getName())) return untranslated(i, `--${f.getName()} has no lading form`);
    }
    const attrs: string[] = [];
    const chown = flagValue(flags, "chown");
    if (chown !== undefined) {
      const m = /^([0-9]+)(?::([0-9]+))?$/.exec(chown);
      if (m === null) return untranslated(i, "--chown by name needs the image's /etc/passwd: give numeric ids");
      attrs.push(`uid: ${m[1]}`, `gid: ${m[2] ?? m[1]}`);
    }
    const chmod = flagValue(flags, "chmod");
    if (chmod !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmod)) return untranslated(i, `--chmod=${chmod} is not an octal mode`);
      attrs.push(`mode: 0o${chmod.replace(/^0/, "")}`);
    }
    // Heredocs: COPY <<EOF /dest holds the content inline.
    const heredocs = (i as unknown as { getHeredocs(): Array<{ getName(): string; getContentRange(): Parameters<typeof textOf>[1] | null }> }).getHeredocs();
    const rawArgs = i.getArguments().map((a) => a.getValue());
    if (heredocs.length > 0) {
      const dest = rawArgs.find((a, k) => k > 0 && !a.startsWith("<<") && rawArgs[k - 1]!.startsWith("<<"));
      if (dest === undefined) return untranslated(i, "a heredoc without a destination");
      const entries = heredocs.map((h) => {
        const range = h.getContentRange();
        const content = range === null ? "" : `${textOf(lines, range)}\n`;
        const target = heredocs.length === 1 && !dest.endsWith("/") ? absolute(dest) : path.join(absolute(dest), h.getName());
        return `Entry.file(${literal(target, argNames)}, ${JSON.stringify(content)}${attrs.length > 0 ? `, { ${attrs.join(", ")} }` : ""})`;
      });
      uses.add("Layer").add("Entry");
      expr(`Image.withLayer(Layer.make(${JSON.stringify(layerName(path.basename(dest) || "files"))}, [${entries.join(", ")}]))`);
      return;
    }
    // The JSON form, for names with spaces: parsed here, as the parser drops spaces in it
    // under a non-default escape character.
    const words = argv(i, true) ?? rawArgs;
    if (words.length < 2) return untranslated(i, "needs a source and a destination");
    const sources = words.slice(0, -1);
    const destRaw = words[words.length - 1]!;
    if (/\$/.test(destRaw.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (s, n: string) => (argNames.has(n) ? "" : s)))) {
      return untranslated(i, "its destination uses an environment variable lading does not expand in paths");
    }
    const dest = absolute(destRaw);
    const intoDir = destRaw.endsWith("/") || sources.length > 1 || destRaw === "." ;
    const from = flagValue(flags, "from");
    const entries: string[] = [];
    const targets: string[] = [];
    const attrText = attrs.length > 0 ? `, { ${attrs.join(", ")} }` : "";
    if (from !== undefined) {
      const stage = stageIdents.get(from.toLowerCase());
      const fromExpr = stage ?? `Image.pull(${JSON.stringify(withRegistry(from))})`;
      for (const s of sources) {
        const src = path.normalize(path.isAbsolute(s) ? s : `/${s}`);
        // A directory's contents land at the destination; a file lands in it when it is
        // a directory. Which one the source is, only the other image knows: a trailing
        // slash on the destination says "into".
        // Only the other image knows whether a source is a file or a directory; a name
        // with an extension is taken for a file, and said so.
        const looksLikeFile = /\.[A-Za-z0-9]+$/.test(path.basename(src));
        const target = intoDir && (looksLikeFile || sources.length > 1) ? path.join(dest, path.basename(src)) : dest;
        entries.push(`Entry.fromImage(${fromExpr}, ${literal(src, argNames)}, ${literal(target, argNames)}${attrText})`);
        targets.push(target);
        if (intoDir) warnings.push({ line, message: `COPY --from: ${src} taken for a ${looksLikeFile || sources.length > 1 ? "file, copied into" : "directory, whose contents go to"} ${dest}: check it` });
      }
      warnings.push({ line, message: "COPY --from becomes Entry.fromImage, which needs lading's run steps" });
    } else {
      const checksum = flagValue(flags, "checksum");
      if (keyword === "ADD" && sources.some((s) => /^[a-z]+:\/\//.test(s) || s.startsWith("git@"))) {
        const url = sources[0]!;
        if (sources.length > 1 || !/^https?:\/\//.test(url)) return untranslated(i, "of a git repository or of several URLs has no lading form: fetch each file by its URL and sha256");
        if (checksum === undefined) return untranslated(i, "of a URL without --checksum cannot be pinned: add --checksum=sha256:<hex of the file> (sha256sum prints it) and import again");
        if (!/^sha256:[0-9a-f]{64}$/.test(checksum)) return untranslated(i, `--checksum=${checksum} is not a sha256:<64 hex digits>`);
        // As Docker does: into a directory (a trailing slash) under the URL's last name;
        // the file is not extracted, whatever it holds.
        const name = URL.canParse(url) ? path.basename(new URL(url).pathname) : "";
        if (intoDir && name === "") return untranslated(i, "of a URL without a file name, into a directory");
        const target = intoDir ? path.join(dest, name) : dest;
        entries.push(`Entry.fetch(${literal(url, argNames)}, ${literal(target, argNames)}, { sha256: ${JSON.stringify(checksum)}${attrs.length > 0 ? `, ${attrs.join(", ")}` : ""} })`);
        targets.push(target);
        if (chmod === undefined) warnings.push({ line, message: "ADD of a URL: the file is 0644 in lading, where Docker makes it 0600: add --chmod=600 to keep Docker's" });
      }
      if (checksum !== undefined && entries.length === 0) return untranslated(i, "--checksum applies only to a URL");
      for (const s of entries.length > 0 ? [] : sources) {
        const rel = path.normalize(s.replace(/^\/+/, "")).replace(/(.)\/+$/, "$1");
        if (rel.startsWith("..")) return untranslated(i, `source ${s} is outside the build context`);
        const matches = /[*?[]/.test(rel)
          ? context
              .list(path.dirname(rel))
              .filter((n) => picomatch(path.basename(rel), { dot: true })(n))
              .map((n) => path.join(path.dirname(rel), n))
              .sort()
          : [rel];
        if (matches.length === 0) return untranslated(i, `no file of the context matches ${s}`);
        for (const m of matches) {
          const kind = context.kind(m);
          if (kind === undefined) return untranslated(i, `${m} is not in the build context`);
          if (keyword === "ADD" && kind === "file" && /\.(tar\.bz2|tbz2)$/.test(m)) {
            return untranslated(i, "of a bzip2 archive (which Docker extracts) has no lading form: recompress it with gzip, xz or zstd");
          }
          if (keyword === "ADD" && kind === "file" && /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst|tzst)$/.test(m)) {
            // Docker extracts a local archive into the destination, a directory.
            entries.push(`Entry.archive(${literal(m, argNames)}, ${literal(dest, argNames)}${attrText})`);
            targets.push(dest);
            continue;
          }
          // As Docker does: a directory's contents land at the destination, a file in it
          // when it is a directory (a trailing slash, or several sources).
          const target = kind === "dir" ? dest : intoDir ? path.join(dest, path.basename(m)) : dest;
          const exclude = kind === "dir" ? ignoreFor(ignore, m) : [];
          const opts = [...attrs, ...(exclude.length > 0 ? [`exclude: ${JSON.stringify(exclude)}`] : [])];
          entries.push(`Entry.copy(${literal(m === "" ? "." : m, argNames)}, ${literal(target, argNames)}${opts.length > 0 ? `, { ${opts.join(", ")} }` : ""})`);
          targets.push(target);
        }
      }
    }
    // The parents the copy makes: owned by --chown's user when the stage lacks them.
    const parents: string[] = [];
    for (const t of targets) {
      for (const d of ancestors(t)) {
        if (made !== undefined && !made.has(d) && chown !== undefined) parents.push(d);
        made?.add(d);
      }
      made?.add(t);
    }
    const owner = attrs.filter((a) => a.startsWith("uid") || a.startsWith("gid")).join(", ");
    const dirs = [...new Set(parents)].map((d) => `Entry.directory(${literal(d, argNames)}, { ${owner} })`);
    uses.add("Layer").add("Entry");
    expr(`Image.withLayer(Layer.make(${JSON.stringify(layerName(dest === "/" ? "root" : path.basename(dest)))}, [${[...dirs, ...entries].join(", ")}]))`);
  };

  function argv(i: Instruction, skipFlags = false): ReadonlyArray<string> | undefined {
    const json = (i as unknown as { getJSONStrings?(): Array<{ getJSONValue(): string }> }).getJSONStrings?.() ?? [];
    const raw = i.getArgumentsContent() ?? "";
    const content = skipFlags ? raw.replace(/^(\s*--\S+)*\s*/, "") : raw;
    if (json.length > 0 || /^\s*\[/.test(content)) {
      try {
        const parsed: unknown = JSON.parse(content);
        if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) return parsed as string[];
      } catch {
        // Not JSON after all: Docker runs it as a shell command, as below.
      }
    }
    return undefined;
  }
  const stringArray = (a: ReadonlyArray<string>): string => `[${a.map((s) => literal(s, argNames)).join(", ")}]`;

  const run = (i: Instruction & { getFlags(): Flag[] }): void => {
    const opts: string[] = [];
    const mounts: string[] = [];
    for (const f of i.getFlags()) {
      const name = f.getName();
      if (name === "network") {
        const v = f.getValue();
        if (v === "none" || v === "host") opts.push(`network: ${JSON.stringify(v)}`);
        else if (v !== "default") return untranslated(i, `--network=${v ?? ""} has no lading form`);
        continue;
      }
      if (name !== "mount") return untranslated(i, `--${name} has no lading form`);
      const o = new Map(f.getOptions().map((x) => [x.getName(), x.getValue() ?? ""]));
      const target = o.get("target") ?? o.get("dst") ?? o.get("destination");
      switch (o.get("type") ?? "bind") {
        case "cache":
          if (target === undefined) return untranslated(i, "a cache mount without a target");
          mounts.push(`Mount.cache(${literal(target, argNames)})`);
          break;
        case "secret": {
          const id = o.get("id") ?? (target === undefined ? undefined : path.basename(target));
          const at = target ?? `/run/secrets/${id ?? ""}`;
          // BuildKit's `--secret id=ID` takes the environment variable ID when no source
          // is given: the same here; an id that cannot name a variable is a file beside the spec.
          const env = o.get("env") ?? (id !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(id) ? id : undefined);
          const from = env !== undefined ? `{ env: ${JSON.stringify(env)} }` : `{ file: ${JSON.stringify(id ?? path.basename(at))} }`;
          mounts.push(`Mount.secret(${literal(at, argNames)}, ${from})`);
          break;
        }
        case "bind":
          if (target === undefined || o.has("from")) return untranslated(i, "a bind mount from another stage or without a target has no lading form");
          mounts.push(`Mount.bind(${literal(o.get("source") ?? ".", argNames)}, ${literal(target, argNames)})`);
          break;
        default:
          return untranslated(i, `a ${o.get("type") ?? ""} mount has no lading form`);
      }
    }
    if (mounts.length > 0) {
      uses.add("Mount");
      opts.push(`mounts: [${mounts.join(", ")}]`);
    }
    const optText = opts.length > 0 ? `, { ${opts.join(", ")} }` : "";
    const heredocs = (i as unknown as { getHeredocs(): Array<{ getContentRange(): Parameters<typeof textOf>[1] | null }> }).getHeredocs();
    if (heredocs.length > 0) {
      const range = heredocs[0]!.getContentRange();
      const script = range === null ? "" : `${textOf(lines, range)}\n`;
      expr(shell.join(" ") === "/bin/sh -c" ? `Image.runShell(${literal(script, argNames)}${optText})` : `Image.run(${stringArray([...shell, script])}${optText})`);
      return;
    }
    const exec = argv(i);
    if (exec !== undefined) return expr(`Image.run(${stringArray(exec)}${optText})`);
    const script = (i.getArgumentsContent() ?? "").trim();
    expr(shell.join(" ") === "/bin/sh -c" ? `Image.runShell(${literal(script, argNames)}${optText})` : `Image.run(${stringArray([...shell, script])}${optText})`);
  };

  for (const a of dockerfile.getInitialARGs()) {
    const p = a.getProperty();
    if (p === null) continue;
    params.set(p.getName(), p.getValue() ?? "");
    argNames.add(p.getName());
  }

  for (const i of dockerfile.getInstructions()) {
    const keyword = i.getKeyword();
    const line = i.getRange().start.line + 1;
    if (keyword === "FROM") {
      finish();
      const f = i as unknown as { getImage(): string | null; getBuildStage(): string | null; getPlatformFlag(): Flag | null };
      const image = f.getImage() ?? "scratch";
      const stageName = f.getBuildStage();
      const ident = identOf(stageName ?? `stage${stages.length + 1}`, taken);
      taken.add(ident);
      const known = stageIdents.get(image.toLowerCase());
      const reference = withRegistry(image);
      // A reference whose host comes from an argument is a plain string to the type
      // checker: the cast says it names one, as the parameter's default does.
      const pulled = reference.split("/")[0]!.includes("$") ? `Image.pull(${literal(reference, argNames)} as Image.PullReference)` : `Image.pull(${literal(reference, argNames)})`;
      const fromExpr = image === "scratch" ? "Image.scratch" : (known ?? pulled);
      current = { ident, from: fromExpr };
      steps = [];
      if (known !== undefined) {
        // A stage built on another inherits its layers, names included.
        const base = stages.find((s) => s.ident === known);
        layerNames = new Set([...(base === undefined ? [] : [...layerNamesOf(base)])]);
      } else layerNames = new Set();
      if (stageName !== null) stageIdents.set(stageName.toLowerCase(), ident);
      made = image === "scratch" ? new Set(["/"]) : known === undefined ? undefined : (() => {
        const m = madeByStage.get(known);
        return m === undefined ? undefined : new Set(m);
      })();
      workdir = (known === undefined ? undefined : inherited.get(known)?.workdir) ?? "/";
      shell = (known === undefined ? undefined : inherited.get(known)?.shell) ?? ["/bin/sh", "-c"];
      const platform = f.getPlatformFlag()?.getValue();
      if (platform !== undefined && platform !== null) {
        const p = PLATFORMS[platform];
        if (p === undefined) untranslated(i, `--platform=${platform} is not one lading names`);
        else {
          uses.add("Platform");
          expr(`Image.withPlatform(${p})`);
        }
      }
      continue;
    }
    if (steps === undefined) {
      // ARGs before the first FROM are the parameters read above.
      if (keyword !== "ARG") warnings.push({ line, message: `${keyword} before the first FROM is ignored` });
      continue;
    }
    switch (keyword) {
      case "ARG": {
        for (const p of (i as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> }).getProperties()) {
          if (!params.has(p.getName()) || p.getValue() !== null) params.set(p.getName(), p.getValue() ?? params.get(p.getName()) ?? "");
          argNames.add(p.getName());
        }
        break;
      }
      case "ENV": {
        const props = (i as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> }).getProperties();
        expr(`Image.withEnv({ ${props.map((p) => `${key(p.getName())}: ${literal(p.getValue() ?? "", argNames)}`).join(", ")} })`);
        break;
      }
      case "LABEL": {
        const props = (i as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> }).getProperties();
        expr(`Image.withLabels({ ${props.map((p) => `${key(p.getName().replace(/^"(.*)"$/, "$1"))}: ${literal(p.getValue() ?? "", argNames)}`).join(", ")} })`);
        break;
      }
      case "WORKDIR": {
        const dir = i.getArgumentsContent()?.trim() ?? "";
        if (/\$/.test(dir.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (s, n: string) => (argNames.has(n) ? "" : s)))) {
          untranslated(i, "the directory uses an environment variable lading does not expand in paths");
          break;
        }
        workdir = absolute(dir);
        for (const d of [...ancestors(workdir), workdir]) made?.add(d);
        expr(`Image.withWorkingDir(${literal(workdir, argNames)})`);
        break;
      }
      case "USER":
        expr(`Image.withUser(${literal(i.getArgumentsContent()?.trim() ?? "", argNames)})`);
        break;
      case "EXPOSE": {
        const ports = i.getArguments().map((a) => a.getValue());
        if (ports.some((p) => !/^[0-9]+(\/(tcp|udp|sctp))?$/.test(p))) {
          untranslated(i, "a port range or variable has no lading form");
          break;
        }
        expr(`Image.withExposedPorts(${ports.map((p) => JSON.stringify(p.includes("/") ? p : `${p}/tcp`)).join(", ")})`);
        break;
      }
      case "VOLUME": {
        const json = argv(i);
        const vols = json ?? i.getArguments().map((a) => a.getValue());
        expr(`Image.withVolumes(${vols.map((v) => literal(absolute(v), argNames)).join(", ")})`);
        break;
      }
      case "ENTRYPOINT":
      case "CMD": {
        const exec = argv(i);
        const list = exec ?? [...shell, (i.getArgumentsContent() ?? "").trim()];
        expr(`Image.with${keyword === "CMD" ? "Cmd" : "Entrypoint"}(${stringArray(list)})`);
        break;
      }
      case "SHELL": {
        const exec = argv(i);
        if (exec === undefined || exec.length === 0) untranslated(i, "SHELL needs the JSON form");
        else shell = exec;
        break;
      }
      case "STOPSIGNAL": {
        const raw = i.getArgumentsContent()?.trim() ?? "";
        const sig = SIGNAL_NUMBERS[raw] ?? (raw.startsWith("SIG") ? raw : `SIG${raw}`);
        expr(`Image.withStopSignal(${JSON.stringify(sig)})`);
        break;
      }
      case "HEALTHCHECK": {
        const h = i as unknown as { getFlags(): Flag[]; getSubcommand(): { getValue(): string } | null };
        const sub = h.getSubcommand()?.getValue().toUpperCase();
        if (sub === "NONE") {
          expr("Image.withoutHealthcheck");
          break;
        }
        const opts: string[] = [];
        for (const f of h.getFlags()) {
          const key = { interval: "interval", timeout: "timeout", "start-period": "startPeriod", "start-interval": "startInterval", retries: "retries" }[f.getName()];
          if (key === undefined) continue;
          opts.push(key === "retries" ? `retries: ${Number(f.getValue())}` : `${key}: ${JSON.stringify(f.getValue())}`);
        }
        const content = (i.getArgumentsContent() ?? "").trim().replace(/^CMD\s+/i, "");
        let exec: string[] | undefined;
        try {
          const parsed: unknown = JSON.parse(content);
          if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) exec = parsed as string[];
        } catch {
          exec = undefined;
        }
        const optText = opts.length > 0 ? `, { ${opts.join(", ")} }` : "";
        expr(exec !== undefined ? `Image.withHealthcheck(${stringArray(exec)}${optText})` : `Image.withHealthcheckShell(${literal(content, argNames)}${optText})`);
        break;
      }
      case "COPY":
      case "ADD":
        copy(i as Instruction & { getFlags(): Flag[] }, keyword);
        break;
      case "RUN":
        run(i as Instruction & { getFlags(): Flag[] });
        break;
      case "MAINTAINER":
        expr(`Image.withLabels({ maintainer: ${literal(i.getArgumentsContent()?.trim() ?? "", argNames)} })`);
        warnings.push({ line, message: "MAINTAINER (deprecated) becomes the label maintainer" });
        break;
      default:
        untranslated(i, keyword === "ONBUILD" ? "triggers for images built on this one have no lading form" : "has no lading form");
    }
  }
  finish();
  return { params: [...params].map(([name, d]) => ({ name, default: d })), stages, uses, warnings };
};

/** The layer names a stage's steps make, so a stage built on it does not reuse one. */
const layerNamesOf = (stage: Stage): ReadonlyArray<string> =>
  stage.steps.flatMap((s) => (s._tag === "Expr" ? [...s.code.matchAll(/Layer\.make\("([^"]+)"/g)].map((m) => m[1]!) : []));
