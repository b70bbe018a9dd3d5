/**
 * Issue 14's offload items: a join never passes the 16-bit IP length (the
 * 47-segment case at TAP MTU 1434), and TSO cuts respect the path's frame
 * size. Lengths are checked against numbers worked out by hand.
 */

import { strict as assert } from "node:assert";
import { Coalescer, TsoSplitter, Vnet, VNET_HDR_LEN } from "../io/offload.ts";
import { PacketBuffer } from "../core/packet.ts";

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** RFC 1071's sum, written here apart from the code under test. */
function sum(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length % 2) s += b[b.length - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return s;
}

/** An Ethernet + IPv4 + TCP (20 bytes, ACK) frame with `data` bytes, checksums right. */
function segment(seq: number, data: number, flags = 0x10): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20 + data);
  const v = dv(f);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
  v.setUint16(12, 0x0800);
  f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 19, 1, 1, 198, 19, 1, 2], 14);
  v.setUint16(16, 40 + data);
  v.setUint16(24, ~sum(f.subarray(14, 34)) & 0xffff);
  v.setUint16(34, 5201);
  v.setUint16(36, 40000);
  v.setUint32(38, seq >>> 0);
  f[46] = 5 << 4;
  f[47] = flags;
  v.setUint16(48, 500);
  for (let i = 54; i < f.length; i++) f[i] = i & 0xff;
  const pseudo = sum(f.subarray(26, 34)) + 6 + 20 + data;
  v.setUint16(50, ~sum(f.subarray(34), pseudo) & 0xffff);
  return f;
}

Deno.test("join: 47 segments at TAP MTU 1434 (1394 bytes each) never write an IPv4 length over 65535", () => {
  // 47 × 1394 + 40 = 65558 > 65535: the 47th must start a new super-frame.
  const writes: { ipLen: number; frames: number; length: number }[] = [];
  const co = new Coalescer((bytes, length, frames) => {
    writes.push({ ipLen: dv(bytes).getUint16(VNET_HDR_LEN + 16), frames, length });
    return 0;
  });
  const mss = 1434 - 40;
  for (let i = 0; i < 47; i++) {
    const b = new PacketBuffer(16, { reserve: VNET_HDR_LEN });
    const f = segment(1000 + i * mss, mss);
    b.payload.set(f);
    co.add(b.front(VNET_HDR_LEN), b.view, b.payloadAt, f.length);
  }
  co.flush();
  assert.equal(writes.reduce((n, w) => n + w.frames, 0), 47);
  for (const w of writes) {
    assert.ok(w.ipLen <= 65535);
    assert.equal(w.ipLen, w.length - VNET_HDR_LEN - 14, "the IP length is the super-frame's");
  }
  assert.deepEqual(writes.map((w) => w.frames), [46, 1]); // 46 × 1394 + 40 = 64164
});

Deno.test("TSO: a super-frame with gso_size 1448 is cut into segments that fit a 1228-byte frame", () => {
  const data = 1448 * 3;
  const f = segment(5000, data, 0x18);
  const src = new Uint8Array(VNET_HDR_LEN + f.length);
  src.set(f, VNET_HDR_LEN);
  src[1] = Vnet.GSO_TCPV4;
  dv(src).setUint16(2, 54, true); // hdr_len
  dv(src).setUint16(4, 1448, true); // gso_size
  dv(src).setUint16(6, 34, true); // csum_start
  dv(src).setUint16(8, 16, true);
  const s = new TsoSplitter();
  s.maxFrame = 1228; // 1280 − 28 − 24
  assert.ok(s.load(src, dv(src), 0, 0, src.length));
  // 1228 − 54 = 1174 bytes each: ceil(4344 / 1174) = 4 segments, the last 822.
  assert.equal(s.remaining, 4);
  const out = new Uint8Array(2000);
  let seq = 5000;
  const lengths: number[] = [];
  while (s.remaining > 0) {
    const n = s.next(out, dv(out), 0);
    lengths.push(n);
    const fr = out.subarray(0, n);
    assert.equal(sum(fr.subarray(14, 34)), 0xffff);
    assert.equal(sum(fr.subarray(34), sum(fr.subarray(26, 34)) + 6 + n - 34), 0xffff);
    assert.equal(dv(fr).getUint32(38), seq);
    seq += n - 54;
  }
  assert.deepEqual(lengths, [1228, 1228, 1228, 54 + 822]);
});
