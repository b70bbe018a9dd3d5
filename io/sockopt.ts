/**
 * Socket options Deno does not expose, set through FFI on the socket that
 * `Deno.listenDatagram` made: DF without the kernel's cached path MTU, and
 * DF off for the rare datagram the kernel may fragment. (tappet never asks
 * the kernel for its cached path MTU, which a forged ICMP can lower: the
 * path's size is its own, tunnel/path.ts.)
 *
 * Deno does not hand out the fd of a DatagramConn, so {@linkcode findUdpFd}
 * finds it by asking getsockname() of each fd for the bound port.
 *
 * @module
 */

import { C, errno, libc, strerror } from "../ffi/libc.ts";
import { SOCKADDR_STORAGE_BYTES } from "./sockaddr.ts";

/** The highest fd number searched for a socket. */
const MAX_FD = 4096;

function int32(value: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new Int32Array([value]).buffer);
}

/**
 * The fd of this process's UDP socket bound to `port` in address family
 * `family` (4 or 6), or -1 when none is found.
 */
export function findUdpFd(port: number, family: 4 | 6): number {
  const c = libc();
  const sa = new Uint8Array(SOCKADDR_STORAGE_BYTES);
  const view = new DataView(sa.buffer);
  const len = new Uint32Array(1);
  const lenBytes = new Uint8Array(len.buffer);
  const type = new Int32Array(1);
  const typeBytes = new Uint8Array(type.buffer);
  const wantFamily = family === 6 ? C.AF_INET6 : C.AF_INET;
  for (let fd = 3; fd < MAX_FD; fd++) {
    len[0] = SOCKADDR_STORAGE_BYTES;
    if (c.getsockname(fd, sa, lenBytes) < 0) continue;
    if (view.getUint16(0, true) !== wantFamily || view.getUint16(2, false) !== port) continue;
    len[0] = 4;
    if (c.getsockopt(fd, C.SOL_SOCKET, C.SO_TYPE, typeBytes, lenBytes) < 0) continue;
    if (type[0] === C.SOCK_DGRAM) return fd;
  }
  return -1;
}

/**
 * Sets DF on the datagrams socket `fd` sends without trusting the kernel's
 * cached path MTU: IP_MTU_DISCOVER = IP_PMTUDISC_PROBE (<linux/in.h>), or
 * IPV6_MTU_DISCOVER = IPV6_PMTUDISC_PROBE (<linux/in6.h>). The kernel then
 * sends up to the interface's MTU whatever ICMP "fragmentation needed" /
 * "packet too big" it was told (a forged one cannot shrink the tunnel);
 * tappet itself keeps datagrams within the path (tunnel/path.ts). A
 * datagram larger than the interface's MTU fails with EMSGSIZE. Returns an
 * error text, or undefined on success.
 */
export function setDontFragment(fd: number, family: 4 | 6): string | undefined {
  const r = family === 6
    ? libc().setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_MTU_DISCOVER, int32(C.IPV6_PMTUDISC_PROBE), 4)
    : libc().setsockopt(fd, C.IPPROTO_IP, C.IP_MTU_DISCOVER, int32(C.IP_PMTUDISC_PROBE), 4);
  return r < 0 ? strerror(errno()) : undefined;
}

/**
 * Switches the socket `fd` between sending datagrams the kernel may
 * fragment (`on`) and the usual DF without the cached path MTU
 * ({@linkcode setDontFragment}). On: IP_PMTUDISC_DONT (IPv4: no DF; the
 * kernel and the routers fragment), or IPV6_PMTUDISC_DONT (IPv6: routers
 * never fragment; the kernel cuts at the path MTU it learnt from ICMPv6
 * "packet too big", which it takes no lower than 1280, so a forged one does
 * no harm; until it has learnt it, the first such datagram may be lost).
 * (IPV6_MTU, the socket's fragment size, does not make Linux 6.18 cut a
 * datagram the route's MTU lets through whole: tried, not used.) One
 * setsockopt() call each way, for the rare datagram that needs it
 * (tunnel/path.ts), never per batch.
 */
export function setFragmentable(fd: number, family: 4 | 6, on: boolean): void {
  if (family === 4) libc().setsockopt(fd, C.IPPROTO_IP, C.IP_MTU_DISCOVER, on ? DONT4 : PROBE4, 4);
  else libc().setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_MTU_DISCOVER, on ? DONT6 : PROBE6, 4);
}
const DONT4 = int32(C.IP_PMTUDISC_DONT);
const PROBE4 = int32(C.IP_PMTUDISC_PROBE);
const DONT6 = int32(C.IPV6_PMTUDISC_DONT);
const PROBE6 = int32(C.IPV6_PMTUDISC_PROBE);
