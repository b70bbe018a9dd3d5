/**
 * What the runner checks about the TAP interface and the path at start,
 * before the first frame could fail: the interface is up, and its MTU lets
 * a full frame, sealed, fit the path to the peer. Each finding is a warning
 * with the command that fixes it; none stops the tunnel (the user may fix
 * it while tappet runs).
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { ETH_HLEN, IPV4_HLEN, IPV6_HLEN } from "../core/mss.ts";
import { C, closeQuietly, cString, libc } from "../ffi/libc.ts";

/** From <linux/sockios.h>: get an interface's flags, its MTU. */
const SIOCGIFFLAGS = 0x8913n;
const SIOCGIFMTU = 0x8921n;
/** From <net/if.h>: the interface is administratively up. */
const IFF_UP = 0x1;
/** struct ifreq: char ifr_name[16], then a union (ifr_flags: short,
 * ifr_mtu: int) at byte 16; 40 bytes in all. */
const IFREQ_BYTES = 40;
const IFR_UNION = 16;
/** Bytes of a UDP header (RFC 768). */
const UDP_HLEN = 8;

/** An interface's state as the kernel reports it. */
export interface InterfaceState {
  /** IFF_UP: brought up with `ip link set NAME up`. */
  readonly up: boolean;
  /** Its MTU, bytes. */
  readonly mtu: number;
}

/** The flags and MTU of interface `name` in this network namespace, or
 * undefined when it cannot be read (no such interface). Opens and closes a
 * socket: for start-up and status, not the packet path. */
export function interfaceState(name: string): InterfaceState | undefined {
  const c = libc();
  const fd = c.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return undefined;
  try {
    const ifr = new Uint8Array(IFREQ_BYTES);
    ifr.set(cString(name).subarray(0, 15));
    const view = new DataView(ifr.buffer);
    if (c.ioctl(fd, SIOCGIFFLAGS, ifr) < 0) return undefined;
    const up = (view.getUint16(IFR_UNION, true) & IFF_UP) !== 0;
    if (c.ioctl(fd, SIOCGIFMTU, ifr) < 0) return undefined;
    return { up, mtu: view.getInt32(IFR_UNION, true) };
  } finally {
    closeQuietly(fd);
  }
}

/** IP + UDP header bytes for an address family. */
export function ipUdpHeader(family: 4 | 6): number {
  return (family === 6 ? IPV6_HLEN : IPV4_HLEN) + UDP_HLEN;
}

/** The TAP MTU that makes a full frame fit `pathMtu`: the path MTU less the
 * IP and UDP headers, the wire format's `overhead` and the 14-byte Ethernet
 * header. Legacy (56): − 98 over IPv4, − 118 over IPv6. Current (24): − 66
 * and − 86. */
export function tapMtuFor(pathMtu: number, family: 4 | 6, overhead: number): number {
  return pathMtu - ipUdpHeader(family) - overhead - ETH_HLEN;
}

/** The advice for a TAP MTU too big for the path, e.g. "set the TAP MTU of
 * tap0 to 1434 (path MTU 1500 − 66)". */
export function mtuAdvice(iface: string, pathMtu: number, family: 4 | 6, overhead: number): string {
  const less = ipUdpHeader(family) + overhead + ETH_HLEN;
  const mtu = tapMtuFor(pathMtu, family, overhead);
  return `set the TAP MTU of ${iface} to ${mtu} (path MTU ${pathMtu} − ${less})`;
}

/**
 * The warnings for interface `iface` and the path to `peer` (when known):
 * the interface is down, or its MTU is larger than the path lets a sealed
 * frame be. `pathMtu` is the path MTU tappet works with (bytes; see
 * {@linkcode mtuWarning}). Empty when all is well or nothing could be read.
 */
export function startWarnings(
  iface: string,
  state: InterfaceState | undefined,
  peer: Endpoint | undefined,
  pathMtu: number | undefined,
  family: 4 | 6,
  overhead: number,
): string[] {
  const out: string[] = [];
  if (state === undefined) return out;
  if (!state.up) {
    out.push(`interface ${iface} is down: frames will not flow until 'ip link set ${iface} up'`);
  }
  const warning = peer === undefined
    ? undefined
    : mtuWarning(iface, state.mtu, peer, pathMtu, family, overhead);
  if (warning !== undefined) out.push(warning);
  return out;
}

/** The warning for a TAP MTU of `mtu` too large for `path`, the path MTU
 * to `peer` in bytes that tappet works with (tunnel/path.ts: its probes'
 * finding, else `--path-mtu` or the underlay interface's MTU; never the
 * kernel's cached path MTU, which a forged ICMP can lower), or undefined
 * when it fits or the path MTU is unknown. */
export function mtuWarning(
  iface: string,
  mtu: number,
  peer: Endpoint,
  path: number | undefined,
  family: 4 | 6,
  overhead: number,
): string | undefined {
  if (path === undefined || mtu <= tapMtuFor(path, family, overhead)) return undefined;
  const fix = `'ip link set ${iface} mtu ${tapMtuFor(path, family, overhead)}'`;
  return `the MTU of ${iface} (${mtu}) is too big for the path to ${
    formatHostPort(peer)
  }: tappet clamps TCP and answers larger packets with ICMP "too big" or fragments them, which costs speed; ${
    mtuAdvice(iface, path, family, overhead)
  } with ${fix} (or run with --set-mtu)`;
}
