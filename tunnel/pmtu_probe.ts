/**
 * The runner's side of path MTU probing (core/pmtud.ts, docs/PROTOCOL.md §4
 * "Probes"): the engine's probe ceiling from the route to the peer, set at
 * start (a client) and whenever the peer is heard at a new address, and a
 * log line at `-v` when the size the probes found changes.
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { Engine } from "../core/engine.ts";
import { log } from "../log.ts";
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

/** The one line for a new `maxDatagram` (bytes of UDP payload, or
 * undefined: unknown). */
export function pathLine(maxDatagram: number | undefined, peer: Endpoint | undefined, family: 4 | 6): string {
  const to = peer === undefined ? "the peer" : formatHostPort(peer);
  if (maxDatagram === undefined) return `path MTU to ${to} unknown: the peer answers no probes`;
  return `path MTU to ${to} is ${
    maxDatagram + ipUdpHeader(family)
  } bytes (probed: datagrams up to ${maxDatagram} bytes)`;
}

/** `events` with the probe's part added: a new peer address sets the
 * engine's ceiling for it, and a change of the engine's `maxDatagram` is
 * logged at `-v` (info). */
export function withProbes(events: TunnelEvents, engine: Engine, family: 4 | 6): TunnelEvents {
  return {
    ...events,
    peerChanged(peer: Endpoint, first: boolean) {
      events.peerChanged(peer, first);
      engine.setProbeCeiling?.(probeCeilingFor(peer, family));
    },
    maxDatagramChanged(maxDatagram: number | undefined) {
      events.maxDatagramChanged?.(maxDatagram);
      log.info`${pathLine(maxDatagram, engine.peer, family)}`;
    },
  };
}
