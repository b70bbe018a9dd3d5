/**
 * A UDP endpoint, as the wire formats see it: where a datagram came from and
 * where one goes. Plain data, no I/O, so the core can follow a roaming peer
 * without knowing what socket carries the datagrams.
 *
 * @module
 */

/** A UDP endpoint: an IP literal (no brackets) and a port. Deno's
 * `Deno.NetAddr` is one. Treat as immutable. */
export interface Endpoint {
  /** IPv4 or IPv6 literal, without brackets. */
  readonly hostname: string;
  /** UDP port, 0 to 65535. */
  readonly port: number;
}

/** True when two endpoints are the same address and port; false when either is absent. */
export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a !== undefined && b !== undefined && a.port === b.port && a.hostname === b.hostname;
}
