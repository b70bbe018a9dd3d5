/**
 * Ethernet frames for the offload tests (tests/offload_test.ts,
 * tests/_jit_shapes.ts): TCP segments with valid checksums, and super-frames
 * as a TAP with offloads hands them over.
 */

import { onesSum } from "../core/checksum.ts";
import { PacketBuffer } from "../core/packet.ts";
import { Vnet, VNET_HDR_LEN } from "../io/offload.ts";

/** A receive buffer with room for the vnet header, as the tunnel makes them for a TAP with offloads. */
export const rxBuffer = (headroom: number) => new PacketBuffer(headroom, { reserve: VNET_HDR_LEN });

/** A DataView over exactly the bytes of `b`. */
export const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** An Ethernet + IPv4/IPv6 + TCP (with 12 bytes of options) frame. */
export function tcpFrame(
  o: { ipv6?: boolean; seq: number; payload: Uint8Array; flags?: number; id?: number; partial?: boolean },
) {
  const ipLen = o.ipv6 ? 40 : 20;
  const tcpLen = 32;
  const len = 14 + ipLen + tcpLen + o.payload.length;
  const f = new Uint8Array(len);
  const v = view(f);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  v.setUint16(12, o.ipv6 ? 0x86dd : 0x0800);
  const ip = 14;
  if (o.ipv6) {
    v.setUint32(ip, 0x60000000);
    v.setUint16(ip + 4, tcpLen + o.payload.length);
    f[ip + 6] = 6;
    f[ip + 7] = 64;
    f.set([0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], ip + 8);
    f.set([0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2], ip + 24);
  } else {
    f[ip] = 0x45;
    v.setUint16(ip + 2, len - 14);
    v.setUint16(ip + 4, o.id ?? 100);
    v.setUint16(ip + 6, 0x4000);
    f[ip + 8] = 64;
    f[ip + 9] = 6;
    f.set([198, 19, 1, 1, 198, 19, 1, 2], ip + 12);
    v.setUint16(ip + 10, ~onesSum(v, ip, ip + 20) & 0xffff);
  }
  const t = 14 + ipLen;
  v.setUint16(t, 40000);
  v.setUint16(t + 2, 5201);
  v.setUint32(t + 4, o.seq >>> 0);
  v.setUint32(t + 8, 777);
  f[t + 12] = (tcpLen / 4) << 4;
  f[t + 13] = o.flags ?? 0x18; // ACK | PSH
  v.setUint16(t + 14, 502);
  f.set([1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7], t + 20); // NOP NOP TS
  f.set(o.payload, t + tcpLen);
  const pseudo = pseudoSum(f, o.ipv6 ?? false, len - t);
  v.setUint16(t + 16, o.partial ? pseudo : ~onesSum(v, t, len, pseudo) & 0xffff);
  return f;
}

/** The TCP pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1) of frame `f`,
 * folded, for a TCP segment of `tcpLength` bytes. Written here apart from
 * io/vnet.ts's pseudoSum on purpose: the tests check the splitter's and the
 * coalescer's checksums against a sum that is not the code under test. */
export function pseudoSum(f: Uint8Array, ipv6: boolean, tcpLength: number): number {
  const v = view(f);
  const a = ipv6 ? onesSum(v, 14 + 8, 14 + 40) : onesSum(v, 14 + 12, 14 + 20);
  return onesSum(new DataView(new Uint8Array(4).buffer), 0, 0, a + 6 + tcpLength);
}

/** True when the frame's IP header (IPv4) and TCP checksums are right. */
export function checksumsValid(f: Uint8Array): boolean {
  const v = view(f);
  const ipv6 = v.getUint16(12) === 0x86dd;
  const t = ipv6 ? 54 : 34;
  if (!ipv6 && onesSum(v, 14, 34) !== 0xffff) return false;
  return onesSum(v, t, f.length, pseudoSum(f, ipv6, f.length - t)) === 0xffff;
}

/** The frame as the TAP hands it over: vnet header + super-frame. */
export function superFrame(ipv6: boolean, payload: Uint8Array, mss: number): Uint8Array {
  const frame = tcpFrame({ ipv6, seq: 0xfffff000, payload, partial: true });
  const out = new Uint8Array(VNET_HDR_LEN + frame.length);
  const v = view(out);
  out[0] = Vnet.F_NEEDS_CSUM;
  out[1] = ipv6 ? Vnet.GSO_TCPV6 : Vnet.GSO_TCPV4;
  const t = ipv6 ? 54 : 34;
  v.setUint16(2, t + 32, true);
  v.setUint16(4, mss, true);
  v.setUint16(6, t, true);
  v.setUint16(8, 16, true);
  out.set(frame, VNET_HDR_LEN);
  return out;
}
