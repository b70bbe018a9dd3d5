/**
 * Parsing of the addresses and ports users type: pure functions, so the
 * CLI's rules are unit-tested without a network.
 *
 * @module
 */

import type { Parsed } from "./parsed.ts";
/** Re-exported for older importers; new code imports `core/parsed.ts`. */
export type { Parsed } from "./parsed.ts";

/** A parsed UDP endpoint. `host` is an IP literal without brackets. */
export interface HostPort {
  /** IPv4 or IPv6 literal, without brackets. */
  readonly host: string;
  /** UDP port, 1 to 65535. */
  readonly port: number;
  /** Address family of `host`. */
  readonly family: 4 | 6;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** IP address family of literal `s` (4 or 6), or undefined when `s` is not
 * an IP literal. IPv4 is dotted-quad without leading zeros (as inet_pton);
 * IPv6 is any RFC 4291 text form, without a zone index. */
export function ipFamily(s: string): 4 | 6 | undefined {
  if (IPV4.test(s)) return 4;
  if (!s.includes(":") || /[^0-9a-fA-F:.]/.test(s)) return undefined;
  try {
    // The URL parser implements the full RFC 4291 grammar.
    new URL(`http://[${s}]/`);
    return 6;
  } catch {
    return undefined;
  }
}

/** Parses a UDP port: decimal digits only, 1 to 65535. */
export function parsePort(s: string): Parsed<number> {
  if (!/^\d{1,5}$/.test(s)) {
    return { ok: false, error: `port "${s}" is not a number: give a port from 1 to 65535` };
  }
  const port = Number(s);
  if (port < 1 || port > 65535) {
    return { ok: false, error: `port ${s} is out of range: give a port from 1 to 65535` };
  }
  return { ok: true, value: port };
}

/** Parses an IP literal, IPv6 first as the 2014 program does. */
export function parseIp(s: string): Parsed<{ host: string; family: 4 | 6 }> {
  const family = ipFamily(s);
  if (family === undefined) {
    return {
      ok: false,
      error: `address "${s}" is not an IPv4 or IPv6 literal: give one like 192.0.2.1 or 2001:db8::1`,
    };
  }
  // IPv6 in its canonical text form (RFC 5952), so that the configured peer
  // and the source address of its datagrams compare equal.
  const host = family === 6 ? new URL(`http://[${s}]/`).hostname.slice(1, -1) : s;
  return { ok: true, value: { host, family } };
}

/** Parses `ADDRESS:PORT`, with an IPv6 address in brackets:
 * `192.0.2.1:1011`, `[2001:db8::1]:1011`. */
export function parseHostPort(s: string): Parsed<HostPort> {
  const m = /^(?:\[([^\]]*)\]|([^:\[\]]*)):([^:\[\]]*)$/.exec(s);
  if (m === null) {
    const hint = s.includes("::") || (s.match(/:/g)?.length ?? 0) > 1
      ? " (an IPv6 address goes in brackets: [2001:db8::1]:1011)"
      : "";
    return { ok: false, error: `"${s}" is not ADDRESS:PORT${hint}` };
  }
  const ip = parseIp(m[1] ?? m[2]);
  if (!ip.ok) return ip;
  if (m[1] !== undefined && ip.value.family !== 6) {
    return { ok: false, error: `"${s}": only an IPv6 address goes in brackets` };
  }
  const port = parsePort(m[3]);
  if (!port.ok) return port;
  return { ok: true, value: { ...ip.value, port: port.value } };
}

/** `host:port`, or `[host]:port` for IPv6. */
export function formatHostPort(e: { hostname?: string; host?: string; port: number }): string {
  const host = e.hostname ?? e.host ?? "";
  return host.includes(":") ? `[${host}]:${e.port}` : `${host}:${e.port}`;
}
