/**
 * TAP offloads without a kernel: TCP super-frames (IPv4 and IPv6) cut into
 * valid frames, and joined back the way GRO would; frames that must not be
 * joined are passed through in order.
 */

import { strict as assert } from "node:assert";
import { onesSum } from "../core/checksum.ts";
import { Coalescer, TsoSplitter, Vnet, VNET_HDR_LEN } from "../io/offload.ts";
import { checksumsValid, rxBuffer, superFrame, tcpFrame, view } from "./_frames.ts";

for (const ipv6 of [false, true]) {
  Deno.test(`offload: a TCP/${ipv6 ? "IPv6" : "IPv4"} super-frame cut into frames and joined back`, () => {
    const payload = new Uint8Array(10_000).map((_, i) => (i * 13) & 0xff);
    const mss = 1382;
    const src = superFrame(ipv6, payload, mss);
    const s = new TsoSplitter();
    assert.ok(s.load(src, view(src), 0, 0, src.length));
    assert.equal(s.remaining, Math.ceil(10_000 / mss));
    const frames: Uint8Array[] = [];
    const dst = rxBuffer(8);
    for (let n; (n = s.next(dst.payload, dst.view, dst.payloadAt)) > 0;) frames.push(dst.payload.slice(0, n));
    assert.equal(frames.length, 8);
    let seq = 0xfffff000;
    let got = 0;
    frames.forEach((f, k) => {
      const v = view(f);
      const t = ipv6 ? 54 : 34;
      assert.ok(checksumsValid(f), `segment ${k} checksums`);
      assert.equal(v.getUint32(t + 4), seq >>> 0, "sequence numbers follow (and wrap)");
      const seg = f.length - t - 32;
      assert.equal(seg, k < 7 ? mss : 10_000 - 7 * mss);
      assert.deepEqual(f.subarray(t + 32), payload.subarray(got, got + seg));
      assert.equal(f[t + 13] & 0x08, k === 7 ? 0x08 : 0, "PSH on the last segment only");
      if (!ipv6) assert.equal(v.getUint16(14 + 4), 100 + k, "IP IDs count up");
      seq += seg;
      got += seg;
    });
    // Join them back.
    const writes: Uint8Array[] = [];
    const c = new Coalescer((b, n) => {
      writes.push(b.slice(0, n));
      return 0;
    });
    const rx = rxBuffer(8);
    for (const f of frames) {
      rx.payload.set(f);
      c.add(rx.front(VNET_HDR_LEN), rx.view, rx.payloadAt, f.length);
    }
    c.flush();
    assert.equal(writes.length, 1, "one super-frame");
    const w = writes[0];
    const wv = view(w);
    assert.equal(w[0], Vnet.F_NEEDS_CSUM);
    assert.equal(w[1], ipv6 ? Vnet.GSO_TCPV6 : Vnet.GSO_TCPV4);
    assert.equal(wv.getUint16(4, true), mss, "gso_size");
    const joined = w.subarray(VNET_HDR_LEN);
    const original = src.subarray(VNET_HDR_LEN);
    assert.equal(joined.length, original.length);
    assert.deepEqual(joined, original, "the very super-frame the TAP gave (partial checksum included)");
    assert.equal(c.joined, 8);
  });
}

Deno.test("offload: frames that must not be joined go out whole and in order", () => {
  const writes: Uint8Array[] = [];
  const c = new Coalescer((b, n) => {
    writes.push(b.slice(0, n));
    return 0;
  });
  const rx = rxBuffer(56);
  const put = (f: Uint8Array) => {
    rx.payload.set(f);
    c.add(rx.front(VNET_HDR_LEN), rx.view, rx.payloadAt, f.length);
  };
  const p = new Uint8Array(100).fill(1);
  put(tcpFrame({ seq: 0, payload: p, flags: 0x10 }));
  put(tcpFrame({ seq: 100, payload: p, flags: 0x10 })); // joins the first
  put(tcpFrame({ seq: 500, payload: p, flags: 0x10 })); // a gap: a new super-frame
  const bad = tcpFrame({ seq: 600, payload: p, flags: 0x10 });
  bad[bad.length - 1] ^= 0xff; // wrong checksum: never joined, the kernel will drop it
  put(bad);
  put(tcpFrame({ seq: 700, payload: p, flags: 0x11 })); // FIN
  const arp = new Uint8Array(42).fill(0xff);
  view(arp).setUint16(12, 0x0806);
  put(arp);
  c.flush();
  const kinds = writes.map((w) => `${w[1]}:${w.length - VNET_HDR_LEN}`);
  assert.deepEqual(kinds, [`1:${66 + 200}`, `0:${166}`, `0:${166}`, `0:${166}`, "0:42"]);
  assert.ok(checksumsValid(writes[1].subarray(VNET_HDR_LEN)));
  assert.deepEqual(writes[4].subarray(VNET_HDR_LEN), arp);
});

Deno.test("offload: a frame with a partial checksum and no GSO is completed", () => {
  const frame = tcpFrame({ seq: 1, payload: new Uint8Array(300).fill(3), partial: true });
  const src = new Uint8Array(VNET_HDR_LEN + frame.length);
  src[0] = Vnet.F_NEEDS_CSUM;
  view(src).setUint16(6, 34, true);
  view(src).setUint16(8, 16, true);
  src.set(frame, VNET_HDR_LEN);
  const s = new TsoSplitter();
  assert.ok(s.load(src, view(src), 0, 0, src.length));
  const out = new Uint8Array(2000);
  const n = s.next(out, view(out), 0);
  assert.equal(n, frame.length);
  assert.ok(checksumsValid(out.subarray(0, n)));
  assert.equal(s.next(out, view(out), 0), 0);
});

/** An Ethernet + IPv4 + UDP frame with a valid checksum. */
function udpFrame(payload: Uint8Array, id: number): Uint8Array {
  const len = 14 + 20 + 8 + payload.length;
  const f = new Uint8Array(len);
  const v = view(f);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, len - 14);
  v.setUint16(18, id);
  f[22] = 64;
  f[23] = 17;
  f.set([198, 19, 1, 1, 198, 19, 1, 2], 26);
  v.setUint16(24, ~onesSum(v, 14, 34) & 0xffff);
  v.setUint16(34, 5000);
  v.setUint16(36, 5201);
  v.setUint16(38, 8 + payload.length);
  f.set(payload, 42);
  const a = onesSum(v, 26, 34);
  v.setUint16(40, ~onesSum(v, 34, len, a + 17 + 8 + payload.length) & 0xffff);
  return f;
}

Deno.test("offload: UDP datagrams of one flow joined into a USO super-frame, one by one if refused", () => {
  for (const refuse of [false, true]) {
    const writes: Uint8Array[] = [];
    const c = new Coalescer((b, n, frames) => {
      if (refuse && frames > 1) return 22; // EINVAL: no USO here
      writes.push(b.slice(0, n));
      return 0;
    });
    const bufs = Array.from({ length: 5 }, () => rxBuffer(24));
    const sizes = [64, 64, 64, 30, 64];
    bufs.forEach((b, i) => {
      const f = udpFrame(new Uint8Array(sizes[i]).fill(i), 100 + i);
      b.payload.set(f);
      c.add(b.front(VNET_HDR_LEN), b.view, b.payloadAt, f.length);
    });
    c.flush();
    if (!refuse) {
      // Four join (the fourth is shorter and closes the group); the fifth starts anew.
      assert.deepEqual(writes.map((w) => `${w[1]}:${w.length - VNET_HDR_LEN}`), [
        `5:${42 + 64 * 3 + 30}`,
        "0:106",
      ]);
      const w = writes[0];
      const wv = view(w);
      assert.equal(wv.getUint16(4, true), 64, "gso_size: the datagram payload");
      assert.equal(wv.getUint16(VNET_HDR_LEN + 38), 8 + 64 * 3 + 30, "UDP length of the super-frame");
      assert.deepEqual(w.subarray(VNET_HDR_LEN + 42 + 64 * 3), new Uint8Array(30).fill(3));
    } else {
      assert.equal(writes.length, 5, "each datagram alone");
      writes.forEach((w, i) => assert.equal(w.length - VNET_HDR_LEN, 42 + sizes[i]));
    }
  }
});
