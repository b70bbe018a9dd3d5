/**
 * One ArrayBuffer for the packet buffers of a tunnel. Copying bytes between
 * two typed arrays needs a view of the source (`subarray`, an allocation)
 * unless both live in one buffer, where `copyWithin` on a view of the whole
 * buffer does it in place. Cutting and joining TCP segments copies per
 * frame, so the data path allocates nothing only when its buffers come
 * from one {@linkcode Arena}.
 *
 * The buffer is a WebAssembly memory's, so that checksums over packet
 * buffers run in WebAssembly ({@linkcode Arena.onesSum}, core/checksum.ts);
 * it never grows.
 *
 * There is no process-wide arena: the runner (tunnel/run.ts) makes one per
 * tunnel and hands it to the forwarder, the TAP device and the socket.
 *
 * @module
 */

import { type OnesSum, wasmOnesSum } from "./checksum.ts";

/** Bytes of a WebAssembly memory page. */
const WASM_PAGE = 65536;

/** Bytes of a tunnel's arena: room for several hundred 64 KiB packet
 * buffers (a tunnel uses about 100: two batches of 32 and 64, GRO landing
 * buffers, the TAP's super-frame buffers). The pages are touched, and so
 * resident, only as used. */
export const ARENA_BYTES = 32 * 1024 * 1024;

/** Start alignment of every allocation, bytes: a cache line. */
const ALIGN = 64;

/**
 * A bump allocator over one ArrayBuffer; nothing is ever freed, so it is for
 * buffers made once at start. When it is full, {@linkcode alloc} still
 * returns fresh zeroed bytes (from a new ArrayBuffer, so copies to and from
 * them allocate a view) and calls `onFull` once: a sign that the arena is
 * too small, worth a warning, never silent.
 */
export class Arena {
  /** A view of the whole buffer. */
  readonly all: Uint8Array<ArrayBuffer>;
  /** The Internet checksum (core/checksum.ts's `onesSum` contract), in
   * WebAssembly for views into this arena; any other view is summed by
   * onesSum itself. */
  readonly onesSum: OnesSum;
  #next = 0;
  #full = false;
  readonly #onFull: (bytes: number) => void;

  /** An arena of `bytes` bytes; `onFull(n)` is called the first time an
   * allocation of `n` bytes does not fit. */
  constructor(bytes: number, onFull: (bytes: number) => void = () => {}) {
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / WASM_PAGE)) });
    // Not shared (no `shared: true`): an ArrayBuffer.
    this.all = new Uint8Array(memory.buffer as ArrayBuffer, 0, bytes);
    this.onesSum = wasmOnesSum(memory);
    this.#onFull = onFull;
  }

  /** Bytes handed out so far, alignment included. */
  get used(): number {
    return this.#next;
  }

  /** `n` zeroed bytes, 64-byte aligned in the arena; from a new ArrayBuffer
   * (and `onFull` called, once) when they do not fit. */
  alloc(n: number): Uint8Array<ArrayBuffer> {
    const start = Math.ceil(this.#next / ALIGN) * ALIGN;
    if (start + n > this.all.length) {
      if (!this.#full) {
        this.#full = true;
        this.#onFull(n);
      }
      return new Uint8Array(n);
    }
    this.#next = start + n;
    return this.all.subarray(start, start + n);
  }
}

// The last ArrayBuffer copied within, and a view of all of it: a cache, so
// that copies inside one arena allocate nothing after the first.
let lastBuffer: ArrayBufferLike | undefined;
let lastAll: Uint8Array = new Uint8Array(0);

/**
 * Copies `src[srcStart, srcEnd)` to `dst` at `dstStart`. Allocates nothing
 * when both live in the same ArrayBuffer (one {@linkcode Arena}); overlapping
 * ranges are fine. Throws a RangeError, having copied nothing, when a range
 * is reversed or lies outside its array, or when the bytes do not fit in
 * `dst` from `dstStart`: a copy never spills into the next buffer of the
 * arena.
 */
export function copyBytes(
  dst: Uint8Array,
  dstStart: number,
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
): void {
  const n = srcEnd - srcStart;
  if (!(srcStart >= 0 && n >= 0 && srcEnd <= src.length && dstStart >= 0 && dstStart + n <= dst.length)) {
    throw new RangeError(
      `copyBytes: ${n} bytes from [${srcStart}, ${srcEnd}) of ${src.length} do not fit at ${dstStart} of ${dst.length}`,
    );
  }
  const buffer = dst.buffer;
  if (buffer === src.buffer) {
    if (buffer !== lastBuffer) {
      lastBuffer = buffer;
      lastAll = new Uint8Array(buffer);
    }
    lastAll.copyWithin(dst.byteOffset + dstStart, src.byteOffset + srcStart, src.byteOffset + srcEnd);
  } else {
    dst.set(src.subarray(srcStart, srcEnd), dstStart);
  }
}
