/**
 * TCP MSS clamping of Ethernet frames (as routers and tinc do it): the MSS
 * option of a SYN or SYN-ACK segment is lowered so that the segments the
 * two hosts then send fit the tunnel's largest frame, and the TCP checksum
 * is updated incrementally (RFC 1624). Pure: works on bytes in place, no
 * allocation, no I/O.
 *
 * Frames: Ethernet II, untagged or with one or two VLAN tags (802.1Q
 * 0x8100, QinQ 802.1ad 0x88a8), carrying IPv4 (any IHL, not a fragment
 * with an offset) or IPv6 whose next header is TCP (no extension headers).
 * A frame that is not such a SYN is left alone after at most five byte
 * compares.
 *
 * @module
 */

/** Bytes of an Ethernet header, of a VLAN tag (<linux/if_ether.h>
 * ETH_HLEN, VLAN_HLEN). */
export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
/** EtherTypes (<linux/if_ether.h> ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q,
 * ETH_P_8021AD). */
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
/** Header sizes without options: IPv4 (RFC 791), IPv6 (RFC 8200), TCP
 * (RFC 9293). */
export const IPV4_HLEN = 20;
export const IPV6_HLEN = 40;
export const TCP_HLEN = 20;
/** IPPROTO_TCP (<netinet/in.h>). */
const TCP = 6;
/** The SYN flag (RFC 9293, byte 13 of the TCP header). */
const TCP_SYN = 0x02;
/** TCP option kinds (RFC 9293): end of list, no-operation, MSS (length 4). */
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;

/**
 * The offset of the IP header in the frame `b[base, base + length)` (the
 * Ethernet header and up to two VLAN tags skipped) and its EtherType in
 * `out[0]`; -1 when it is not IPv4 or IPv6.
 */
export function ipOffset(v: DataView, base: number, length: number): number {
  let off = 12;
  let type = length >= ETH_HLEN ? v.getUint16(base + off) : 0;
  for (let tags = 0; tags < 2 && (type === ETH_P_8021Q || type === ETH_P_8021AD); tags++) {
    off += VLAN_HLEN;
    if (off + 2 > length) return -1;
    type = v.getUint16(base + off);
  }
  return type === ETH_P_IP || type === ETH_P_IPV6 ? off + 2 : -1;
}

/**
 * Lowers the MSS option of the TCP SYN (or SYN-ACK) in the frame at
 * `v[base, base + length)` so that a segment of that MSS, with its IP and
 * TCP headers (without options) and the frame's Ethernet header and tags,
 * fits `maxFrame` bytes. Updates the TCP checksum (RFC 1624). Returns the
 * MSS written, or 0 when nothing changed (not a SYN, no MSS option, or the
 * MSS already small enough).
 */
export function clampMss(v: DataView, base: number, length: number, maxFrame: number): number {
  if (length < ETH_HLEN + IPV4_HLEN + TCP_HLEN + 4) return 0;
  const ip = ipOffset(v, base, length);
  if (ip < 0) return 0;
  const version = v.getUint8(base + ip) >> 4;
  let l4: number;
  let ipHeaders: number;
  if (version === 4) {
    if (v.getUint8(base + ip + 9) !== TCP || (v.getUint16(base + ip + 6) & 0x1fff) !== 0) return 0;
    l4 = ip + (v.getUint8(base + ip) & 0x0f) * 4;
    ipHeaders = IPV4_HLEN;
  } else if (version === 6) {
    if (v.getUint8(base + ip + 6) !== TCP) return 0;
    l4 = ip + IPV6_HLEN;
    ipHeaders = IPV6_HLEN;
  } else {
    return 0;
  }
  if (l4 + TCP_HLEN > length || (v.getUint8(base + l4 + 13) & TCP_SYN) === 0) return 0;
  const end = l4 + (v.getUint8(base + l4 + 12) >> 4) * 4;
  if (end > length) return 0;
  const limit = maxFrame - ip - ipHeaders - TCP_HLEN;
  if (limit <= 0) return 0;
  for (let o = l4 + TCP_HLEN; o < end;) {
    const kind = v.getUint8(base + o);
    if (kind === OPT_EOL) return 0;
    if (kind === OPT_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) return 0;
    const len = v.getUint8(base + o + 1);
    if (len < 2 || o + len > end) return 0;
    if (kind === OPT_MSS && len === 4) {
      const mss = v.getUint16(base + o + 2);
      if (mss <= limit) return 0;
      v.setUint16(base + o + 2, limit);
      // The 16-bit field sits at an odd offset from the TCP header when
      // options before it are odd-sized: its bytes then count swapped.
      const odd = ((o + 2 - l4) & 1) === 1;
      const old = odd ? swap16(mss) : mss;
      const now = odd ? swap16(limit) : limit;
      const sum = v.getUint16(base + l4 + 16);
      v.setUint16(base + l4 + 16, updateChecksum(sum, old, now));
      return limit;
    }
    o += len;
  }
  return 0;
}

/** The byte-swapped 16-bit `x`. */
function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >> 8);
}

/** A 16-bit one's complement checksum `sum` after one covered 16-bit word
 * changed from `old` to `now`: HC' = ~(~HC + ~m + m') (RFC 1624, eqn. 3). */
export function updateChecksum(sum: number, old: number, now: number): number {
  let s = (~sum & 0xffff) + (~old & 0xffff) + now;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
