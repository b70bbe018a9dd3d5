/**
 * The Internet checksum (core/checksum.ts) against answers from outside the
 * code: the worked example of RFC 1071 section 3, a real IPv4 header, and a
 * plain 16-bit-at-a-time sum written here from the RFC's definition; both
 * the JavaScript sum and the WebAssembly one (core/checksum.wat, through an
 * Arena), at every alignment and length a packet has; and the committed
 * module against its source.
 */

import { strict as assert } from "node:assert";
import { Arena } from "../core/arena.ts";
import { fold, onesSum, wasmOnesSum } from "../core/checksum.ts";
import { CHECKSUM_WASM_HEX } from "../core/checksum_wasm.ts";
import { compileChecksumWat } from "../scripts/checksum_wasm.ts";
import { hex } from "./_util.ts";

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** RFC 1071's definition, one 16-bit word at a time, folded at the end. */
function reference(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i < end; i += 2) sum += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

Deno.test("onesSum: RFC 1071 section 3's example sums to ddf2, checksum 220d", () => {
  // 0001 + f203 + f4f5 + f6f7 = 2ddf0; folded: ddf0 + 2 = ddf2.
  const b = hex("0001f203f4f5f6f7");
  assert.equal(onesSum(view(b), 0, 8), 0xddf2);
  assert.equal(~onesSum(view(b), 0, 8) & 0xffff, 0x220d);
  // The sum does not depend on the byte order within the words' pairs (RFC 1071 2.B).
  assert.equal(onesSum(view(hex("f4f5f6f70001f203")), 0, 8), 0xddf2);
});

Deno.test("onesSum: an IPv4 header with its checksum (b861) sums to ffff", () => {
  const header = hex("450000730000400040110000c0a80001c0a800c7");
  assert.equal(~onesSum(view(header), 0, 20) & 0xffff, 0xb861);
  header.set([0xb8, 0x61], 10);
  assert.equal(onesSum(view(header), 0, 20), 0xffff);
});

Deno.test("onesSum: odd lengths pad with zero; the initial value is added; fold carries around", () => {
  assert.equal(onesSum(view(hex("010203")), 0, 3), 0x0402); // 0102 + 0300
  assert.equal(onesSum(view(hex("ff")), 0, 1), 0xff00);
  assert.equal(onesSum(view(hex("")), 0, 0), 0);
  assert.equal(onesSum(view(hex("ffff")), 0, 2, 0x0001), 0x0001); // ffff + 1 = 1 0000 → 0001
  assert.equal(fold(0x1fffe), 0xffff);
  assert.equal(fold(0x2ddf0), 0xddf2);
});

Deno.test("onesSum: matches the 16-bit reference on random data, at every alignment", () => {
  const b = new Uint8Array(1600);
  crypto.getRandomValues(b);
  for (let start = 0; start < 8; start++) {
    for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1500, 1591]) {
      const end = start + len;
      assert.equal(onesSum(view(b), start, end), reference(b, start, end), `start ${start} length ${len}`);
      assert.equal(onesSum(view(b), start, end, 0x1234), reference(b, start, end, 0x1234));
    }
  }
  // A 64 KiB run of ffff words: the sum stays exact (no overflow past 2^53).
  const big = new Uint8Array(65536).fill(0xff);
  assert.equal(onesSum(view(big), 0, big.length), 0xffff);
});

/** A deterministic byte stream (xorshift32), so that a failure repeats. */
function fill(b: Uint8Array, seed: number): void {
  let x = seed;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
}

Deno.test("arena onesSum: RFC 1071's example, padded to a length the module sums", () => {
  const arena = new Arena(1 << 16);
  const b = arena.alloc(128);
  // 0001 f203 f4f5 f6f7 sums to ddf2 (RFC 1071 section 3); zero words add nothing.
  b.set(hex("0001f203f4f5f6f7"), 40);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(arena.onesSum(v, 0, 128), 0xddf2);
  assert.equal(arena.onesSum(v, 40, 128), 0xddf2);
  // From an odd offset the words pair other bytes: 0000 01f2 03f4 f5f6 f700.
  assert.equal(arena.onesSum(v, 39, 128), reference(b, 39, 128));
});

Deno.test("arena onesSum: every start mod 16, lengths 64..1600 and up to 65535, odd and even, any initial", () => {
  const arena = new Arena(1 << 20);
  const b = arena.alloc(70_000);
  fill(b, 0x12345678);
  const v = new DataView(b.buffer, b.byteOffset + 3, b.byteLength - 3); // a view that is not aligned
  const u = b.subarray(3);
  let checked = 0;
  for (let start = 0; start < 48; start++) {
    for (const length of [64, 65, 79, 80, 95, 96, 127, 1448, 1449, 1500, 1514, 1600, 9001, 65535]) {
      const initial = (start * 7919 + length) % 0x1ffff;
      assert.equal(
        arena.onesSum(v, start, start + length, initial),
        reference(u, start, start + length, initial),
      );
      checked++;
    }
  }
  // All ones: the largest lane sums, carries folded.
  u.fill(0xff, 0, 65536);
  assert.equal(arena.onesSum(v, 0, 65536), reference(u, 0, 65536));
  assert.equal(arena.onesSum(v, 0, 65535, 0xffff), reference(u, 0, 65535, 0xffff));
  assert.equal(checked, 48 * 14);
});

Deno.test("arena onesSum: a view outside the arena, or a range outside the view, goes to onesSum", () => {
  const arena = new Arena(1 << 16);
  const outside = new Uint8Array(256);
  fill(outside, 99);
  const v = new DataView(outside.buffer);
  assert.equal(arena.onesSum(v, 1, 201, 5), reference(outside, 1, 201, 5));
  const inside = arena.alloc(256);
  const iv = new DataView(inside.buffer, inside.byteOffset, 256);
  // Past the view's end: onesSum's DataView throws; the module would have
  // read the next allocation.
  assert.throws(() => arena.onesSum(iv, 0, 300), RangeError);
  assert.throws(() => arena.onesSum(iv, -4, 100), RangeError);
  // A memory that grew detached the buffer the sum was made for: views of
  // the new one are summed by onesSum, with the same answer.
  const memory = new WebAssembly.Memory({ initial: 1 });
  const sum = wasmOnesSum(memory);
  memory.grow(1);
  const grown = new Uint8Array(memory.buffer, 0, 4096);
  fill(grown, 7);
  const gv = new DataView(memory.buffer, 0, 4096);
  assert.equal(sum(gv, 10, 4000), onesSum(gv, 10, 4000));
  assert.equal(sum(gv, 10, 4000), reference(grown, 10, 4000));
});

Deno.test({
  name: "core/checksum_wasm.ts is what wat2wasm makes of core/checksum.wat",
  ignore: new Deno.Command("sh", { args: ["-c", "command -v wat2wasm"] }).outputSync().code !== 0,
  async fn() {
    assert.equal((await compileChecksumWat()).toHex(), CHECKSUM_WASM_HEX);
  },
});
