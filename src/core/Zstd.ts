/**
 * Streaming zstd decoding (RFC 8878), for zstd layers, archives and Debian packages
 * (Node 20 has no zstd).
 *
 * A small walker follows the frame structure (frame header, block headers, checksum,
 * skippable frames) before a byte is decoded, and refuses what `zstd -d` refuses by
 * default: a window over 128 MiB (a hostile frame could ask for 2 GiB), a dictionary (a
 * layer has none to give), a reserved bit or block type.
 *
 * A frame that gives its content size, up to 8 MiB (lading's own layers have 1 MiB
 * frames, and `zstd` writes the size of a file it compresses), is gathered whole and
 * decoded by libzstd compiled to WebAssembly, which also checks its checksum. Any other
 * frame (one written as a stream, without its size, as skopeo and `zstd` reading a pipe
 * write them) goes through fzstd, a streaming decoder in plain JavaScript. fzstd moves its
 * whole window once a block, so a streamed frame may use a window of at most 8 MiB (what
 * `zstd` uses up to level 19 without `--long`, and skopeo's default), and a frame whose
 * blocks make that moving cost far more than the bytes they give (hundreds of tiny
 * blocks under a large window, which no encoder writes) is refused: decoding costs a
 * bounded amount of time a byte it gives.
 *
 * Output is given a block (at most 128 KiB) or a whole frame (at most 8 MiB) at a time,
 * and only when the reader asks for more: a bomb of highly compressed frames cannot fill
 * memory faster than it is read.
 */
import { createRequire } from "node:module";
import { Duplex } from "node:stream";
import { Decompress } from "fzstd";

/**
 * The package of libzstd compiled to WebAssembly, which decodes here and compresses in
 * the build's workers: loaded from the package, not bundled, where it finds its .wasm file.
 *
 * @category model
 */
export const ZSTD_WASM_MODULE = "@bokuweb/zstd-wasm";

/**
 * Whether `head` starts a zstd stream: a zstd frame, or a skippable frame (as pzstd and
 * seekable zstd begin).
 *
 * @category destructors
 */
export const isZstdStart = (head: Uint8Array): boolean =>
  head.length >= 4 && ((head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) || (head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18 && (head[0]! & 0xf0) === 0x50));

/**
 * The largest window a frame may need: zstd's own default limit for decoding
 * (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27 bytes), beyond which `zstd -d` asks for `--long`.
 *
 * @category model
 */
export const ZSTD_WINDOW_LIMIT = 1 << 27;

/**
 * The largest window of a frame decoded as a stream.
 *
 * @category model
 */
export const ZSTD_STREAM_WINDOW_LIMIT = 8 << 20;

/** The largest frame decoded whole: its content and compressed bytes are held at once. */
const WHOLE_LIMIT = 8 << 20;

/**
 * How much window moving a streamed frame may cost, in bytes moved for each byte it
 * gives, beyond a first allowance: full blocks cost 64 under an 8 MiB window.
 */
const MOVE_RATIO = 256;
const MOVE_ALLOWANCE = 64 << 20;

/** A zstd frame's magic number, little-endian, as read. */
const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames have magic numbers 0x184D2A50 to 0x184D2A5F. */
const isSkippableMagic = (m: number): boolean => m >>> 4 === 0x184d2a5;

type State =
  /** Before a frame: 4 bytes of magic number. */
  | { readonly at: "magic" }
  /** After a skippable frame's magic: its 4-byte size. */
  | { readonly at: "skipSize" }
  /** After the magic: the frame header descriptor byte. */
  | { readonly at: "descriptor" }
  /** The rest of the frame header, whose length the descriptor gave. */
  | { readonly at: "header"; readonly descriptor: number; readonly length: number }
  /** A block's 3-byte header. */
  | { readonly at: "block"; readonly checksum: boolean; readonly blockMax: number }
  /** Bytes to pass over: a block's content, a checksum, a skippable frame. */
  | { readonly at: "skip"; readonly then: State; remaining: number; readonly blockEnd: boolean };

const fail = (message: string): never => {
  throw new Error(`zstd: ${message}`);
};

/** Where a frame's bytes go: gathered and decoded whole, streamed to fzstd, or nowhere. */
type Route = "whole" | "stream" | "none";

/** libzstd in WebAssembly, loaded from its package on first use. */
interface ZstdWasm {
  readonly init: () => Promise<void>;
  readonly decompress: (frame: Uint8Array) => Uint8Array;
}

let wasm: Promise<ZstdWasm> | undefined;

/**
 * The WebAssembly libzstd, ready. Required from its package (not bundled with lading's
 * CLI), where it finds its .wasm file.
 *
 * @category constructors
 */
export const zstdWasm = (): Promise<ZstdWasm> =>
  (wasm ??= (async () => {
    const m = createRequire(import.meta.url)(ZSTD_WASM_MODULE) as ZstdWasm;
    await m.init();
    return m;
  })());

/**
 * Follows the frames of a zstd stream, checks each header against the limits, and
 * decodes each frame by its route. {@link step} reads on until it has output to give (a
 * block of a streamed frame, a whole frame) or the chunk ends.
 */
class ZstdReader {
  private state: State = { at: "magic" };
  private held: number[] = [];
  /** The route of the frame being read; undefined while its header is. */
  private route: Route | undefined;
  /** The bytes of the header being read, handed on once its route is known. */
  private head: number[] = [];
  /** The frame's window and content size, as its header gives them. */
  private window = 0;
  private contentSize = 0;
  /** A frame decoded whole: its bytes so far. */
  private whole: Uint8Array[] = [];
  private wholeBytes = 0;
  /** A streamed frame: its decoder, and what it has cost and given. */
  private streamed: Decompress | undefined;
  private moved = 0;
  private given = 0;
  private frames = 0;
  private started = false;
  /** Decoded bytes, ready to be given. */
  readonly output: Buffer[] = [];

  constructor(private readonly lib: ZstdWasm) {}

  /** Reads `chunk` from `from` on, until it has output or the chunk ends; gives where it stopped. */
  step(chunk: Uint8Array, from: number): number {
    if (chunk.length > 0) this.started = true;
    let i = from;
    let spanStart = from;
    const flushSpan = (end: number): void => {
      if (this.route !== undefined && end > spanStart) this.bytes(chunk.subarray(spanStart, end));
      spanStart = end;
    };
    while (i < chunk.length) {
      const s = this.state;
      if (s.at === "skip") {
        const n = Math.min(s.remaining, chunk.length - i);
        s.remaining -= n;
        i += n;
        if (s.remaining > 0) continue;
        this.state = s.then;
        if (this.state.at === "magic") {
          flushSpan(i);
          this.endFrame();
          return i;
        }
        if (s.blockEnd && this.route === "stream") {
          // One block at a time to the streaming decoder: its output is at most a block.
          flushSpan(i);
          if (this.output.length > 0) return i;
        }
        continue;
      }
      const need = s.at === "magic" || s.at === "skipSize" ? 4 : s.at === "descriptor" ? 1 : s.at === "block" ? 3 : s.length;
      while (this.held.length < need && i < chunk.length) {
        const b = chunk[i++]!;
        this.held.push(b);
        if (this.route === undefined) this.head.push(b);
      }
      if (this.held.length < need) break;
      const b = this.held;
      this.held = [];
      const reading = this.route === undefined;
      this.state = this.next(s, b);
      if (reading && this.route !== undefined) {
        // The header is read: its bytes go first, then the rest of the frame as it comes.
        if (this.route !== "none") this.bytes(Uint8Array.from(this.head));
        this.head = [];
        spanStart = i;
      }
      if (this.state.at === "magic" && this.route !== undefined) {
        flushSpan(i);
        this.endFrame();
        return i;
      }
    }
    flushSpan(chunk.length);
    return chunk.length;
  }

  /** At the end of the input: it must end between frames. */
  end(): void {
    if (this.state.at !== "magic" || this.held.length > 0 || this.route !== undefined || this.frames === 0) fail(this.started ? "the data ends inside a frame" : "no zstd frame");
  }

  private bytes(bytes: Uint8Array): void {
    if (this.route === "stream") {
      const before = this.output.length;
      this.streamed!.push(bytes, false);
      this.account(before);
    } else if (this.route === "whole") {
      // A frame's compressed bytes cannot be much more than its content: no more is held.
      if (this.wholeBytes + bytes.length > this.contentSize + (this.contentSize >> 3) + 65536) fail(`a frame of ${this.contentSize} bytes of content holds more compressed bytes than it can`);
      this.whole.push(bytes);
      this.wholeBytes += bytes.length;
    }
  }

  /** What fzstd gave since `before`, against what its blocks cost (each moves its window once). */
  private account(before: number): void {
    for (let k = before; k < this.output.length; k++) this.given += this.output[k]!.length;
    if (this.moved > MOVE_RATIO * this.given + MOVE_ALLOWANCE) fail(`a frame's blocks are too small for its ${this.window}-byte window to be decoded as a stream`);
  }

  private endFrame(): void {
    const route = this.route!;
    this.route = undefined;
    this.frames++;
    if (route === "stream") {
      // fzstd holds back the last few bytes it was given until it is told they are all.
      const before = this.output.length;
      this.streamed!.push(new Uint8Array(0), true);
      this.account(before);
      this.streamed = undefined;
    } else if (route === "whole") {
      const frame = Buffer.concat(this.whole, this.wholeBytes);
      this.whole = [];
      this.wholeBytes = 0;
      let data: Uint8Array;
      try {
        data = this.lib.decompress(frame);
      } catch {
        return fail(`frame ${this.frames} cannot be decoded`);
      }
      if (data.length !== this.contentSize) fail(`frame ${this.frames} decodes to ${data.length} bytes, not the ${this.contentSize} its header gives`);
      if (data.length > 0) this.output.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
  }

  private next(s: State, b: ReadonlyArray<number>): State {
    switch (s.at) {
      case "magic": {
        const magic = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
        if (magic === FRAME_MAGIC) return { at: "descriptor" };
        if (isSkippableMagic(magic)) return { at: "skipSize" };
        return fail(this.frames === 0 ? "not zstd data (no frame magic number at the start)" : "data after the last frame is not a zstd frame");
      }
      case "skipSize": {
        const size = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
        this.route = "none";
        return size === 0 ? { at: "magic" } : { at: "skip", then: { at: "magic" }, remaining: size, blockEnd: false };
      }
      case "descriptor": {
        const d = b[0]!;
        if ((d & 0x08) !== 0) fail("a frame header sets its reserved bit");
        const singleSegment = (d >> 5) & 1;
        const dictBytes = [0, 1, 2, 4][d & 3]!;
        const fcsFlag = d >> 6;
        const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
        return { at: "header", descriptor: d, length: (singleSegment ? 0 : 1) + dictBytes + fcsBytes };
      }
      case "header": {
        const d = s.descriptor;
        const singleSegment = ((d >> 5) & 1) === 1;
        const dictBytes = [0, 1, 2, 4][d & 3]!;
        let at = 0;
        let window = 0;
        if (!singleSegment) {
          const wd = b[at++]!;
          const base = 2 ** (10 + (wd >> 3));
          window = base + (base / 8) * (wd & 7);
        }
        let dictId = 0;
        for (let k = 0; k < dictBytes; k++) dictId += b[at++]! * 2 ** (8 * k);
        if (dictId !== 0) fail(`a frame needs dictionary ${dictId}, and a layer comes with none`);
        const fcsLength = s.length - at;
        let contentSize = 0;
        for (let k = 0; k < fcsLength; k++) contentSize += b[at + k]! * 2 ** (8 * k);
        if (fcsLength === 2) contentSize += 256;
        if (singleSegment) window = contentSize;
        if (window > ZSTD_WINDOW_LIMIT) fail(`a frame needs a window of ${window} bytes, over the ${ZSTD_WINDOW_LIMIT} zstd decodes without --long`);
        this.window = window;
        this.contentSize = contentSize;
        this.route = fcsLength > 0 && contentSize <= WHOLE_LIMIT ? "whole" : "stream";
        if (this.route === "stream") {
          if (window > ZSTD_STREAM_WINDOW_LIMIT) fail(`a frame written as a stream needs a window of ${window} bytes, over the ${ZSTD_STREAM_WINDOW_LIMIT} lading decodes so (recompress it without --long, or with its size)`);
          this.streamed = new Decompress((data) => {
            if (data.length > 0) this.output.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
          });
          this.moved = 0;
          this.given = 0;
        }
        return { at: "block", checksum: ((d >> 2) & 1) === 1, blockMax: Math.min(window, 128 * 1024) };
      }
      case "block": {
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16);
        const last = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) fail("a block has the reserved block type");
        if (this.route === "stream") this.moved += this.window;
        if (size > Math.max(s.blockMax, 1)) fail(`a block of ${size} bytes is larger than its frame allows (${s.blockMax})`);
        const after: State = last ? (s.checksum ? { at: "skip", then: { at: "magic" }, remaining: 4, blockEnd: false } : { at: "magic" }) : s;
        // An RLE block stores one byte, repeated `size` times.
        const stored = type === 1 ? 1 : size;
        return stored === 0 ? after : { at: "skip", then: after, remaining: stored, blockEnd: true };
      }
      default:
        return fail("internal: a skip has no header");
    }
  }
}

/**
 * A stream from zstd bytes (one frame or several, skippable frames included) to what
 * they decode to, given only as fast as it is read. Invalid data, a frame beyond the
 * limits, or data that ends inside a frame fail the stream with an error that starts
 * with `zstd:`.
 *
 * @category constructors
 */
export const createZstdDecoder = (): Duplex =>
  Duplex.from(async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const reader = new ZstdReader(await zstdWasm());
    const out = reader.output;
    const wrap = (e: unknown): Error => {
      const message = e instanceof Error ? e.message : String(e);
      return new Error(message.startsWith("zstd:") ? message : `zstd: ${message}`);
    };
    for await (const chunk of source) {
      let at = 0;
      while (at < chunk.length) {
        try {
          at = reader.step(chunk, at);
        } catch (e) {
          throw wrap(e);
        }
        while (out.length > 0) yield out.shift()!;
      }
    }
    try {
      reader.end();
    } catch (e) {
      throw wrap(e);
    }
  });
