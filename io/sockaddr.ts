/**
 * Socket addresses in and out of their C form: `struct sockaddr_in` and
 * `struct sockaddr_in6` (<netinet/in.h>, <linux/in6.h>), for the FFI socket.
 *
 * - sockaddr_in, 16 bytes: `sa_family_t sin_family` 0 (host order),
 *   `in_port_t sin_port` 2 (network order), `struct in_addr sin_addr` 4,
 *   zero padding 8..16.
 * - sockaddr_in6, 28 bytes: family 0, port 2, `uint32_t sin6_flowinfo` 4,
 *   `struct in6_addr sin6_addr` 8, `uint32_t sin6_scope_id` 24.
 * - struct sockaddr_storage (<bits/socket.h>): 128 bytes, room for either.
 *
 * @module
 */

import { C } from "../ffi/libc.ts";
import type { Endpoint } from "../core/endpoint.ts";

/** sizeof(struct sockaddr_storage). */
export const SOCKADDR_STORAGE_BYTES = 128;
/** sizeof(struct sockaddr_in). */
export const SOCKADDR_IN_BYTES = 16;
/** sizeof(struct sockaddr_in6). */
export const SOCKADDR_IN6_BYTES = 28;

/** The sockaddr size of address family `family` (4 or 6). */
export function sockaddrBytes(family: 4 | 6): number {
  return family === 6 ? SOCKADDR_IN6_BYTES : SOCKADDR_IN_BYTES;
}

/** Encodes `e` (an IP literal of family `family` and a port) as a struct
 * sockaddr_in / sockaddr_in6. */
export function sockaddr(e: Endpoint, family: 4 | 6): Uint8Array<ArrayBuffer> {
  const sa = new Uint8Array(sockaddrBytes(family));
  const view = new DataView(sa.buffer);
  view.setUint16(0, family === 6 ? C.AF_INET6 : C.AF_INET, true);
  view.setUint16(2, e.port, false);
  if (family === 4) {
    e.hostname.split(".").forEach((part, i) => (sa[4 + i] = Number(part)));
  } else {
    sa.set(ipv6Bytes(e.hostname), 8);
  }
  return sa;
}

/** The 16 bytes of an IPv6 literal (valid, as checked by the CLI). */
export function ipv6Bytes(literal: string): Uint8Array<ArrayBuffer> {
  // The URL parser normalises to the compressed form without IPv4 parts.
  const norm = new URL(`http://[${literal}]/`).hostname.slice(1, -1);
  const [head, tail] = norm.includes("::") ? norm.split("::") : [norm, undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** The endpoint in a struct sockaddr_in or sockaddr_in6 (IPv6 in the
 * canonical text form of RFC 5952), or undefined for another family. */
export function decodeSockaddr(sa: Uint8Array): Endpoint | undefined {
  const family = sa[0] | (sa[1] << 8);
  const port = (sa[2] << 8) | sa[3];
  if (family === C.AF_INET) return { hostname: `${sa[4]}.${sa[5]}.${sa[6]}.${sa[7]}`, port };
  if (family !== C.AF_INET6) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((sa[8 + 2 * i] << 8) | sa[9 + 2 * i]).toString(16));
  // The canonical text form (RFC 5952), as the URL parser writes it.
  return { hostname: new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1), port };
}

/** The bytes of a sockaddr that identify its endpoint: family, port and
 * address (16 for IPv4, 24 for IPv6), for comparing two without decoding. */
export function sockaddrKeyBytes(sa: Uint8Array, offset: number): number {
  return sa[offset] === C.AF_INET6 ? 24 : 8;
}
