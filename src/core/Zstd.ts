/**
 * Streaming zstd decoding (RFC 8878), for zstd layers, archives and Debian packages
 * (Node 20 has no zstd).
 *
 * A small walker follows the frame structure (frame header, block headers, checksum,
 * skippable frames) before a byte is decoded, and refuses what `zstd -d` refuses by
 * default: a window over 128 MiB (a hostile frame could ask for 2 GiB), a dictionary (a
 * layer has none to give), a reserved bit or block type. So the memory a stream can make
 * the decoder take is bounded, whatever the input.
 *
 * A frame that gives its content size, up to 8 MiB (lading's own layers have 1 MiB
 * frames, as `zstd` writes for files), is gathered whole and decoded by libzstd compiled
 * to WebAssembly, which also checks its checksum; any other frame (one written as a
 * stream, without its size) goes through fzstd, a streaming decoder in plain JavaScript,
 * two to three times slower.
 */
import { createRequire } from "node:module";
import { Transform, type TransformCallback } from "node:stream";
import { Decompress } from "fzstd";

/**
 * The first four bytes of every zstd frame.
 *
 * @category model
 */
export const ZSTD_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd);

/**
 * The largest window a frame may need: zstd's own default limit for decoding
 * (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27 bytes), beyond which `zstd -d` asks for `--long`.
 *
 * @category model
 */
export const ZSTD_WINDOW_LIMIT = 1 << 27;

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
  | { readonly at: "skip"; readonly then: State; remaining: number };

const fail = (message: string): never => {
  throw new Error(`zstd: ${message}`);
};

/** The largest frame decoded whole: its content and compressed bytes are held at once. */
const WHOLE_LIMIT = 8 << 20;

/** Where a frame's bytes go: gathered and decoded whole, streamed to fzstd, or nowhere. */
type Route = "whole" | "stream" | "none";

/**
 * Follows the frames of a zstd stream, checks each header against the limits, and hands
 * each frame's bytes on by route, without decoding anything.
 */
class FrameWalker {
  private state: State = { at: "magic" };
  private held: number[] = [];
  /** The route of the frame being read; undefined while its header is. */
  private route: Route | undefined;
  /** The bytes of the header being read, handed on once its route is known. */
  private head: number[] = [];
  /** For a frame decoded whole: its content size. */
  contentSize = 0;
  frames = 0;
  /** Whether any byte came. */
  started = false;

  constructor(
    private readonly onBytes: (route: Route, bytes: Uint8Array) => void,
    private readonly onFrameEnd: (route: Route) => void,
  ) {}

  /** Whether the stream may end here: between frames, with at least one frame read. */
  get atBoundary(): boolean {
    return this.state.at === "magic" && this.held.length === 0 && this.route === undefined && this.frames > 0;
  }

  walk(chunk: Uint8Array): void {
    if (chunk.length > 0) this.started = true;
    let i = 0;
    let spanStart = 0;
    const flushSpan = (end: number): void => {
      if (this.route !== undefined && end > spanStart) this.onBytes(this.route, chunk.subarray(spanStart, end));
      spanStart = end;
    };
    const endFrame = (): void => {
      flushSpan(i);
      const route = this.route!;
      this.route = undefined;
      this.frames++;
      this.onFrameEnd(route);
    };
    while (i < chunk.length) {
      const s = this.state;
      if (s.at === "skip") {
        const n = Math.min(s.remaining, chunk.length - i);
        s.remaining -= n;
        i += n;
        if (s.remaining === 0) {
          this.state = s.then;
          if (this.state.at === "magic") endFrame();
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
        if (this.route !== "none") this.onBytes(this.route, Uint8Array.from(this.head));
        this.head = [];
        spanStart = i;
      }
      if (this.state.at === "magic" && this.route !== undefined) endFrame();
    }
    flushSpan(chunk.length);
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
        return size === 0 ? { at: "magic" } : { at: "skip", then: { at: "magic" }, remaining: size };
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
        this.contentSize = contentSize;
        this.route = fcsLength > 0 && contentSize <= WHOLE_LIMIT ? "whole" : "stream";
        return { at: "block", checksum: ((d >> 2) & 1) === 1, blockMax: Math.min(window, 128 * 1024) };
      }
      case "block": {
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16);
        const last = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) fail("a block has the reserved block type");
        if (size > Math.max(s.blockMax, 1)) fail(`a block of ${size} bytes is larger than its frame allows (${s.blockMax})`);
        const after: State = last ? (s.checksum ? { at: "skip", then: { at: "magic" }, remaining: 4 } : { at: "magic" }) : s;
        // An RLE block stores one byte, repeated `size` times.
        const stored = type === 1 ? 1 : size;
        return stored === 0 ? after : { at: "skip", then: after, remaining: stored };
      }
      default:
        return fail("internal: a skip has no header");
    }
  }
}

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
    const m = createRequire(import.meta.url)("@bokuweb/zstd-wasm") as ZstdWasm;
    await m.init();
    return m;
  })());

/**
 * A transform from zstd bytes (one frame or several, skippable frames included) to what
 * they decode to. Invalid data, a frame beyond the limits, or data that ends inside a
 * frame fail the stream with an error that starts with `zstd:`.
 *
 * @category constructors
 */
export const createZstdDecoder = (): Transform => {
  let out: Transform | undefined;
  let lib: ZstdWasm | undefined;
  const emit = (data: Uint8Array): void => {
    if (data.length > 0) out!.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  };
  const streamed = new Decompress((data) => emit(data));
  let whole: Uint8Array[] = [];
  let wholeBytes = 0;
  const walker = new FrameWalker(
    (route, bytes) => {
      if (route === "stream") streamed.push(bytes, false);
      else if (route === "whole") {
        // A frame's compressed bytes cannot be much more than its content: no more is held.
        if (wholeBytes + bytes.length > walker.contentSize + (walker.contentSize >> 3) + 65536) fail(`a frame of ${walker.contentSize} bytes of content holds more compressed bytes than it can`);
        whole.push(bytes);
        wholeBytes += bytes.length;
      }
    },
    (route) => {
      if (route !== "whole") return;
      const frame = Buffer.concat(whole, wholeBytes);
      whole = [];
      wholeBytes = 0;
      let data: Uint8Array;
      try {
        data = lib!.decompress(frame);
      } catch {
        return fail(`frame ${walker.frames} cannot be decoded`);
      }
      if (data.length !== walker.contentSize) fail(`frame ${walker.frames} decodes to ${data.length} bytes, not the ${walker.contentSize} its header gives`);
      emit(data);
    },
  );
  const guarded = (f: () => void, cb: TransformCallback): void => {
    const go = (): void => {
      try {
        f();
        cb();
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        cb(new Error(message.startsWith("zstd:") ? message : `zstd: ${message}`));
      }
    };
    if (lib !== undefined) go();
    else
      zstdWasm().then(
        (m) => {
          lib = m;
          go();
        },
        (e: unknown) => cb(e as Error),
      );
  };
  out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      guarded(() => walker.walk(chunk), cb);
    },
    flush(cb) {
      guarded(() => {
        if (!walker.atBoundary) fail(walker.started ? "the data ends inside a frame" : "no zstd frame");
        streamed.push(new Uint8Array(0), true);
      }, cb);
    },
  });
  return out;
};
