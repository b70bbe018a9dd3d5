/**
 * The buffer arena, copies inside it, packet buffers' reserved room, and the
 * TAP MTU arithmetic: known answers worked out by hand from the header
 * sizes (RFC 791, RFC 8200, RFC 768, IEEE 802.3), not from the code.
 */

import { strict as assert } from "node:assert";
import { Arena, copyBytes } from "../core/arena.ts";
import { PacketBuffer } from "../core/packet.ts";
import { OVERHEAD } from "../core/legacy.ts";
import { DATA } from "../core/current_wire.ts";
import { tapMtuFor } from "../tunnel/run.ts";

Deno.test("arena: allocations are aligned, zeroed, and do not overlap", () => {
  const a = new Arena(4096);
  const x = a.alloc(100);
  const y = a.alloc(10);
  assert.equal(x.buffer, a.all.buffer);
  assert.equal(y.buffer, a.all.buffer);
  assert.equal(x.byteOffset % 64, 0);
  assert.equal(y.byteOffset % 64, 0);
  assert.ok(y.byteOffset >= x.byteOffset + 100, "y starts after x");
  assert.ok(y.every((b) => b === 0));
});

Deno.test("arena: when full it says so once and still hands out bytes", () => {
  const full: number[] = [];
  const a = new Arena(256, (n) => full.push(n));
  a.alloc(200);
  const b = a.alloc(100);
  const c = a.alloc(300);
  assert.deepEqual(full, [100], "onFull once, with the size that did not fit");
  assert.equal(b.length, 100);
  assert.equal(c.length, 300);
  assert.notEqual(b.buffer, a.all.buffer, "from the heap");
});

Deno.test("copyBytes: within one arena, overlapping ranges included", () => {
  const a = new Arena(1024);
  const src = a.alloc(16);
  const dst = a.alloc(16);
  src.set(Array.from({ length: 16 }, (_, i) => i + 1));
  copyBytes(dst, 4, src, 2, 10);
  assert.deepEqual([...dst.subarray(4, 12)], [3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(dst[3], 0);
  assert.equal(dst[12], 0);
  copyBytes(src, 1, src, 0, 8); // a move one to the right, as memmove
  assert.deepEqual([...src.subarray(0, 10)], [1, 1, 2, 3, 4, 5, 6, 7, 8, 10]);
  const other = new Uint8Array(4); // a buffer of its own works too
  copyBytes(other, 0, dst, 4, 8);
  assert.deepEqual([...other], [3, 4, 5, 6]);
});

Deno.test("copyBytes: an over-long copy throws a RangeError and leaves the next buffer alone", () => {
  const a = new Arena(1024);
  const src = a.alloc(128).fill(0xaa);
  const dst = a.alloc(64);
  const next = a.alloc(64).fill(0x55);
  // dst and next are adjacent in the arena: copyWithin on the whole buffer
  // would spill 64 bytes into next.
  assert.equal(next.byteOffset, dst.byteOffset + 64);
  assert.throws(() => copyBytes(dst, 0, src, 0, 128), RangeError);
  assert.throws(() => copyBytes(dst, 10, src, 0, 60), RangeError, "fits only from an earlier offset");
  assert.throws(() => copyBytes(dst, 0, src, 100, 140), RangeError, "past the end of the source");
  assert.throws(() => copyBytes(dst, 0, src, 10, 5), RangeError, "a reversed range");
  assert.throws(() => copyBytes(dst, -1, src, 0, 4), RangeError, "a negative offset");
  assert.ok(next.every((b) => b === 0x55), "the next buffer is untouched");
  assert.ok(dst.every((b) => b === 0), "and nothing was copied");
  copyBytes(dst, 0, src, 0, 64); // exactly full is fine
  assert.ok(dst.every((b) => b === 0xaa));
  assert.ok(next.every((b) => b === 0x55));
});

Deno.test("packet buffer: the room a device asks for lies in front of the frame", () => {
  const a = new Arena(1 << 20);
  const b = new PacketBuffer(8, { arena: a, reserve: 10, size: 2000 });
  assert.equal(b.bytes.length, 2000);
  assert.equal(b.payloadAt, 18);
  const front = b.front(10); // a 10-byte device header, then the frame
  assert.equal(front.byteOffset + 10, b.payload.byteOffset);
  front[10] = 0x42;
  assert.equal(b.payload[0], 0x42);
  b.view.setUint8(b.payloadAt + 1, 0x43);
  assert.equal(b.payload[1], 0x43, "view offsets count the reserve");
  assert.equal(b.front(10), front, "the view is made once");
  assert.throws(() => b.front(19), RangeError);
  const plain = new PacketBuffer(24);
  assert.equal(plain.reserve, 0);
  assert.equal(plain.bytes.length, 65536);
  assert.equal(plain.front(24).byteOffset, plain.bytes.byteOffset);
});

Deno.test("tapMtuFor: known answers for both formats over IPv4 and IPv6", () => {
  // Path MTU − IP header (20 or 40) − UDP header (8) − overhead − Ethernet
  // header (14). Overheads from docs/PROTOCOL.md: legacy 56 (a 24-byte
  // nonce, the 16 zero bytes the 2014 program sends, a 16-byte tag),
  // current 24 (an 8-byte header, a 16-byte tag).
  assert.equal(OVERHEAD, 56);
  assert.equal(DATA.OVERHEAD, 24);
  assert.equal(tapMtuFor(1500, 4, 56), 1402);
  assert.equal(tapMtuFor(1500, 6, 56), 1382);
  assert.equal(tapMtuFor(1500, 4, 24), 1434);
  assert.equal(tapMtuFor(1500, 6, 24), 1414);
  assert.equal(tapMtuFor(9000, 4, 56), 8902);
  assert.equal(tapMtuFor(1280, 6, 24), 1194);
});
