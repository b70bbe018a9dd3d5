/**
 * Start-up and shutdown of a tunnel: the checks in an order that fails early
 * and consumes nothing, then the packet loop until SIGINT or SIGTERM.
 *
 * Order: libsodium, keys, the TAP interface, the socket, and only then the
 * nonce prefix, so a start that fails on any check does not burn a prefix.
 * Every fd opened is closed on every error path.
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { LegacySession, OVERHEAD } from "../core/legacy.ts";
import type { Stats } from "../core/stats.ts";
import { UserError } from "../errors.ts";
import { geteuid, monotonicNs } from "../ffi/libc.ts";
import { boxBeforenm, constantTimeEqual, memzero, publicKeyOf, randomBytes, sodium } from "../ffi/sodium.ts";
import { readKeyFile } from "../io/keyfile.ts";
import { takeNoncePrefix } from "../io/noncefile.ts";
import { pathMtu } from "../io/sockopt.ts";
import { type FrameDevice, TapDevice } from "../io/tap.ts";
import type { Endpoint, SendFailure, Transport } from "../io/transport.ts";
import { DenoUdpTransport } from "../io/udp_deno.ts";
import { log, netLog } from "../log.ts";
import { Tunnel, type TunnelEvents } from "./loop.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";

/** A legacy tunnel's settings, as both command-line forms give them. */
export interface LegacyConfig {
  /** TAP interface name. */
  readonly iface: string;
  /** Nonce file path. */
  readonly nonceFile: string;
  /** Our secret key file. */
  readonly keyFile: string;
  /** The peer's public key file. */
  readonly peerKeyFile: string;
  /** Server (`-l`, `--listen`): bind `host:port` and learn the peer.
   * Client: send to `host:port`. */
  readonly listen: boolean;
  /** IP literal to bind (server) or send to (client). */
  readonly host: string;
  /** UDP port, 1 to 65535. */
  readonly port: number;
  /** Address family of `host`. */
  readonly family: 4 | 6;
}

/** IP + UDP header bytes for an address family. */
function ipUdpHeader(family: 4 | 6): number {
  return (family === 6 ? 40 : 20) + 8;
}

/** The TAP MTU that makes a full frame fit `pathMtu` (PROTOCOL.md §1 "MTU"):
 * path MTU − 98 over IPv4, − 118 over IPv6. */
export function legacyTapMtu(pathMtu: number, family: 4 | 6): number {
  return pathMtu - ipUdpHeader(family) - OVERHEAD - 14;
}

/** Reads both keys and checks that they make sense together. Returns the
 * shared key; the secret key is zeroed before returning. */
function loadLegacyKeys(config: LegacyConfig): Uint8Array<ArrayBuffer> {
  if (config.keyFile.endsWith(".pub")) {
    throw new UserError(
      `secret key file ${config.keyFile} looks like a public key (.pub): give our NAME.key, and the peer's NAME.pub as the peer key`,
    );
  }
  if (config.peerKeyFile.endsWith(".key")) {
    throw new UserError(
      `peer public key file ${config.peerKeyFile} looks like a secret key (.key): give the peer's NAME.pub, never a secret key`,
    );
  }
  const secret = readKeyFile(config.keyFile, "secret", (m) => log.warn`${m}`);
  try {
    const theirs = readKeyFile(config.peerKeyFile, "public");
    const ours = publicKeyOf(secret);
    if (constantTimeEqual(ours, theirs)) {
      throw new UserError(
        `peer public key file ${config.peerKeyFile} holds our own public key: give the peer's NAME.pub`,
      );
    }
    if (constantTimeEqual(secret, theirs)) {
      throw new UserError(
        `peer public key file ${config.peerKeyFile} holds the same key as ${config.keyFile}: give the peer's NAME.pub`,
      );
    }
    return boxBeforenm(theirs, secret);
  } finally {
    memzero(secret);
  }
}

/** Log lines for what the packet loop reports. */
function tunnelEvents(device: string, family: 4 | 6): TunnelEvents {
  return {
    peerChanged(peer: Endpoint, first: boolean) {
      if (first) log.info`peer is ${formatHostPort(peer)}`;
      else log.info`peer moved to ${formatHostPort(peer)}`;
    },
    sendFailed(f: SendFailure) {
      if (f.code === "EMSGSIZE") {
        const mtu = pathMtu(f.to, family);
        const frame = f.length - OVERHEAD;
        const advice = mtu === undefined
          ? `set the TAP MTU of ${device} to the path MTU − ${ipUdpHeader(family) + OVERHEAD + 14}`
          : `set the TAP MTU of ${device} to ${legacyTapMtu(mtu, family)} (path MTU ${mtu} − ${
            ipUdpHeader(family) + OVERHEAD + 14
          })`;
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
      if (errno === 5) {
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

/**
 * Runs a legacy-format tunnel until SIGINT or SIGTERM (resolves) or a fatal
 * error (rejects; a {@linkcode UserError} for what the user can fix).
 */
export async function runLegacy(config: LegacyConfig): Promise<Stats> {
  sodium();
  const shared = loadLegacyKeys(config);
  let device: FrameDevice | undefined;
  let transport: Transport | undefined;
  let session: LegacySession | undefined;
  try {
    device = TapDevice.open(config.iface);
    const udp = config.listen
      ? DenoUdpTransport.bind(config.host, config.port, config.family)
      : DenoUdpTransport.bind(config.family === 6 ? "::" : "0.0.0.0", 0, config.family);
    transport = udp;
    if (udp.info.dfError !== undefined) log.debug`DF not set on the socket: ${udp.info.dfError}`;
    const prefix = takeNoncePrefix(config.nonceFile);
    const random = new Uint8Array(12);
    randomBytes(random);
    session = new LegacySession(shared, new LegacyNonce(prefix, random));
    if (geteuid() === 0) {
      const hint = `ip tuntap add ${config.iface} mode tap user USER`;
      log.warn`running as root; better: '${hint}' once, then run tappet as USER`;
    }
    const role = config.listen ? "listening on" : "sending to";
    const where = formatHostPort({ host: config.host, port: config.port });
    log.info`${role} ${where} from ${
      formatHostPort(udp.local)
    }, interface ${config.iface}, nonce prefix ${prefix}`;
  } catch (e) {
    transport?.close();
    device?.close();
    throw e;
  } finally {
    memzero(shared);
  }

  const engine = new LegacyEngine({
    session,
    peer: config.listen ? undefined : { hostname: config.host, port: config.port },
    now: monotonicNs(),
  });
  const stats = engine.stats;
  const tunnel = new Tunnel({
    device,
    transport,
    engine,
    clock: monotonicNs,
    events: tunnelEvents(config.iface, config.family),
  });
  const stop = () => tunnel.stop();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await tunnel.run();
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    log.info`stopped; counters ${JSON.stringify(stats.snapshot())}`;
  }
  return stats;
}
