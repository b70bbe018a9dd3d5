/**
 * The Internet checksum (RFC 1071): the ones' complement sum of 16-bit
 * big-endian words. Pure; allocates nothing.
 *
 * Two ways to compute it, with one contract ({@linkcode OnesSum}):
 * {@linkcode onesSum} in JavaScript, for any DataView, and
 * {@linkcode wasmOnesSum}, for views into one WebAssembly memory (a
 * tunnel's arena, core/arena.ts): core/checksum.wat with 128-bit SIMD, about
 * 8× faster on a full-size frame (`deno task bench --micro` prints both).
 * Cutting TCP super-frames and checking segments before joining them sums
 * every payload byte twice per frame, once at each end.
 *
 * @module
 */

import { CHECKSUM_WASM_HEX } from "./checksum_wasm.ts";

/**
 * The ones' complement sum of the bytes at view offsets `[start, end)`, read
 * as big-endian 16-bit words (an odd last byte is padded with zero), added
 * to `initial` and folded to 16 bits. Not complemented: `~sum & 0xffff` is
 * the checksum to store, and a packet whose checksum is right sums to
 * 0xffff.
 */
export function onesSum(view: DataView, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  // 32 bits at a time (a 64 KiB packet sums to well below 2^53); a 32-bit
  // word adds its two 16-bit halves, since 2^16 ≡ 1 (mod 2^16 − 1).
  for (; i + 4 <= end; i += 4) sum += view.getUint32(i);
  if (i + 2 <= end) {
    sum += view.getUint16(i);
    i += 2;
  }
  if (i < end) sum += view.getUint8(i) * 256;
  return fold(sum);
}

/** The contract of {@linkcode onesSum}: the folded, uncomplemented sum of
 * view offsets `[start, end)` as big-endian words, plus `initial`. */
export type OnesSum = (view: DataView, start: number, end: number, initial?: number) => number;

/** Below this many bytes the JavaScript loop is as fast as a call into
 * WebAssembly. */
const WASM_MIN_BYTES = 64;

/** The most bytes one call of the module's sum takes: each of its 32-bit
 * lanes adds at most 131070 per 16 bytes, and must not pass 2^32. */
const WASM_MAX_BYTES = 1 << 19;

/** The module, compiled by the first {@linkcode wasmOnesSum} (each arena
 * instantiates it over its own memory). */
let compiled: WebAssembly.Module | undefined;

/**
 * An {@linkcode OnesSum} that computes in WebAssembly (core/checksum.wat,
 * compiled in core/checksum_wasm.ts) the sums of views into `memory`'s
 * buffer, and hands every other view, or a range too short to pay for the
 * call, to {@linkcode onesSum}. A range outside the view goes to onesSum
 * too, which throws a RangeError: the module never reads outside the view.
 * `memory` must never grow (growing detaches the buffer it was made with;
 * views of the new one are then summed by onesSum).
 */
export function wasmOnesSum(memory: WebAssembly.Memory): OnesSum {
  compiled ??= new WebAssembly.Module(Uint8Array.fromHex(CHECKSUM_WASM_HEX));
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  const sum = instance.exports.sum as (at: number, bytes: number) => number;
  const buffer = memory.buffer;
  return (view, start, end, initial = 0) => {
    const n = end - start;
    if (
      view.buffer !== buffer || n < WASM_MIN_BYTES || n > WASM_MAX_BYTES || start < 0 || end > view.byteLength
    ) {
      return onesSum(view, start, end, initial);
    }
    // The module reads little-endian words: its sum is the big-endian sum
    // with its two bytes swapped (RFC 1071 2(B), byte order independence).
    const le = sum(view.byteOffset + start, n);
    return fold((((le & 0xff) << 8) | (le >>> 8)) + initial);
  };
}

/** Folds a sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 65536) + Math.floor(sum / 65536);
  return sum;
}
