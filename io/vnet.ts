/**
 * The virtio-net header that precedes every frame to or from a TAP attached
 * with IFF_VNET_HDR, and what the offload modules share: header offsets of
 * Ethernet, IPv4/IPv6 and TCP/UDP, and the pseudo-header sum.
 *
 * `struct virtio_net_hdr` (<linux/virtio_net.h>), 10 bytes, host byte order:
 * flags (1), gso_type (1), hdr_len (2), gso_size (2), csum_start (2),
 * csum_offset (2).
 *
 * @module
 */

import { fold, onesSum } from "../core/checksum.ts";

/** Size of struct virtio_net_hdr without num_buffers. */
export const VNET_HDR_LEN = 10;

/** Values from <linux/virtio_net.h>. */
export const Vnet = {
  F_NEEDS_CSUM: 1,
  GSO_NONE: 0,
  GSO_TCPV4: 1,
  GSO_TCPV6: 4,
  GSO_UDP_L4: 5,
  GSO_ECN: 0x80,
} as const;

/** EtherTypes (<linux/if_ether.h>: ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q). */
export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_VLAN = 0x8100;
/** IP protocol numbers (<netinet/in.h>: IPPROTO_TCP, IPPROTO_UDP). */
export const TCP = 6;
export const UDP = 17;
/** TCP header flags (<netinet/tcp.h>, RFC 9293 and RFC 3168 for ECE/CWR). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** The largest super-frame: 14 bytes of Ethernet, 64 KiB of IP, slack. */
export const SUPER_FRAME_BYTES = 14 + 65535 + 64;

/** The pseudo-header sum of a TCP (or UDP) segment of `length` bytes. */
export function pseudoSum(v: DataView, ip: number, ipv6: boolean, length: number, proto = TCP): number {
  const addresses = ipv6 ? onesSum(v, ip + 8, ip + 40) : onesSum(v, ip + 12, ip + 20);
  return fold(addresses + proto + length);
}
