/**
 * The log lines of a running tunnel: what the forwarder reports (peer
 * changes, refused datagrams and frames, failed receives), and the lines at
 * exit. Network-caused lines go through the rate-limited `net` logger.
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { Stats } from "../core/stats.ts";
import { ETH_HLEN } from "../core/mss.ts";
import { Errno } from "../ffi/libc.ts";
import type { SendFailure } from "../io/transport.ts";
import { log, netLog } from "../log.ts";
import type { TunnelEvents } from "./forwarder.ts";
import { ipUdpHeader, mtuAdvice, mtuWarning } from "./iface.ts";

/** What the log lines need to know about the tunnel. */
export interface ReportContext {
  /** TAP interface name. */
  readonly iface: string;
  /** Address family of the underlay. */
  readonly family: 4 | 6;
  /** Bytes a data datagram adds to a frame (the engine's overhead). */
  readonly overhead: number;
  /** The TAP's MTU as read at start, for the check against the path once
   * a server learns its peer; undefined: not checked. */
  readonly mtu: number | undefined;
  /** True for a server: its peer is checked when it is first heard. */
  readonly listen: boolean;
  /** The path MTU tappet works with now, bytes (tunnel/path_events.ts:
   * the probes' finding, else `--path-mtu` or the underlay interface's MTU;
   * never the kernel's cached path MTU, which a forged ICMP can lower);
   * undefined while unknown. Asked on a rare event (a new peer, EMSGSIZE). */
  readonly pathMtu: () => number | undefined;
}

/** Log lines for what the forwarder reports. */
export function tunnelEvents(c: ReportContext): TunnelEvents {
  const { iface: device, family, overhead } = c;
  return {
    peerChanged(peer: Endpoint, first: boolean) {
      if (first) log.info`peer is ${formatHostPort(peer)}`;
      else log.info`peer moved to ${formatHostPort(peer)}`;
      // A server learns where its peer is only now: check the path to it.
      if (c.listen && c.mtu !== undefined) {
        const warning = mtuWarning(device, c.mtu, peer, c.pathMtu(), family, overhead);
        if (warning !== undefined) log.warn`${warning}`;
      }
    },
    sendFailed(f: SendFailure) {
      if (f.code === "EMSGSIZE") {
        const mtu = c.pathMtu();
        const frame = f.length - overhead;
        const less = ipUdpHeader(family) + overhead + ETH_HLEN;
        const advice = mtu === undefined
          ? `set the TAP MTU of ${device} to the path MTU − ${less}`
          : mtuAdvice(device, mtu, family, overhead);
        netLog.warn`frame of ${frame} bytes is too big for the path to ${
          formatHostPort(f.to)
        }: ${advice}; dropped`;
      } else if (f.code === "ENETUNREACH") {
        netLog.debug`network unreachable for ${formatHostPort(f.to)}; frame dropped`;
      } else {
        netLog.warn`sending to ${formatHostPort(f.to)} failed (${f.message}); frame dropped`;
      }
    },
    writeFailed(errno: number) {
      if (errno === Errno.EIO) {
        netLog.warn`interface ${device} is down: bring it up with 'ip link set ${device} up'; frame dropped`;
      } else {
        netLog.warn`interface ${device} refused a frame (errno ${errno}); dropped`;
      }
    },
    receiveFailed(error: unknown) {
      netLog.warn`receiving failed (${(error as Error).message}); carrying on`;
    },
  };
}

/** The header of the counter lines at exit; each counter follows on a line
 * of its own, indented: `  name value` (see scripts/harness.ts counters()). */
export const COUNTERS_HEADER = "counters:";

/**
 * The lines at exit, at info level: one "stopped" line (with the fds
 * `left` open, if any, as a warning), then the non-zero counters as
 * `name value` lines.
 */
export function logStopped(seconds: number, left: string[], stats: Stats): void {
  const after = `stopped after ${seconds.toFixed(1)} s`;
  if (left.length === 0) log.info`${after}; closed every fd it opened`;
  else log.warn`${after}; fds still open: ${left.join(", ")}`;
  log.info`${COUNTERS_HEADER}`;
  for (const line of stats.lines()) log.info`  ${line}`;
}
