/**
 * The underlay interface the route to the peer uses, and its MTU: the
 * legacy format's path MTU when `--path-mtu` is not given (and the current
 * format's until probing says more). Read from the kernel's routing tables
 * in /proc (`/proc/net/route`, `/proc/net/ipv6_route`: the main and local
 * tables of this network namespace; policy rules and other tables are not
 * looked at), longest prefix first, then lowest metric; the interface's MTU
 * by SIOCGIFMTU. Read at start and when a server learns its peer: not on
 * the packet path.
 *
 * @module
 */

import { interfaceState } from "./iface.ts";

/** RTF_UP and RTF_REJECT (<linux/route.h>, <linux/ipv6_route.h>). */
const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

/** The interface of the best route to `address` in a /proc/net/route
 * text (IPv4: addresses and masks as host-order hex, little-endian here),
 * or undefined when no route matches. */
export function routeInterface4(text: string, address: string): string | undefined {
  const want = address.split(".").reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
  const le = (hex: string) => {
    const n = parseInt(hex, 16);
    return (((n & 0xff) << 24) | ((n >> 8 & 0xff) << 16) | ((n >> 16 & 0xff) << 8) | (n >>> 24)) >>> 0;
  };
  let best: { iface: string; bits: number; metric: number } | undefined;
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || (parseInt(f[3], 16) & RTF_UP) === 0) continue;
    const dest = le(f[1]);
    const mask = le(f[7]);
    if (((want & mask) >>> 0) !== dest) continue;
    const bits = mask.toString(2).replace(/0/g, "").length;
    const metric = Number(f[6]);
    if (best === undefined || bits > best.bits || (bits === best.bits && metric < best.metric)) {
      best = { iface: f[0], bits, metric };
    }
  }
  return best?.iface;
}

/** The 32 hex digits of an IPv6 literal. */
function hex6(address: string): string {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.map((g) => g.padStart(4, "0")).join("").toLowerCase();
}

/** The interface of the best route to the IPv6 `address` in a
 * /proc/net/ipv6_route text, or undefined. Reject routes are skipped. */
export function routeInterface6(text: string, address: string): string | undefined {
  const want = BigInt("0x" + hex6(address.replace(/^\[|\]$/g, "").split("%")[0]));
  let best: { iface: string; bits: number; metric: number } | undefined;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const flags = parseInt(f[8], 16);
    if ((flags & RTF_UP) === 0 || (flags & RTF_REJECT) !== 0) continue;
    const bits = parseInt(f[1], 16);
    const shift = BigInt(128 - bits);
    if (bits > 0 && (BigInt("0x" + f[0]) >> shift) !== (want >> shift)) continue;
    const metric = parseInt(f[5], 16);
    if (best === undefined || bits > best.bits || (bits === best.bits && metric < best.metric)) {
      best = { iface: f[9], bits, metric };
    }
  }
  return best?.iface;
}

/** The MTU of the interface the route to `address` uses, bytes, and the
 * interface's name; undefined when /proc cannot be read or no route
 * matches. */
export function underlayMtu(address: string, family: 4 | 6): { iface: string; mtu: number } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(family === 6 ? "/proc/net/ipv6_route" : "/proc/net/route");
  } catch {
    return undefined;
  }
  const iface = family === 6 ? routeInterface6(text, address) : routeInterface4(text, address);
  if (iface === undefined) return undefined;
  const mtu = interfaceState(iface)?.mtu;
  return mtu === undefined ? undefined : { iface, mtu };
}
