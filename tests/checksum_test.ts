/**
 * The Internet checksum (core/checksum.ts) against answers from outside the
 * code: the worked example of RFC 1071 section 3, a real IPv4 header, and a
 * plain 16-bit-at-a-time sum written here from the RFC's definition.
 */

import { strict as assert } from "node:assert";
import { fold, onesSum } from "../core/checksum.ts";
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
