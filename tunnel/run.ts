/**
 * Start-up and shutdown of a tunnel: the checks in an order that fails early
 * and consumes nothing, then the packet loop until SIGINT or SIGTERM.
 *
 * Order: libsodium, keys, the TAP interface, the socket, the control socket
 * and metrics (tunnel/operations.ts), and only then the legacy format's
 * nonce prefix, so a start that fails on any check does not
 * burn a prefix. Every fd opened is closed on every error path. Then the
 * checks that only warn (the TAP is down, its MTU is too big for the path).
 *
 * The runner makes the tunnel's one {@linkcode Stats} and one buffer
 * {@linkcode Arena} and hands them to the engine, the TAP device, the socket
 * and the forwarder.
 *
 * @module
 */

import { formatHostPort, type HostPort } from "../core/address.ts";
import { Arena, ARENA_BYTES } from "../core/arena.ts";
import { CurrentEngine } from "../core/current_engine.ts";
import type { Engine } from "../core/engine.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { LegacySession } from "../core/legacy.ts";
import { Stats } from "../core/stats.ts";
import { OsError, ReportedError, UserError } from "../errors.ts";
import { geteuid, monotonicNs, openFds } from "../ffi/libc.ts";
import { boxBeforenm, memzero, randomBytes, sodium } from "../ffi/sodium.ts";
import { takeNoncePrefix } from "../io/noncefile.ts";
import { TapDevice } from "../io/tap.ts";
import type { Transport } from "../io/transport.ts";
import { DenoUdpTransport } from "../io/udp_deno.ts";
import { FfiUdpTransport } from "../io/udp_ffi.ts";
import { log, writeStderr } from "../log.ts";
import { type InterfaceState, interfaceState, startWarnings } from "./iface.ts";
import { type LoopStatus, Tunnel, type TunnelInfo } from "./loop.ts";
import { logStopped, tunnelEvents } from "./report.ts";
import { probeCeilingFor, withProbes } from "./pmtu_probe.ts";
import { pathEvents } from "./path_events.ts";
import { Operations } from "./operations.ts";
import { type SnapshotContext, snapshotOf, startWatch, type Watch } from "./watch.ts";
import { loadKeys, loadPsk, testTimers } from "./start_files.ts";
import { accountFor, giveUpRoot } from "./privileges.ts";
import { batchHelperThreads } from "../io/sched.ts";

export { TEST_TIMERS_ENV } from "./start_files.ts";

export { tapMtuFor } from "./iface.ts";

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
  /** Client only: the local address and port to send from (`--bind`), of
   * the same family as `host`; by default the kernel picks both. */
  readonly bind?: HostPort;
  /** The path MTU to assume, bytes (`--path-mtu`); by default the MTU of
   * the underlay interface the route to the peer uses (tunnel/route.ts),
   * until the engine finds the path's size itself. */
  readonly pathMtu?: number;
  /** Lower the MSS of TCP SYNs crossing the tunnel to fit the path
   * (`--clamp-mss`); default true. */
  readonly clampMss?: boolean;
  /** Set the TAP's MTU to the one that fits the path (`--set-mtu`; needs
   * CAP_NET_ADMIN); default false. */
  readonly setMtu?: boolean;
  /** Run as this user once everything privileged is open (`--user`; see
   * tunnel/privileges.ts); tappet must then start as root. */
  readonly user?: string;
  /** Client only: the host name `host` was resolved from; resolved again
   * while the peer is silent (tunnel/watch.ts). */
  readonly peerName?: string;
  /** The control socket's path; default /run/tappet/IFACE.sock (io/control.ts). */
  readonly control?: string;
  /** Where to serve Prometheus metrics (tunnel/metrics.ts); none when absent. */
  readonly metrics?: HostPort;
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

/** Ways for the caller to follow a running tunnel. */
export interface RunHooks {
  /** Called once the tunnel runs, with a function that returns its state
   * at the moment it is called (see {@linkcode Tunnel.status}); valid until
   * runTunnel settles (then `running` is false). For `tappet status` and
   * metrics. */
  started?(status: () => LoopStatus): void;
}

/**
 * Runs a tunnel until SIGINT or SIGTERM (resolves with its counters) or a
 * fatal error (rejects; a {@linkcode UserError} for what the user can fix,
 * or a {@linkcode ReportedError} when the tunnel failed while running: its
 * line is then already on stderr, before the stop lines).
 */
export async function runTunnel(config: TunnelConfig, hooks: RunHooks = {}): Promise<Stats> {
  const account = accountFor(config.user); // before anything is opened
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
  const startedAt = Date.now();
  const startNs = monotonicNs();
  // One Stats and one arena per tunnel, handed to everything that counts
  // or holds packet buffers.
  const stats = new Stats();
  const arena = new Arena(ARENA_BYTES, (n) => {
    log
      .warn`the tunnel's buffer arena (${ARENA_BYTES} bytes) is full: a buffer of ${n} bytes comes from the heap, and copies to it allocate per frame`;
  });
  let psk: Uint8Array<ArrayBuffer> | undefined;
  let device: TapDevice | undefined;
  let transport: Transport | undefined;
  let engine: Engine | undefined;
  let info: TunnelInfo;
  let state: InterfaceState | undefined;
  let ops: Operations | undefined;
  const opsWarnings: string[] = [];
  let noncePrefix: number | undefined;
  const timers = testTimers();
  const live: { tunnel?: Tunnel; watch?: Watch; context?: Omit<SnapshotContext, "watch"> } = {};
  const peer = config.listen ? undefined : { hostname: config.host, port: config.port };
  try {
    psk = config.protocol === "current" ? loadPsk(config.pskFile) : undefined;
    const tap = TapDevice.open(config.iface, { offload: config.offload, arena, stats });
    device = tap;
    if (config.offload && !tap.offload) {
      log.info`the kernel refused TAP offloads for ${config.iface}; going on without`;
    }
    // A client sends from --bind, or from where the kernel picks.
    const bindHost = config.listen
      ? config.host
      : config.bind?.host ?? (config.family === 6 ? "::" : "0.0.0.0");
    const bindPort = config.listen ? config.port : config.bind?.port ?? 0;
    const udp = config.transport === "ffi"
      ? FfiUdpTransport.bind(bindHost, bindPort, config.family, { stats, arena })
      : DenoUdpTransport.bind(bindHost, bindPort, config.family, stats);
    transport = udp;
    // The operator's view: the control socket (and metrics), answering from
    // the running tunnel; made before the nonce prefix is taken, so that a
    // busy metrics port or a bad --control PATH burns none.
    ops = await Operations.start({
      iface: config.iface,
      control: config.control,
      metrics: config.metrics,
      // Said once the start has succeeded, not before a fatal line.
      warn: (m) => opsWarnings.push(m),
      snapshot: () => {
        const { tunnel, watch, context } = live;
        if (tunnel === undefined || watch === undefined || context === undefined) {
          throw new Error("not running yet");
        }
        return snapshotOf(tunnel.status(), { ...context, watch });
      },
    });
    if (udp.info.dfError !== undefined) log.debug`DF not set on the socket: ${udp.info.dfError}`;
    if (udp instanceof FfiUdpTransport) {
      log.debug`socket buffers: receive ${udp.info.rcvbuf} bytes, send ${udp.info.sndbuf} bytes`;
    }
    let detail: string;
    if (config.protocol === "legacy") {
      const shared = boxBeforenm(keys.peer, keys.secret);
      try {
        const prefix = takeNoncePrefix(config.nonceFile);
        noncePrefix = prefix;
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
        timers,
        probeCeiling: peer === undefined ? undefined : probeCeilingFor(peer, config.family), // pmtu_probe.ts
      });
      detail = `current format${psk ? " with a pre-shared key" : ""}`;
    }
    if (geteuid() === 0 && account === undefined) {
      const hint = `ip tuntap add ${config.iface} mode tap user USER`;
      log
        .warn`running as root; better: --user USER (tappet gives up root once it has started), or '${hint}' once, then run tappet as USER`;
    }
    const where = (config.peerName === undefined ? "" : `${config.peerName} = `) +
      formatHostPort({ host: config.host, port: config.port });
    const role = config.listen
      ? `listening on ${where}`
      : `sending to ${where} from ${formatHostPort(udp.local)}`;
    log.info`${role}, interface ${config.iface}, ${detail}, ${config.transport} socket`;
    const helpers = batchHelperThreads(); // io/sched.ts: they no longer preempt the packet path
    if (helpers.error !== undefined) {
      log.debug`V8's helper threads keep their scheduling policy: ${helpers.error.message}`;
    } else log.debug`V8's ${helpers.batched} helper threads run under SCHED_BATCH`;
    state = interfaceState(config.iface);
    info = {
      protocol: config.protocol,
      transport: config.transport,
      offload: tap.offload,
      iface: config.iface,
      mtu: state?.mtu,
      startedAt,
    };
    live.context = {
      role: config.listen ? "listen" as const : "connect" as const,
      family: config.family,
      overhead: engine.overhead,
      peerPublicKey: keys.peer.slice(),
      peerHost: config.peerName,
      noncePrefix,
      startedNs: startNs,
      clock: monotonicNs,
      engine,
    };
    // Everything privileged is open: with --user, give up root before the
    // first datagram is handled.
    if (account !== undefined) giveUpRoot(account, ops.control?.path, config.setMtu === true);
  } catch (e) {
    await ops?.close();
    engine?.close();
    transport?.close();
    device?.close();
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    throw e;
  } finally {
    memzero(keys.secret);
    if (psk) memzero(psk);
  }

  // The path's size (issue 14): from --path-mtu, the underlay interface or
  // the engine's probes; its events wrap the runner's log lines.
  // The warnings check against that size, never the kernel's cached path
  // MTU (a forged ICMP can lower it).
  const overhead = engine.overhead;
  const pathFit = pathEvents(
    config,
    peer,
    engine,
    (pathMtu) =>
      tunnelEvents({
        iface: config.iface,
        family: config.family,
        overhead,
        mtu: info.mtu,
        listen: config.listen,
        pathMtu,
      }),
    transport.sync,
  );
  for (const w of startWarnings(config.iface, state, peer, pathFit.pathMtuNow(), config.family, overhead)) {
    log.warn`${w}`;
  }
  const tunnel = new Tunnel({
    device,
    transport,
    engine,
    stats,
    arena,
    clock: monotonicNs,
    info,
    path: pathFit.path,
    events: withProbes(pathFit.events, engine, config.family),
  });
  const status = () => {
    return tunnel.status();
  };
  for (const w of opsWarnings) log.warn`${w}`;
  running.tunnel = tunnel;
  if (running.stopAsked) tunnel.stop();
  live.tunnel = tunnel;
  live.watch = startWatch(config, engine, stats, timers);
  const watching = setInterval(() => live.watch!.tick(), WATCH_INTERVAL_MS);
  hooks.started?.(status);
  try {
    await tunnel.run();
  } catch (e) {
    // Said before the stop lines, so that the reason is not buried.
    if (e instanceof UserError || e instanceof OsError) {
      writeStderr(`tappet: ${e.message}`);
      throw new ReportedError(e instanceof UserError ? e.exitCode : 1, { cause: e });
    }
    throw e;
  } finally {
    clearInterval(watching);
    await ops.close();
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    logStopped((monotonicNs() - startNs) / 1e9, leftOpen(fdsBefore), stats);
  }
  return stats;
}

/** How often the runner's watch looks at the tunnel (tunnel/watch.ts), ms. */
const WATCH_INTERVAL_MS = 1000;

/** The fds open now that were not open in `before`, with what they are. */
function leftOpen(before: Map<number, string>): string[] {
  const left: string[] = [];
  for (const [fd, target] of openFds()) {
    if (before.get(fd) !== target) left.push(`${fd} (${target})`);
  }
  return left;
}
