/**
 * The runner's side of path MTU probing (core/pmtud.ts, docs/PROTOCOL.md §4
 * "Probes"): the engine's probe ceiling from the route to the peer, set at
 * start (a client) and whenever the peer is heard at a new address.
 *
 * @module
 */

import type { Endpoint } from "../core/endpoint.ts";
import type { Engine } from "../core/engine.ts";
import type { TunnelEvents } from "./forwarder.ts";
import { ipUdpHeader } from "./iface.ts";
import { underlayMtu } from "./route.ts";

/** The largest datagram (UDP payload bytes) the route to `peer` lets this
 * host send: the MTU of the interface that route uses, less the IP and UDP
 * headers; undefined when it cannot be read. Not the kernel's cached path
 * MTU, which a forged ICMP can lower. Opens and closes a netlink socket: not
 * for the packet path. */
export function probeCeilingFor(peer: Endpoint, family: 4 | 6): number | undefined {
  const mtu = underlayMtu(peer.hostname, family)?.mtu;
  return mtu === undefined ? undefined : mtu - ipUdpHeader(family);
}

/** `events` with the probe's part added: a new peer address sets the
 * engine's ceiling for it. (The `-v` line for what the probes find is
 * tunnel/path_events.ts's, one per change.) */
export function withProbes(events: TunnelEvents, engine: Engine, family: 4 | 6): TunnelEvents {
  return {
    ...events,
    peerChanged(peer: Endpoint, first: boolean) {
      events.peerChanged(peer, first);
      engine.setProbeCeiling?.(probeCeilingFor(peer, family));
    },
  };
}
