/**
 * The underlay interface the route to the peer uses, and its MTU: the
 * legacy format's path MTU when `--path-mtu` is not given (and the current
 * format's until probing says more). Asked of the kernel with one netlink
 * RTM_GETROUTE request (rtnetlink(7); what `ip route get ADDRESS` does:
 * policy rules and every table count), of which only the output interface
 * (RTA_OIF) is used, then that interface's MTU (SIOCGIFNAME, SIOCGIFMTU).
 * The route's own cached path MTU is not used: a forged ICMP may have
 * lowered it. (/proc/net/route would need Deno's --allow-all.) At start and
 * when a server learns its peer: not on the packet path.
 *
 * @module
 */

import { C, closeQuietly, libc } from "../ffi/libc.ts";
import { sockaddr } from "../io/sockaddr.ts";
import { interfaceState } from "./iface.ts";

/** <linux/netlink.h>, <linux/rtnetlink.h>. */
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const NLM_F_REQUEST = 1;
const NLMSG_ERROR = 2;
const RTA_DST = 1;
const RTA_OIF = 4;
/** Bytes: struct nlmsghdr, struct rtmsg, struct rtattr. */
const NLMSG_HDRLEN = 16;
const RTMSG_LEN = 12;
const RTA_HDRLEN = 4;
/** <linux/sockios.h>: an interface's name from its index. */
const SIOCGIFNAME = 0x8910n;
/** struct ifreq: 40 bytes, name then ifr_ifindex (int) at byte 16. */
const IFREQ_BYTES = 40;

/** The RTM_GETROUTE request for `addr` (4 or 16 bytes). */
export function routeRequest(addr: Uint8Array, family: 4 | 6): Uint8Array<ArrayBuffer> {
  const len = NLMSG_HDRLEN + RTMSG_LEN + RTA_HDRLEN + addr.length;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, RTM_GETROUTE, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, 1, true); // sequence number
  b[NLMSG_HDRLEN] = family === 6 ? C.AF_INET6 : C.AF_INET;
  b[NLMSG_HDRLEN + 1] = addr.length * 8; // rtm_dst_len
  const rta = NLMSG_HDRLEN + RTMSG_LEN;
  v.setUint16(rta, RTA_HDRLEN + addr.length, true);
  v.setUint16(rta + 2, RTA_DST, true);
  b.set(addr, rta + RTA_HDRLEN);
  return b;
}

/** The output interface index (RTA_OIF) of an RTM_NEWROUTE answer in
 * `b[0, n)`, or undefined (an error answer, or none given). */
export function outputInterface(b: Uint8Array, n: number): number | undefined {
  const v = new DataView(b.buffer, b.byteOffset, n);
  if (n < NLMSG_HDRLEN + RTMSG_LEN || v.getUint16(4, true) === NLMSG_ERROR) return undefined;
  if (v.getUint16(4, true) !== RTM_NEWROUTE) return undefined;
  const end = Math.min(n, v.getUint32(0, true));
  for (let at = NLMSG_HDRLEN + RTMSG_LEN; at + RTA_HDRLEN <= end;) {
    const len = v.getUint16(at, true);
    if (len < RTA_HDRLEN) return undefined;
    if (v.getUint16(at + 2, true) === RTA_OIF && len >= RTA_HDRLEN + 4) return v.getUint32(at + 4, true);
    at += (len + 3) & ~3; // RTA_ALIGN
  }
  return undefined;
}

/** The name of the interface with index `index`, or undefined. */
function interfaceName(index: number): string | undefined {
  const c = libc();
  const fd = c.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return undefined;
  try {
    const ifr = new Uint8Array(IFREQ_BYTES);
    new DataView(ifr.buffer).setInt32(16, index, true);
    if (c.ioctl(fd, SIOCGIFNAME, ifr) < 0) return undefined;
    return new TextDecoder().decode(ifr.subarray(0, ifr.indexOf(0)));
  } finally {
    closeQuietly(fd);
  }
}

/** The MTU of the interface the route to the IP literal `address` uses,
 * bytes, and the interface's name; undefined when the kernel has no route
 * or cannot be asked. Opens and closes a netlink socket. */
export function underlayMtu(address: string, family: 4 | 6): { iface: string; mtu: number } | undefined {
  let addr: Uint8Array;
  try {
    // sockaddr_in: the address at byte 4; sockaddr_in6: at byte 8.
    const sa = sockaddr({ hostname: address.replace(/^\[|\]$/g, ""), port: 0 }, family);
    addr = family === 6 ? sa.subarray(8, 24) : sa.subarray(4, 8);
  } catch {
    return undefined;
  }
  const c = libc();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | C.SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return undefined;
  let index: number | undefined;
  try {
    const req = routeRequest(addr, family);
    if (c.write(fd, req, BigInt(req.length)) !== req.length) return undefined;
    const answer = new Uint8Array(4096);
    const n = c.read(fd, answer, BigInt(answer.length));
    if (n <= 0) return undefined;
    index = outputInterface(answer, n);
  } finally {
    closeQuietly(fd);
  }
  const iface = index === undefined ? undefined : interfaceName(index);
  const mtu = iface === undefined ? undefined : interfaceState(iface)?.mtu;
  return iface === undefined || mtu === undefined ? undefined : { iface, mtu };
}
