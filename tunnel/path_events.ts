/**
 * The runner's side of the path's size (issue 14): the path MTU to assume
 * until the engine finds one (`--path-mtu`, else the MTU of the underlay
 * interface the route to the peer uses, looked up again when a server
 * learns its peer), the `-v` line when the path's size becomes known or
 * changes, and `--set-mtu` (the TAP's MTU set to the one that fits).
 *
 * @module
 */

import type { Endpoint } from "../core/endpoint.ts";
import { setInterfaceMtu } from "../io/tun.ts";
import { log } from "../log.ts";
import type { TunnelEvents } from "./forwarder.ts";
import type { TunnelOptions } from "./loop.ts";
import { underlayMtu } from "./route.ts";
import { interfaceState } from "./iface.ts";
import type { TunnelConfig } from "./run.ts";

/** Bytes of an Ethernet header (<linux/if_ether.h> ETH_HLEN): the TAP's MTU
 * leaves it out. */
const ETH_HLEN = 14;

/** The tunnel options `events` and `path` for `config`: `inner`'s events,
 * with the path's reports added. `peer` is the client's server address. */
export function pathEvents(
  config: TunnelConfig,
  peer: Endpoint | undefined,
  inner: TunnelEvents,
): Pick<TunnelOptions, "events" | "path"> {
  const lookup = (to: Endpoint) => {
    const found = underlayMtu(to.hostname, config.family);
    if (found !== undefined) {
      log.debug`underlay: the route to ${to.hostname} uses ${found.iface}, MTU ${found.mtu}`;
    }
    return found?.mtu;
  };
  let pathMtu = config.pathMtu ?? (peer === undefined ? undefined : lookup(peer));
  const events: TunnelEvents = {
    peerChanged(p, first) {
      inner.peerChanged(p, first);
      if (first && config.pathMtu === undefined) pathMtu = lookup(p);
    },
    sendFailed: (f) => inner.sendFailed(f),
    writeFailed: (e) => inner.writeFailed(e),
    receiveFailed: (e) => inner.receiveFailed(e),
    pathChanged(mtu, maxFrame, first) {
      const advised = maxFrame - ETH_HLEN;
      log.info`path MTU ${
        first ? "is" : "changed to"
      } ${mtu} bytes: frames up to ${maxFrame} bytes fit, TAP MTU ${advised}`;
      if (config.setMtu !== true) return;
      if (interfaceState(config.iface)?.mtu === advised) return;
      const error = setInterfaceMtu(config.iface, advised);
      if (error === undefined) log.info`set the MTU of ${config.iface} to ${advised} (--set-mtu)`;
      else {
        log
          .warn`cannot set the MTU of ${config.iface} to ${advised}: ${error} (--set-mtu needs CAP_NET_ADMIN)`;
      }
    },
  };
  return {
    events,
    path: { pathMtu: () => pathMtu, family: config.family, clampMss: config.clampMss ?? true },
  };
}
