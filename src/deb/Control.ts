/**
 * deb822 control data (deb822(5)): paragraphs of `Field: value` lines separated by blank
 * lines, continuation lines starting with a space or tab, `#` comments (in apt's
 * `.sources` files). Field names are case-insensitive; they are kept as first written.
 */

/**
 * One paragraph: fields in the order written, looked up case-insensitively with
 * {@link field}.
 *
 * @category model
 */
export type Paragraph = ReadonlyMap<string, string>;

/**
 * The value of a field, found whatever its case; continuation lines joined with `\n`.
 *
 * @category destructors
 */
export const field = (p: Paragraph, name: string): string | undefined => {
  const exact = p.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [k, v] of p) if (k.toLowerCase() === lower) return v;
  return undefined;
};

/**
 * Splits control text into paragraphs. A line that is neither a field, a continuation
 * nor a comment is reported with its line number through `onError`.
 *
 * @category constructors
 */
export const parseParagraphs = (text: string, onError: (line: number, message: string) => void = () => {}): ReadonlyArray<Paragraph> => {
  const out: Paragraph[] = [];
  let current = new Map<string, string>();
  let last: string | undefined;
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.replace(/\r$/, "");
    if (line.startsWith("#")) continue;
    if (line.trim() === "") {
      if (current.size > 0) out.push(current);
      current = new Map();
      last = undefined;
      continue;
    }
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (last === undefined) onError(n + 1, "a continuation line with no field before it");
      else current.set(last, `${current.get(last)!}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      onError(n + 1, `expected "Field: value", got ${JSON.stringify(line.slice(0, 60))}`);
      continue;
    }
    last = line.slice(0, colon);
    current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size > 0) out.push(current);
  return out;
};

/**
 * Splits a paragraph stream (such as a decompressing Packages index) into paragraphs as
 * the bytes arrive, keeping only the fields `keep` names (lower case). Values are decoded
 * from the bytes one by one, so no string keeps a 50 MB index alive.
 *
 * @category constructors
 */
export const paragraphSplitter = (keep: ReadonlySet<string>, onParagraph: (p: Paragraph) => void) => {
  let rest: Buffer = Buffer.alloc(0);
  let current = new Map<string, string>();
  let last: string | undefined;
  const line = (buf: Buffer, start: number, end: number): void => {
    if (end > start && buf[end - 1] === 13) end--;
    if (end === start) {
      if (current.size > 0) onParagraph(current);
      current = new Map();
      last = undefined;
      return;
    }
    const first = buf[start];
    if (first === 32 || first === 9) {
      if (last !== undefined) current.set(last, `${current.get(last)!}\n${buf.toString("utf8", start + 1, end)}`);
      return;
    }
    const colon = buf.indexOf(58, start);
    if (colon <= start || colon >= end) return;
    const name = buf.toString("latin1", start, colon).toLowerCase();
    if (!keep.has(name)) {
      last = undefined;
      return;
    }
    last = name;
    current.set(name, buf.toString("utf8", colon + 1, end).trim());
  };
  const lines = (buf: Buffer): number => {
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
      line(buf, start, nl);
      start = nl + 1;
    }
    return start;
  };
  return {
    push(chunk: Uint8Array): void {
      const buf = rest.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([rest, chunk]);
      // The unfinished last line is copied: a slice would keep the whole chunk alive.
      rest = Buffer.from(buf.subarray(lines(buf)));
    },
    end(): void {
      if (rest.length > 0) line(rest, 0, rest.length);
      line(rest, 0, 0);
      rest = Buffer.alloc(0);
    },
  };
};
