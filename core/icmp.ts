/**
 * The ICMP errors a router sends for a packet too big for the next hop,
 * built as Ethernet frames to write back into the TAP: ICMPv4 "destination
 * unreachable, fragmentation needed and DF set" (RFC 792, RFC 1191: type 3
 * code 4 with the next-hop MTU) and ICMPv6 "packet too big" (RFC 4443 §3.2:
 * type 2 with the MTU). The sending host's stack takes either from any
 * source address and lowers its path MTU for the quoted destination (Linux:
 * icmp_unreach / icmpv6_rcv → tcp_v4_mtu_reduced, ip6_update_pmtu).
 *
 * Addressing: the error comes from the original destination (an L2 tunnel
 * has no address of its own on the overlay) to the original source, with
 * the Ethernet addresses swapped and the VLAN tags kept, so it arrives on
 * the sender's interface as if from the host it wrote to. Pure: bytes in,
 * bytes out, no allocation.
 *
 * @module
 */

import { ETH_P_IPV6, IPV4_HLEN, IPV6_HLEN } from "./mss.ts";

/** IPPROTO_ICMP, IPPROTO_ICMPV6 (<netinet/in.h>). */
const ICMP = 1;
const ICMPV6 = 58;
/** ICMP header bytes before the quoted packet (type, code, checksum, 4
 * bytes of MTU field). */
const ICMP_HLEN = 8;
/** RFC 1812 §4.3.2.3: an ICMPv4 error quotes as much of the packet as
 * keeps the error within 576 bytes. */
const ICMP4_MAX = 576;
/** RFC 4443 §2.4 (c): an ICMPv6 error quotes as much as keeps it within
 * the minimum IPv6 MTU, 1280 bytes. */
const ICMP6_MAX = 1280;
/** Types: ICMPv4 destination unreachable, its code "fragmentation needed";
 * ICMPv6 packet too big. */
const ICMP_DEST_UNREACH = 3;
const ICMP_FRAG_NEEDED = 4;
const ICMPV6_PKT_TOOBIG = 2;
/** Hop limit / TTL of the errors (Linux's default, net.ipv4.ip_default_ttl). */
const TTL = 64;
/** TOS of ICMPv4 errors: internetwork control (as Linux's icmp_send). */
const TOS_INTERNETWORK_CONTROL = 0xc0;

/** The ones' complement sum (RFC 1071) of `v[start, end)` as big-endian
 * words, plus `initial`, folded to 16 bits; not complemented. */
export function inetSum(v: DataView, start: number, end: number, initial = 0): number {
  let s = initial;
  let i = start;
  for (; i + 2 <= end; i += 2) s += v.getUint16(i);
  if (i < end) s += v.getUint8(i) << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/**
 * True when an error about the IP packet at frame offset `ip` may be sent
 * (RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e)): not about an ICMP error, not to
 * an unspecified, multicast or broadcast source, not about a non-first
 * IPv4 fragment.
 */
export function errorAllowed(v: DataView, base: number, length: number, ip: number): boolean {
  const p = base + ip;
  if ((v.getUint8(p) >> 4) === 6) {
    if (length < ip + IPV6_HLEN) return false;
    const src0 = v.getUint8(p + 8);
    if (src0 === 0xff) return false;
    let zero = true;
    for (let i = 8; i < 24 && zero; i++) zero = v.getUint8(p + i) === 0;
    if (zero) return false;
    if (v.getUint8(p + 6) === ICMPV6 && length >= ip + IPV6_HLEN + 1) {
      return v.getUint8(p + IPV6_HLEN) >= 128; // informational (echo): fine
    }
    return true;
  }
  if (length < ip + IPV4_HLEN) return false;
  const src0 = v.getUint8(p + 12);
  if (src0 === 0 || src0 >= 224) return false; // this-network, multicast, broadcast
  if ((v.getUint16(p + 6) & 0x1fff) !== 0) return false;
  if (v.getUint8(p + 9) === ICMP) {
    const l4 = ip + (v.getUint8(p) & 0x0f) * 4;
    if (length <= l4) return false;
    const type = v.getUint8(base + l4);
    return type === 0 || type === 8 || type === 13 || type === 14; // echo, timestamp
  }
  return true;
}

/**
 * Writes into `out` (at view offset `oBase`) the Ethernet frame of an ICMP
 * error for the too-big packet in frame `v[base, base + length)` whose IP
 * header starts at `ip`: "fragmentation needed" for IPv4, "packet too big"
 * for IPv6, telling `mtu` (the largest IP packet that fits, bytes). Quotes
 * as much of the packet as RFC 1812 / RFC 4443 allow. Returns the frame's
 * length (at most `ip` + 576 or `ip` + 1280). `out` must not overlap the
 * original.
 */
export function tooBigError(
  v: DataView,
  base: number,
  length: number,
  ip: number,
  mtu: number,
  out: DataView,
  oBase: number,
): number {
  // Ethernet: destination and source swapped, tags and EtherType kept.
  for (let i = 0; i < 6; i++) {
    out.setUint8(oBase + i, v.getUint8(base + 6 + i));
    out.setUint8(oBase + 6 + i, v.getUint8(base + i));
  }
  for (let i = 12; i < ip; i++) out.setUint8(oBase + i, v.getUint8(base + i));
  const six = v.getUint16(base + ip - 2) === ETH_P_IPV6;
  const p = base + ip;
  const o = oBase + ip;
  const hlen = six ? IPV6_HLEN : IPV4_HLEN;
  const origIp = six ? IPV6_HLEN + v.getUint16(p + 4) : v.getUint16(p + 2);
  const quote = Math.min(origIp, length - ip, (six ? ICMP6_MAX : ICMP4_MAX) - hlen - ICMP_HLEN);
  const icmp = o + hlen;
  const icmpLen = ICMP_HLEN + quote;
  for (let i = 0; i < quote; i++) out.setUint8(icmp + ICMP_HLEN + i, v.getUint8(p + i));
  if (six) {
    out.setUint32(o, 0x60000000);
    out.setUint16(o + 4, icmpLen);
    out.setUint8(o + 6, ICMPV6);
    out.setUint8(o + 7, TTL);
    for (let i = 0; i < 16; i++) {
      out.setUint8(o + 8 + i, v.getUint8(p + 24 + i));
      out.setUint8(o + 24 + i, v.getUint8(p + 8 + i));
    }
    out.setUint8(icmp, ICMPV6_PKT_TOOBIG);
    out.setUint8(icmp + 1, 0);
    out.setUint16(icmp + 2, 0);
    out.setUint32(icmp + 4, mtu);
    // Pseudo-header (RFC 8200 §8.1): addresses, upper-layer length, next header.
    const pseudo = inetSum(out, o + 8, o + 40, icmpLen + ICMPV6);
    out.setUint16(icmp + 2, ~inetSum(out, icmp, icmp + icmpLen, pseudo) & 0xffff);
  } else {
    out.setUint8(o, 0x45);
    out.setUint8(o + 1, TOS_INTERNETWORK_CONTROL);
    out.setUint16(o + 2, IPV4_HLEN + icmpLen);
    out.setUint32(o + 4, 0); // ID, flags, fragment offset
    out.setUint8(o + 8, TTL);
    out.setUint8(o + 9, ICMP);
    out.setUint16(o + 10, 0);
    out.setUint32(o + 12, v.getUint32(p + 16));
    out.setUint32(o + 16, v.getUint32(p + 12));
    out.setUint16(o + 10, ~inetSum(out, o, o + IPV4_HLEN) & 0xffff);
    out.setUint8(icmp, ICMP_DEST_UNREACH);
    out.setUint8(icmp + 1, ICMP_FRAG_NEEDED);
    out.setUint16(icmp + 2, 0);
    out.setUint16(icmp + 4, 0);
    out.setUint16(icmp + 6, mtu);
    out.setUint16(icmp + 2, ~inetSum(out, icmp, icmp + icmpLen) & 0xffff);
  }
  return ip + hlen + icmpLen;
}
