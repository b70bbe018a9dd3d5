/**
 * A made-up tunnel's snapshot for the unit tests of status, control socket
 * and metrics, which need one without running a tunnel.
 */

import type { TunnelSnapshot } from "../tunnel/status.ts";

/** A current-format tunnel on `tap0` listening on 198.18.0.1:1011 with the
 * FFI socket and offload on; peer 198.18.0.2:40000, its public key 32 bytes
 * of 0xab; no counters; up for 1 s. Every field of `o` replaces the one
 * here (a test gives in `o` every value it checks). */
export function fakeSnapshot(o: Partial<TunnelSnapshot> = {}): TunnelSnapshot {
  return {
    iface: "tap0",
    format: "current",
    role: "listen",
    local: { hostname: "198.18.0.1", port: 1011 },
    transport: "ffi",
    offload: true,
    peerPublicKey: new Uint8Array(32).fill(0xab),
    peer: { hostname: "198.18.0.2", port: 40000 },
    counters: {},
    uptimeMs: 1000,
    ...o,
  };
}
