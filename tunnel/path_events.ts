/**
 * The runner's side of the path's size (issue 14): the path MTU to assume
 * until the engine finds one (`--path-mtu`, else the MTU of the underlay
 * interface the route to the peer uses, looked up again when a server
 * learns its peer), the path MTU tappet works with now (for the warnings:
 * never the kernel's cached one, which a forged ICMP can lower), the `-v`
 * line when the path's size becomes known or changes, and `--set-mtu` (the
 * TAP's MTU set to the one that fits).
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { Engine } from "../core/engine.ts";
import { ETH_HLEN } from "../core/mss.ts";
import type { PacketBuffer } from "../core/packet.ts";
import { setFragmentable } from "../io/sockopt.ts";
import type { SendFailure, SyncTransport } from "../io/transport.ts";
import { setInterfaceMtu } from "../io/tun.ts";
import { log } from "../log.ts";
import type { TunnelEvents } from "./forwarder.ts";
import type { TunnelOptions } from "./loop.ts";
import { underlayMtu } from "./route.ts";
import { IPV6_MIN_MTU, maxDatagram, maxFrame } from "./path.ts";
import { interfaceState, ipUdpHeader } from "./iface.ts";
import type { TunnelConfig } from "./run.ts";

/** What {@linkcode pathEvents} gives the runner. */
export interface PathEvents extends Pick<TunnelOptions, "events" | "path"> {
  /** The path MTU tappet works with now, bytes: the size `engine`'s probes
   * found, else the one assumed (`--path-mtu`, or the underlay interface's
   * MTU); undefined while unknown. The forwarder takes the same value at its
   * next batch (tunnel/path.ts maxDatagram). */
  readonly pathMtuNow: () => number | undefined;
}

/** The tunnel options `events` and `path` for `config`: the events `report`
 * makes (given {@linkcode PathEvents.pathMtuNow}), with the path's reports
 * added. `peer` is the client's server address. */
export function pathEvents(
  config: TunnelConfig,
  peer: Endpoint | undefined,
  engine: Engine,
  report: (pathMtuNow: () => number | undefined) => TunnelEvents,
  socket?: SyncTransport,
): PathEvents {
  const lookup = (to: Endpoint) => {
    const found = underlayMtu(to.hostname, config.family);
    if (found !== undefined) {
      log.debug`underlay: the route to ${to.hostname} uses ${found.iface}, MTU ${found.mtu}`;
    }
    return found?.mtu;
  };
  let pathMtu = config.pathMtu ?? (peer === undefined ? undefined : lookup(peer));
  const pathMtuNow = () => {
    const d = maxDatagram(engine, pathMtu, config.family);
    return d === undefined ? undefined : d + ipUdpHeader(config.family);
  };
  const inner = report(pathMtuNow);
  // The -v line: one per change of the path's size (the forwarder's
  // pathChanged, at its next batch) or of where it comes from (a probe
  // result that leaves the size as it was: said when the engine reports it).
  const to = () => engine.peer ?? peer;
  let said: { mtu: number; probed: number | undefined } | undefined;
  const say = (mtu: number, frame: number, change: string) => {
    const probed = engine.maxDatagram;
    const lost = probed === undefined && said?.probed !== undefined;
    log.info`${pathLine(to(), change, mtu, source(probed, config.pathMtu, lost), frame)}`;
    said = { mtu, probed };
  };
  const events: TunnelEvents = {
    peerChanged(p, first) {
      // Looked up first: inner's check of the path to a server's new peer
      // asks pathMtuNow.
      if (first && config.pathMtu === undefined) pathMtu = lookup(p);
      inner.peerChanged(p, first);
    },
    maxDatagramChanged(probed) {
      inner.maxDatagramChanged?.(probed);
      if (said === undefined || probed === said.probed) return; // said already, or nothing yet
      const now = pathMtuNow();
      if (now === undefined) {
        log.info`${pathLine(to(), "is", undefined, "the peer answers no probes")}`;
        said = undefined;
      } else if (now === said.mtu) {
        say(now, maxFrame(now - ipUdpHeader(config.family), engine.overhead), "is");
      } // else the forwarder reports the new size at its next batch
    },
    sendFailed: (f) => inner.sendFailed(f),
    writeFailed: (e) => inner.writeFailed(e),
    receiveFailed: (e) => inner.receiveFailed(e),
    pathChanged(mtu, frame, first) {
      say(mtu, frame, first ? "is" : "changed to");
      const fits = frame - ETH_HLEN;
      if (config.setMtu !== true) return;
      // Never below IPv6's minimum (the kernel turns IPv6 off on a smaller
      // link) when such frames can go out fragmentable.
      const advised = socket === undefined ? fits : Math.max(fits, IPV6_MIN_MTU);
      if (interfaceState(config.iface)?.mtu === advised) return;
      const error = setInterfaceMtu(config.iface, advised);
      if (error === undefined) log.info`set the MTU of ${config.iface} to ${advised} (--set-mtu)`;
      else {
        log
          .warn`cannot set the MTU of ${config.iface} to ${advised}: ${error} (--set-mtu needs CAP_NET_ADMIN)`;
      }
    },
  };
  // Fragmentable datagrams (tunnel/path.ts): DF off around one send.
  const bufs: PacketBuffer[] = [];
  const lengths = new Int32Array(1);
  const failed = (f: SendFailure) => inner.sendFailed(f);
  const sendFragmentable = socket === undefined
    ? undefined
    : (buf: PacketBuffer, length: number, to: Endpoint) => {
      bufs[0] = buf;
      lengths[0] = length;
      setFragmentable(socket.fd, config.family, true);
      try {
        socket.sendNow(bufs, lengths, 1, to, failed);
      } finally {
        setFragmentable(socket.fd, config.family, false);
      }
    };
  return {
    events,
    pathMtuNow,
    path: {
      pathMtu: () => pathMtu,
      family: config.family,
      clampMss: config.clampMss ?? true,
      sendFragmentable,
    },
  };
}

/** Where a path MTU comes from, for its line: the engine's probe result
 * (`probed`, UDP payload bytes), else `--path-mtu` (`configured`), else the
 * underlay interface's MTU; `lost`: the probes had found a size and no
 * longer do. */
function source(probed: number | undefined, configured: number | undefined, lost: boolean): string {
  if (probed !== undefined) return `probed: datagrams up to ${probed} bytes`;
  const from = configured !== undefined ? "--path-mtu" : "the underlay interface's MTU";
  return lost ? `${from}: the peer answers no probes` : from;
}

/**
 * The one `-v` line for the path's size: e.g. "path MTU to 198.18.0.2:7011
 * is 1280 bytes (probed: datagrams up to 1252 bytes): frames up to 1228
 * bytes fit, TAP MTU 1214" (`change` "is" or "changed to"; `mtu` and
 * `frame` bytes), or, with `mtu` undefined, "path MTU to … unknown (why)".
 */
export function pathLine(
  peer: Endpoint | undefined,
  change: string,
  mtu: number | undefined,
  why: string,
  frame = 0,
): string {
  const to = `path MTU to ${peer === undefined ? "the peer" : formatHostPort(peer)}`;
  if (mtu === undefined) return `${to} unknown (${why})`;
  return `${to} ${change} ${mtu} bytes (${why}): frames up to ${frame} bytes fit, TAP MTU ${
    frame - ETH_HLEN
  }`;
}
