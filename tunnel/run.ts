/**
 * Start-up and shutdown of a tunnel: the checks in an order that fails early
 * and consumes nothing, then the packet loop until SIGINT or SIGTERM.
 *
 * Order: libsodium, keys, the TAP interface, the socket, and only then the
 * legacy format's nonce prefix, so a start that fails on any check does not
 * burn a prefix. Every fd opened is closed on every error path.
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import { CurrentEngine, TIMERS, type Timers } from "../core/current_engine.ts";
import type { Engine } from "../core/engine.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { LegacySession } from "../core/legacy.ts";
import { Stats } from "../core/stats.ts";
import { UserError } from "../errors.ts";
import { geteuid, monotonicNs, openFds } from "../ffi/libc.ts";
import { boxBeforenm, constantTimeEqual, memzero, publicKeyOf, randomBytes, sodium } from "../ffi/sodium.ts";
import { readKeyFile } from "../io/keyfile.ts";
import { takeNoncePrefix } from "../io/noncefile.ts";
import { pathMtu } from "../io/sockopt.ts";
import { type FrameDevice, TapDevice } from "../io/tap.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, Transport } from "../io/transport.ts";
import { DenoUdpTransport } from "../io/udp_deno.ts";
import { FfiUdpTransport } from "../io/udp_ffi.ts";
import { log, netLog } from "../log.ts";
import { Tunnel, type TunnelEvents } from "./loop.ts";

/** Settings both wire formats share, as both command-line forms give them. */
export interface CommonConfig {
  /** The UDP socket: tappet's own through FFI (batched), or Deno's. */
  readonly transport: "ffi" | "deno";
  /** TCP segmentation offload between the TAP and tappet. */
  readonly offload: boolean;
  /** TAP interface name. */
  readonly iface: string;
  /** Our secret key file. */
  readonly keyFile: string;
  /** The peer's public key file. */
  readonly peerKeyFile: string;
  /** Server (`-l`, `--listen`): bind `host:port` and learn the peer.
   * Client (`--connect`): send to `host:port`. */
  readonly listen: boolean;
  /** IP literal to bind (server) or send to (client). */
  readonly host: string;
  /** UDP port, 1 to 65535. */
  readonly port: number;
  /** Address family of `host`. */
  readonly family: 4 | 6;
}

/** A legacy-format tunnel's settings. */
export interface LegacyConfig extends CommonConfig {
  /** The wire format of the 2014 tappet. */
  readonly protocol: "legacy";
  /** Nonce file path. */
  readonly nonceFile: string;
}

/** A current-format tunnel's settings. */
export interface CurrentConfig extends CommonConfig {
  /** The Noise-based format. */
  readonly protocol: "current";
  /** A pre-shared key file (`tappet genpsk`), or none. */
  readonly pskFile?: string;
  /** Persistent keepalive interval in seconds, or none. */
  readonly keepaliveSeconds?: number;
}

/** A tunnel's settings. */
export type TunnelConfig = LegacyConfig | CurrentConfig;

/** IP + UDP header bytes for an address family. */
function ipUdpHeader(family: 4 | 6): number {
  return (family === 6 ? 40 : 20) + 8;
}

/** The TAP MTU that makes a full frame fit `pathMtu`: the path MTU less the
 * IP and UDP headers, the wire format's `overhead` and the 14-byte Ethernet
 * header. Legacy (56): − 98 over IPv4, − 118 over IPv6. Current (24): − 66
 * and − 86. */
export function tapMtuFor(pathMtu: number, family: 4 | 6, overhead: number): number {
  return pathMtu - ipUdpHeader(family) - overhead - 14;
}

/** Our secret key and the peer's public key, checked against each other.
 * The caller zeroes the secret key. */
function loadKeys(config: TunnelConfig): { secret: Uint8Array<ArrayBuffer>; peer: Uint8Array<ArrayBuffer> } {
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
    const peer = readKeyFile(config.peerKeyFile, "public");
    const ours = publicKeyOf(secret);
    if (constantTimeEqual(ours, peer)) {
      throw new UserError(
        `peer public key file ${config.peerKeyFile} holds our own public key: give the peer's NAME.pub`,
      );
    }
    if (constantTimeEqual(secret, peer)) {
      throw new UserError(
        `peer public key file ${config.peerKeyFile} holds the same key as ${config.keyFile}: give the peer's NAME.pub`,
      );
    }
    return { secret, peer };
  } catch (e) {
    memzero(secret);
    throw e;
  }
}

/** The environment variable through which tests shorten the current
 * format's timers: JSON such as `{"rekeyAfterMs": 50}`. Read only when
 * Deno grants access to it; never set it in production. */
export const TEST_TIMERS_ENV = "TAPPET_TEST_TIMERS";

function testTimers(): Partial<Timers> | undefined {
  const perm = Deno.permissions.querySync({ name: "env", variable: TEST_TIMERS_ENV });
  if (perm.state !== "granted") return undefined;
  const text = Deno.env.get(TEST_TIMERS_ENV);
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`${TEST_TIMERS_ENV} is not JSON: unset it`);
  }
  const timers: Partial<Timers> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(k in TIMERS) || typeof v !== "number" || !(v > 0)) {
      throw new UserError(`${TEST_TIMERS_ENV}: ${k} is not a timer or not a positive number: unset it`);
    }
    timers[k as keyof Timers] = v;
  }
  log.warn`${TEST_TIMERS_ENV} shortens the timers (${text}): for tests only`;
  return timers;
}

function loadPsk(file: string | undefined): Uint8Array<ArrayBuffer> | undefined {
  if (file === undefined) return undefined;
  return readKeyFile(file, "psk", (m) => log.warn`${m}`);
}

/** Log lines for what the packet loop reports. */
function tunnelEvents(device: string, family: 4 | 6, overhead: number): TunnelEvents {
  return {
    peerChanged(peer: Endpoint, first: boolean) {
      if (first) log.info`peer is ${formatHostPort(peer)}`;
      else log.info`peer moved to ${formatHostPort(peer)}`;
    },
    sendFailed(f: SendFailure) {
      if (f.code === "EMSGSIZE") {
        const mtu = pathMtu(f.to, family);
        const frame = f.length - overhead;
        const less = ipUdpHeader(family) + overhead + 14;
        const advice = mtu === undefined
          ? `set the TAP MTU of ${device} to the path MTU − ${less}`
          : `set the TAP MTU of ${device} to ${tapMtuFor(mtu, family, overhead)} (path MTU ${mtu} − ${less})`;
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
 * Runs a tunnel until SIGINT or SIGTERM (resolves with its counters) or a
 * fatal error (rejects; a {@linkcode UserError} for what the user can fix).
 */
export async function runTunnel(config: TunnelConfig): Promise<Stats> {
  sodium();
  const keys = loadKeys(config);
  // Signals first: their listener opens an fd of Deno's, before the count.
  const running: { tunnel?: Tunnel; stopAsked: boolean } = { stopAsked: false };
  const stop = () => {
    running.stopAsked = true;
    running.tunnel?.stop();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const fdsBefore = openFds();
  let psk: Uint8Array<ArrayBuffer> | undefined;
  let device: FrameDevice | undefined;
  let transport: Transport | undefined;
  let engine: Engine | undefined;
  const peer = config.listen ? undefined : { hostname: config.host, port: config.port };
  const stats = new Stats(); // one per tunnel: the engine, the socket and the TAP count into it
  try {
    psk = config.protocol === "current" ? loadPsk(config.pskFile) : undefined;
    const tap = TapDevice.open(config.iface, { offload: config.offload, stats });
    device = tap;
    if (config.offload && !tap.offload) {
      log.info`the kernel refused TAP offloads for ${config.iface}; going on without`;
    }
    const bindHost = config.listen ? config.host : config.family === 6 ? "::" : "0.0.0.0";
    const bindPort = config.listen ? config.port : 0;
    const udp = config.transport === "ffi"
      ? FfiUdpTransport.bind(bindHost, bindPort, config.family, { stats })
      : DenoUdpTransport.bind(bindHost, bindPort, config.family, stats);
    transport = udp;
    if (udp.info.dfError !== undefined) log.debug`DF not set on the socket: ${udp.info.dfError}`;
    if (udp instanceof FfiUdpTransport) {
      log.debug`socket buffers: receive ${udp.info.rcvbuf} bytes, send ${udp.info.sndbuf} bytes`;
    }
    let detail: string;
    if (config.protocol === "legacy") {
      const shared = boxBeforenm(keys.peer, keys.secret);
      try {
        const prefix = takeNoncePrefix(config.nonceFile);
        const random = new Uint8Array(12);
        randomBytes(random);
        const session = new LegacySession(shared, new LegacyNonce(prefix, random));
        engine = new LegacyEngine({ session, peer, now: monotonicNs(), stats });
        detail = `legacy format, nonce prefix ${prefix}`;
      } finally {
        memzero(shared);
      }
    } else {
      engine = new CurrentEngine({
        secretKey: keys.secret,
        peerPublic: keys.peer,
        psk,
        peer,
        now: monotonicNs(),
        stats,
        wallClock: Date.now,
        persistentKeepaliveMs: (config.keepaliveSeconds ?? 0) * 1000,
        timers: testTimers(),
      });
      detail = `current format${psk ? " with a pre-shared key" : ""}`;
    }
    if (geteuid() === 0) {
      const hint = `ip tuntap add ${config.iface} mode tap user USER`;
      log.warn`running as root; better: '${hint}' once, then run tappet as USER`;
    }
    const role = config.listen ? "listening on" : "sending to";
    const where = formatHostPort({ host: config.host, port: config.port });
    const local = formatHostPort(udp.local);
    log
      .info`${role} ${where} from ${local}, interface ${config.iface}, ${detail}, ${config.transport} socket`;
  } catch (e) {
    transport?.close();
    device?.close();
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    throw e;
  } finally {
    memzero(keys.secret);
    if (psk) memzero(psk);
  }

  const tunnel = new Tunnel({
    device,
    transport,
    engine,
    clock: monotonicNs,
    events: tunnelEvents(config.iface, config.family, engine.overhead),
  });
  running.tunnel = tunnel;
  if (running.stopAsked) tunnel.stop();
  try {
    await tunnel.run();
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    const left = leftOpen(fdsBefore);
    if (left.length === 0) log.info`stopped; closed every fd it opened`;
    else log.warn`stopped; fds still open: ${left.join(", ")}`;
    log.info`stopped; counters ${JSON.stringify(engine.stats.nonZero())}`;
  }
  return engine.stats;
}

/** The fds open now that were not open in `before`, with what they are. */
function leftOpen(before: Map<number, string>): string[] {
  const left: string[] = [];
  for (const [fd, target] of openFds()) {
    if (before.get(fd) !== target) left.push(`${fd} (${target})`);
  }
  return left;
}
