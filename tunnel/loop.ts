/**
 * A running tunnel: one {@linkcode Forwarder} (tunnel/forwarder.ts, where
 * the packet flow is described) between one TAP device and one UDP socket,
 * driven by the poll driver when the socket has a synchronous side and the
 * device an fd (the default path), else by the async driver.
 *
 * @module
 */

import type { Arena } from "../core/arena.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { Engine } from "../core/engine.ts";
import type { Counter, Stats } from "../core/stats.ts";
import type { FrameDevice } from "../io/tap.ts";
import type { Transport } from "../io/transport.ts";
import { PollWaiter, type Waiter } from "../io/wait.ts";
import { AsyncDriver } from "./async_driver.ts";
import { DEFAULT_BATCH, Forwarder, type ForwarderOptions, type TunnelEvents } from "./forwarder.ts";
import { PollDriver } from "./poll_driver.ts";
import { ipUdpHeader, tapMtuFor } from "./iface.ts";

export { DEFAULT_BATCH, type TunnelEvents };

/** What the runner knows about a tunnel that the tunnel does not. */
export interface TunnelInfo {
  /** The wire format. */
  readonly protocol: "legacy" | "current";
  /** Which socket: tappet's own through FFI, or Deno's. */
  readonly transport: "ffi" | "deno";
  /** True when the TAP passes TCP super-frames (offloads on). */
  readonly offload: boolean;
  /** The TAP interface's name. */
  readonly iface: string;
  /** The TAP interface's MTU as read at start, bytes; undefined if unknown. */
  readonly mtu: number | undefined;
  /** When the tunnel started, ms since the Unix epoch. */
  readonly startedAt: number;
}

/** A tunnel's state at one moment (see {@linkcode Tunnel.status}): plain
 * data, safe to keep, print or serialise; no secret in it. The
 * {@linkcode TunnelInfo} fields are those the runner gave (absent when it
 * gave none, as in tests), but for `iface`, the device's name. The runner
 * turns it into the operator's view, tunnel/status.ts `TunnelStatus`
 * (tunnel/watch.ts snapshotOf, then statusOf). */
export interface LoopStatus extends Partial<TunnelInfo> {
  /** The TAP interface's name. */
  readonly iface: string;
  /** True until the tunnel has stopped. */
  readonly running: boolean;
  /** The socket's own address. */
  readonly local: Endpoint;
  /** Where data goes now; undefined while a server has not heard from its peer. */
  readonly peer: Endpoint | undefined;
  /** Every counter, a copy. */
  readonly counters: Record<Counter, number>;
  /** Path MTU (issue 14): the largest IP packet known to cross the path to
   * the peer, bytes (the engine's probe result, else `--path-mtu` or the
   * underlay interface's MTU); undefined while unknown. */
  readonly pathMtu?: number;
  /** The TAP MTU that fits the path (untagged frames), bytes; undefined
   * while the path MTU is unknown. */
  readonly tapMtuAdvised?: number;
  /** True once IPv6 frames of at most 1280 bytes met a path too small for
   * them after the overhead: they go out as datagrams the kernel may
   * fragment (mtuKernelFragmented), or with the Deno socket are dropped
   * (mtuDropMinIpv6). */
  readonly ipv6BelowMinimum?: boolean;
}

/** Everything a {@linkcode Tunnel} needs. */
export interface TunnelOptions {
  /** The TAP device. Owned by the tunnel: closed when {@linkcode Tunnel.run} ends. */
  device: FrameDevice;
  /** The socket. Owned by the tunnel: closed when run() ends. */
  transport: Transport;
  /** The wire format's state. Owned by the tunnel: closed (keys erased) when run() ends. */
  engine: Engine;
  /** CLOCK_MONOTONIC in nanoseconds. */
  clock: () => number;
  /** Where the tunnel reports what the runner logs. */
  events: TunnelEvents;
  /** Frames per outbound batch; default {@linkcode DEFAULT_BATCH}. */
  batch?: number;
  /** The tunnel's counters, shared with the device and the socket; default
   * the engine's. */
  stats?: Stats;
  /** The tunnel's buffer arena (see core/arena.ts); default: buffers of
   * their own. */
  arena?: Arena;
  /** How the poll driver waits. Given: the poll driver runs (the transport
   * must have a `sync` side); default a {@linkcode PollWaiter} over the
   * device's and the socket's fds when both have one. */
  waiter?: Waiter;
  /** What {@linkcode Tunnel.status} reports beside the live state. */
  info?: TunnelInfo;
  /** The path's size, until the engine finds it (see tunnel/path.ts). */
  path?: {
    /** The path MTU to assume, bytes; undefined while unknown. Read once
     * per outbound batch. */
    readonly pathMtu: () => number | undefined;
    /** The underlay's address family. */
    readonly family: 4 | 6;
    /** Clamp the MSS of TCP SYNs (default true). */
    readonly clampMss?: boolean;
    /** See ForwarderOptions.sendFragmentable. */
    readonly sendFragmentable?: ForwarderOptions["sendFragmentable"];
  };
}

/** A running tunnel between one TAP device and one peer. */
export class Tunnel {
  readonly #o: TunnelOptions;
  readonly #fw: Forwarder;
  readonly #driver: PollDriver | AsyncDriver;
  #stopping = false;
  #ended = false;

  /** A tunnel that starts moving frames when {@linkcode run} is called. */
  constructor(options: TunnelOptions) {
    this.#o = options;
    const { device, transport, engine } = options;
    this.#fw = new Forwarder({
      device,
      engine,
      stats: options.stats,
      events: options.events,
      batch: options.batch ?? DEFAULT_BATCH,
      rxBatch: transport.batch,
      arena: options.arena,
      reserve: device.frontBytes ?? 0,
      pathMtu: options.path?.pathMtu,
      family: options.path?.family,
      clampMss: options.path?.clampMss,
      sendFragmentable: options.path?.sendFragmentable,
    });
    const sync = transport.sync;
    let waiter = options.waiter;
    if (waiter === undefined && sync !== undefined && device.fd !== undefined) {
      waiter = new PollWaiter(device.fd, sync.fd);
    }
    this.#driver = sync !== undefined && waiter !== undefined
      ? new PollDriver(this.#fw, sync, waiter, options.clock)
      : new AsyncDriver(this.#fw, transport, device, options.clock);
  }

  /** Which driver runs: `"poll"` (the default path) or `"async"`. */
  get driver(): "poll" | "async" {
    return this.#driver instanceof PollDriver ? "poll" : "async";
  }

  /**
   * Runs until {@linkcode stop} is called or the device fails. Resolves on
   * stop; rejects with the device's error. Either way the device and the
   * socket are closed and the engine's keys erased before it settles; the
   * socket only once the driver has ended (a park may have a poll() on it
   * pending on another thread).
   */
  async run(): Promise<void> {
    try {
      await this.#driver.run();
    } finally {
      this.stop();
      this.#ended = true;
      const { transport, device, engine } = this.#o;
      transport.close();
      device.close();
      engine.close();
    }
  }

  /** Asks the driver to end; {@linkcode run} then resolves. Idempotent. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#driver.stop();
  }

  /**
   * The tunnel's state now, a consistent copy (taken between two steps of
   * forwarding: the counters of one moment, the peer of that moment). For
   * `tappet status`, metrics and tests; cheap, but allocates: not for the
   * packet path.
   */
  status(): LoopStatus {
    const { transport, engine, info } = this.#o;
    return {
      ...info,
      iface: info?.iface ?? this.#o.device.name,
      running: !this.#ended,
      local: { ...transport.local },
      peer: engine.peer === undefined ? undefined : { ...engine.peer },
      counters: this.#fw.stats.snapshot(),
      ...this.#pathStatus(),
    };
  }

  #pathStatus(): Pick<LoopStatus, "pathMtu" | "tapMtuAdvised" | "ipv6BelowMinimum"> {
    const { maxDatagram: d, ipv6BelowMinimum } = this.#fw.path;
    if (d === undefined) return {};
    const family = this.#o.path?.family ?? 4;
    return {
      pathMtu: d + ipUdpHeader(family),
      tapMtuAdvised: tapMtuFor(d + ipUdpHeader(family), family, this.#o.engine.overhead),
      ipv6BelowMinimum,
    };
  }
}
