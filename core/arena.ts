/**
 * One ArrayBuffer for the packet buffers of a process. Copying bytes between
 * two typed arrays needs a view of the source (`subarray`, an allocation)
 * unless both live in one buffer, where `copyWithin` on a view of the whole
 * buffer does it in place. Cutting and joining TCP segments copies per
 * frame, so the data path allocates nothing only when its buffers come
 * from here.
 *
 * @module
 */

/** Bytes reserved for the shared arena: room for several hundred 64 KiB
 * packet buffers. The pages are touched, and so resident, only as used. */
export const ARENA_BYTES = 32 * 1024 * 1024;

/** A bump allocator over one ArrayBuffer; nothing is ever freed. */
export class Arena {
  /** A view of the whole buffer. */
  readonly all: Uint8Array<ArrayBuffer>;
  #next = 0;

  /** An arena of `bytes` bytes. */
  constructor(bytes: number) {
    this.all = new Uint8Array(bytes);
  }

  /** `n` zeroed bytes, 64-byte aligned, or undefined when the arena is full. */
  alloc(n: number): Uint8Array<ArrayBuffer> | undefined {
    const start = Math.ceil(this.#next / 64) * 64;
    if (start + n > this.all.length) return undefined;
    this.#next = start + n;
    return this.all.subarray(start, start + n);
  }
}

let shared: Arena | undefined;

/** The process's arena, made on first use. */
export function sharedArena(): Arena {
  return shared ??= new Arena(ARENA_BYTES);
}

/** `n` zeroed bytes from the shared arena, or from a new ArrayBuffer once
 * the arena is full (copies to and from those allocate a view). */
export function allocBytes(n: number): Uint8Array<ArrayBuffer> {
  return sharedArena().alloc(n) ?? new Uint8Array(n);
}

/**
 * Copies `src[srcStart, srcEnd)` to `dst` at `dstStart`. Allocates nothing
 * when both live in the shared arena; overlapping ranges are fine.
 */
export function copyBytes(
  dst: Uint8Array,
  dstStart: number,
  src: Uint8Array,
  srcStart: number,
  srcEnd: number,
): void {
  const a = shared;
  if (a !== undefined && dst.buffer === a.all.buffer && src.buffer === a.all.buffer) {
    a.all.copyWithin(dst.byteOffset + dstStart, src.byteOffset + srcStart, src.byteOffset + srcEnd);
  } else {
    dst.set(src.subarray(srcStart, srcEnd), dstStart);
  }
}
