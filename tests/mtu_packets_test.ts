/**
 * Issue 14's packet builders against hand-checked packets: MSS clamping
 * (IPv4, IPv6, 802.1Q, QinQ, an MSS at an odd offset), the ICMP errors and
 * the IPv4 fragmenter. Every checksum is checked with the RFC 1071 sum
 * below, written here apart from the code under test.
 */

import { strict as assert } from "node:assert";
import { clampMss, updateChecksum } from "../core/mss.ts";
import { errorAllowed, tooBigError } from "../core/icmp.ts";
import { fragmentIpv4 } from "../core/fragment.ts";

/** RFC 1071 §4.1's C loop, over bytes: the folded 16-bit sum. */
function rfc1071(b: Uint8Array, init = 0): number {
  let sum = init;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length % 2 === 1) sum += b[b.length - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}
const be16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const MACS = [0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa];

/** A TCP segment's pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1). */
function pseudo(ip: Uint8Array, six: boolean, l4len: number, proto: number): number {
  const addr = six ? ip.subarray(8, 40) : ip.subarray(12, 20);
  return rfc1071(addr) + proto + l4len;
}

/** An Ethernet frame (with `tags` VLAN tag types) of IPv4 or IPv6 + TCP
 * with `options` and `flags`, checksums right. Returns it and the IP offset. */
function tcp(o: { six?: boolean; tags?: number[]; options: number[]; flags: number; data?: number }) {
  const ipOff = 14 + 4 * (o.tags?.length ?? 0);
  const hl = o.six ? 40 : 20;
  const tcpLen = 20 + o.options.length;
  const len = ipOff + hl + tcpLen + (o.data ?? 0);
  const f = new Uint8Array(len);
  const v = dv(f);
  f.set(MACS);
  let at = 12;
  for (const t of o.tags ?? []) {
    v.setUint16(at, t);
    v.setUint16(at + 2, 0x0064); // VLAN 100
    at += 4;
  }
  v.setUint16(at, o.six ? 0x86dd : 0x0800);
  const ip = f.subarray(ipOff);
  if (o.six) {
    ip.set([0x60, 0, 0, 0]);
    dv(ip).setUint16(4, tcpLen + (o.data ?? 0));
    ip[6] = 6;
    ip[7] = 64;
    ip.set([0xfd, 0x19, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    ip.set([0xfd, 0x19, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  } else {
    ip.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 198, 19, 1, 1, 198, 19, 1, 2]);
    dv(ip).setUint16(2, hl + tcpLen + (o.data ?? 0));
    dv(ip).setUint16(10, ~rfc1071(ip.subarray(0, 20)) & 0xffff);
  }
  const t = ip.subarray(hl);
  t.set([0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0]);
  t[12] = (tcpLen / 4) << 4;
  t[13] = o.flags;
  t.set([0xfa, 0xf0], 14);
  t.set(o.options, 20);
  dv(t).setUint16(16, ~rfc1071(t, pseudo(ip, o.six ?? false, t.length, 6)) & 0xffff);
  return { f, ipOff, tcpOff: ipOff + hl };
}

function tcpValid(f: Uint8Array, ipOff: number, six: boolean): boolean {
  const ip = f.subarray(ipOff);
  const t = ip.subarray(six ? 40 : 20, six ? 40 + be16(ip, 4) : be16(ip, 2));
  return rfc1071(t, pseudo(ip, six, t.length, 6)) === 0xffff;
}

const SYN = 0x02, SYN_ACK = 0x12, ACK = 0x10;
// MSS 1460, NOP, window scale 7, SACK permitted, NOP NOP (Linux's order but no timestamps).
const MSS_FIRST = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1];
// NOP, window scale, then MSS at an odd offset from the TCP header (21 + 4 = 25: odd).
const MSS_ODD = [1, 3, 3, 7, 2, 4, 0x05, 0xb4, 0, 0, 0, 0];

Deno.test("RFC 1624 §4's example: eqn. 3 gives 0x0000, not -0", () => {
  assert.equal(updateChecksum(0xdd2f, 0x5555, 0x3285), 0x0000);
});

Deno.test("clamp: an IPv4 SYN's MSS 1460 becomes 1196 − 14 − 20 − 20 = 1142, checksum right", () => {
  const { f, ipOff, tcpOff } = tcp({ options: MSS_FIRST, flags: SYN });
  assert.equal(clampMss(dv(f), 0, f.length, 1196), 1142);
  assert.equal(be16(f, tcpOff + 22), 1142);
  assert.ok(tcpValid(f, ipOff, false));
});

Deno.test("clamp: SYN-ACK, IPv6, 802.1Q, QinQ and an odd offset each get the right MSS and checksum", () => {
  const cases = [
    { six: false, tags: [], flags: SYN_ACK, options: MSS_FIRST, want: 1142, at: 22 },
    { six: true, tags: [], flags: SYN, options: MSS_FIRST, want: 1196 - 14 - 40 - 20, at: 22 },
    { six: false, tags: [0x8100], flags: SYN, options: MSS_FIRST, want: 1196 - 18 - 40, at: 22 },
    { six: true, tags: [0x88a8, 0x8100], flags: SYN, options: MSS_FIRST, want: 1196 - 22 - 60, at: 22 },
    { six: false, tags: [], flags: SYN, options: MSS_ODD, want: 1142, at: 26 },
    { six: true, tags: [0x8100], flags: SYN_ACK, options: MSS_ODD, want: 1196 - 18 - 60, at: 26 },
  ];
  for (const c of cases) {
    const { f, ipOff, tcpOff } = tcp(c);
    assert.equal(clampMss(dv(f), 0, f.length, 1196), c.want, JSON.stringify(c));
    assert.equal(be16(f, tcpOff + c.at), c.want);
    assert.ok(tcpValid(f, ipOff, c.six), `checksum after clamping ${JSON.stringify(c)}`);
  }
});

Deno.test("clamp: leaves alone non-SYNs, small MSSs, fragments and frames that are not TCP", () => {
  const ack = tcp({ options: MSS_FIRST, flags: ACK });
  const copy = ack.f.slice();
  assert.equal(clampMss(dv(ack.f), 0, ack.f.length, 1196), 0);
  assert.deepEqual(ack.f, copy);
  const small = tcp({ options: MSS_FIRST, flags: SYN });
  assert.equal(clampMss(dv(small.f), 0, small.f.length, 1600), 0); // 1460 fits 1600 − 54
  const udp = tcp({ options: MSS_FIRST, flags: SYN });
  udp.f[udp.ipOff + 9] = 17;
  assert.equal(clampMss(dv(udp.f), 0, udp.f.length, 1196), 0);
  const arp = tcp({ options: MSS_FIRST, flags: SYN });
  dv(arp.f).setUint16(12, 0x0806);
  assert.equal(clampMss(dv(arp.f), 0, arp.f.length, 1196), 0);
  const broken = tcp({ options: [2, 9, 5, 0xb4], flags: SYN }); // MSS with a bad length
  assert.equal(clampMss(dv(broken.f), 0, broken.f.length, 1196), 0);
});

Deno.test("ICMP fragmentation needed: addressed back, MTU, RFC 1812 quote, both checksums", () => {
  const { f, ipOff } = tcp({ options: MSS_FIRST, flags: ACK, data: 1400 });
  const out = new Uint8Array(2048);
  assert.ok(errorAllowed(dv(f), 0, f.length, ipOff));
  const n = tooBigError(dv(f), 0, f.length, ipOff, 1182, dv(out), 0);
  const e = out.subarray(0, n);
  assert.equal(n, 14 + 576); // 20 + 8 + 548 quoted
  assert.deepEqual([...e.subarray(0, 12)], [...MACS.slice(6), ...MACS.slice(0, 6)]);
  assert.equal(be16(e, 12), 0x0800);
  const ip = e.subarray(14);
  assert.equal(ip[0], 0x45);
  assert.equal(be16(ip, 2), 576);
  assert.equal(ip[9], 1);
  assert.deepEqual([...ip.subarray(12, 16)], [198, 19, 1, 2]); // from the original destination
  assert.deepEqual([...ip.subarray(16, 20)], [198, 19, 1, 1]); // to its source
  assert.equal(rfc1071(ip.subarray(0, 20)), 0xffff);
  const icmp = ip.subarray(20, 576);
  assert.deepEqual([icmp[0], icmp[1], be16(icmp, 4), be16(icmp, 6)], [3, 4, 0, 1182]);
  assert.equal(rfc1071(icmp), 0xffff);
  assert.deepEqual(icmp.subarray(8), f.subarray(ipOff, ipOff + 548));
});

Deno.test("ICMPv6 packet too big: MTU, quote up to 1280 bytes, pseudo-header checksum", () => {
  const { f, ipOff } = tcp({ six: true, tags: [0x8100], options: MSS_FIRST, flags: ACK, data: 1400 });
  const out = new Uint8Array(2048);
  const n = tooBigError(dv(f), 0, f.length, ipOff, 1280, dv(out), 0);
  assert.equal(n, 18 + 1280);
  const ip = out.subarray(18, n);
  assert.equal(be16(out, 12), 0x8100); // the tag kept
  assert.equal(be16(out, 16), 0x86dd);
  assert.equal(ip[6], 58);
  assert.equal(be16(ip, 4), 1240);
  assert.deepEqual(ip.subarray(8, 24), f.subarray(ipOff + 24, ipOff + 40));
  assert.deepEqual(ip.subarray(24, 40), f.subarray(ipOff + 8, ipOff + 24));
  const icmp = ip.subarray(40);
  assert.equal(icmp[0], 2);
  assert.equal(dv(icmp).getUint32(4), 1280);
  assert.equal(rfc1071(icmp, pseudo(ip, true, icmp.length, 58)), 0xffff);
  assert.deepEqual(icmp.subarray(8), f.subarray(ipOff, ipOff + 1232));
});

Deno.test("no ICMP error about an ICMP error, or to a multicast source", () => {
  const { f, ipOff } = tcp({ options: MSS_FIRST, flags: ACK, data: 100 });
  f[ipOff + 9] = 1;
  f[ipOff + 20] = 3; // destination unreachable
  assert.equal(errorAllowed(dv(f), 0, f.length, ipOff), false);
  f[ipOff + 20] = 8; // echo request: fine
  assert.equal(errorAllowed(dv(f), 0, f.length, ipOff), true);
  f[ipOff + 12] = 224;
  assert.equal(errorAllowed(dv(f), 0, f.length, ipOff), false);
});

Deno.test("fragmenter: 1500-byte IPv4 packet into frames of at most 1196, RFC 791 fields and checksums", () => {
  const { f, ipOff } = tcp({ options: MSS_FIRST, flags: ACK, data: 1500 - 20 - 32 });
  dv(f).setUint16(ipOff + 6, 0); // no DF
  dv(f).setUint16(ipOff + 10, 0);
  dv(f).setUint16(ipOff + 10, ~rfc1071(f.subarray(ipOff, ipOff + 20)) & 0xffff);
  const bufs = [0, 1, 2].map(() => new Uint8Array(2000));
  const sink = { bytes: bufs, views: bufs.map(dv), bases: new Int32Array(3), lengths: new Int32Array(3) };
  const n = fragmentIpv4(f, dv(f), 0, f.length, ipOff, 1196, sink, 0, 3);
  assert.equal(n, 2);
  // 1196 − 14 − 20 = 1162 → 1160 (a multiple of 8) in the first; 1480 − 1160 = 320 in the second.
  assert.deepEqual([...sink.lengths.subarray(0, 2)], [14 + 20 + 1160, 14 + 20 + 320]);
  const data: number[] = [];
  for (let i = 0; i < 2; i++) {
    const fr = bufs[i].subarray(0, sink.lengths[i]);
    const ip = fr.subarray(14);
    assert.deepEqual(fr.subarray(0, 14), f.subarray(0, 14));
    assert.equal(rfc1071(ip.subarray(0, 20)), 0xffff);
    assert.equal(be16(ip, 2), fr.length - 14);
    assert.equal(be16(ip, 4), 0x1234);
    assert.equal(be16(ip, 6), i === 0 ? 0x2000 | 0 : 1160 / 8); // MF | offset
    data.push(...ip.subarray(20));
  }
  assert.deepEqual(data, [...f.subarray(ipOff + 20)]);
  assert.equal(fragmentIpv4(f, dv(f), 0, f.length, ipOff, 1196, sink, 0, 1), 0); // no room: 0
});

Deno.test("fragmenter: later fragments keep only the copied options", () => {
  // IHL 6: a copied option (type 0x94, router alert, 4 bytes).
  const len = 14 + 24 + 200;
  const f = new Uint8Array(len);
  f.set(MACS);
  dv(f).setUint16(12, 0x0800);
  f.set([0x46, 0, 0, 0, 0, 7, 0, 0, 64, 17, 0, 0, 198, 19, 1, 1, 198, 19, 1, 2, 0x94, 4, 0, 0], 14);
  dv(f).setUint16(16, len - 14);
  for (let i = 38; i < len; i++) f[i] = i & 0xff;
  const bufs = [0, 1, 2, 3].map(() => new Uint8Array(300));
  const sink = { bytes: bufs, views: bufs.map(dv), bases: new Int32Array(4), lengths: new Int32Array(4) };
  const n = fragmentIpv4(f, dv(f), 0, len, 14, 14 + 24 + 80, sink, 0, 4);
  assert.equal(n, 3);
  for (let i = 0; i < n; i++) {
    const ip = bufs[i].subarray(14);
    assert.equal(ip[0], 0x46);
    assert.deepEqual([...ip.subarray(20, 24)], [0x94, 4, 0, 0]);
    assert.equal(rfc1071(ip.subarray(0, 24)), 0xffff);
  }
});
