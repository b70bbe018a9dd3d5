/**
 * The packet loop of a legacy-format tunnel.
 *
 * Outbound (TAP → UDP), one batch at a time:
 *   1. wait until the peer's address is known (the server learns it from the
 *      first datagram that authenticates; until then it leaves the TAP alone);
 *   2. read frames from the TAP device with synchronous reads until it is
 *      drained (EAGAIN) or the batch is full;
 *   3. seal each frame in place in its own preallocated buffer;
 *   4. send the batch to the peer; a datagram the kernel refuses is dropped,
 *      counted and reported (EMSGSIZE gets the right TAP MTU);
 *   5. if the TAP was drained, wait for it with a nonblocking poll();
 *      otherwise yield to the event loop, so timers and signals still run
 *      under full load.
 *
 * Inbound (UDP → TAP), one receive at a time:
 *   1. receive into a preallocated full-size buffer;
 *   2. open it in place: drop and count what is short, forged or replayed;
 *   3. an accepted datagram moves the peer's address to its source (roaming)
 *      and restarts the keepalive timer;
 *   4. a frame is written to the TAP device; a keepalive is noted.
 *
 * All sending happens in the outbound loop, keepalives included (the timer
 * only asks for one), so datagrams leave in nonce order and the peer's
 * strictly-increasing replay rule never drops one of ours.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { HEADROOM, isAccepted, type LegacySession, MAX_FRAME, MIN_FRAME, Open } from "../core/legacy.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { Stats } from "../core/stats.ts";
import type { FrameDevice } from "../io/tap.ts";
import { type Endpoint, sameEndpoint, type SendFailure, type Transport } from "../io/transport.ts";

/** Seconds of silence after which a side that knows its peer sends a
 * keepalive, as the 2014 program does. */
export const KEEPALIVE_MS = 10_000;

/** Frames read from the TAP device per batch. */
export const DEFAULT_BATCH = 32;

/** What the loop reports; the runner turns these into log lines. */
export interface TunnelEvents {
  /** The peer's address became known (`first`) or moved. */
  peerChanged(peer: Endpoint, first: boolean): void;
  /** The socket refused a datagram; it was dropped. */
  sendFailed(failure: SendFailure): void;
  /** The TAP device refused a frame (errno); it was dropped. */
  writeFailed(errno: number): void;
  /** A receive call failed; the loop carries on. */
  receiveFailed(error: unknown): void;
}

/** Everything a {@linkcode LegacyTunnel} needs. */
export interface LegacyTunnelOptions {
  /** The TAP device. Owned by the tunnel: closed when {@linkcode LegacyTunnel.run} ends. */
  device: FrameDevice;
  /** The socket. Owned by the tunnel: closed when run() ends. */
  transport: Transport;
  /** The cryptographic state. Owned by the tunnel: erased when run() ends. */
  session: LegacySession;
  /** The server's address for a client; undefined for a server, which
   * learns its peer from the first datagram that authenticates. */
  peer?: Endpoint;
  /** CLOCK_MONOTONIC in nanoseconds. */
  clock: () => number;
  /** Counters the loop increments. */
  stats: Stats;
  /** Where the loop reports what the runner logs. */
  events: TunnelEvents;
  /** Frames per outbound batch; default {@linkcode DEFAULT_BATCH}. */
  batch?: number;
  /** Silence before a keepalive, ms; default {@linkcode KEEPALIVE_MS}. */
  keepaliveMs?: number;
}

/** Returns to the event loop (timers, signals, I/O) and back: ~4 µs.
 * `setTimeout(0)` would cost milliseconds once timers nest. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A running legacy tunnel between one TAP device and one peer. */
export class LegacyTunnel {
  readonly #o: Required<Omit<LegacyTunnelOptions, "peer">>;
  #peer: Endpoint | undefined;
  readonly #client: boolean;
  #peerKnown: () => void = () => {};
  readonly #peerLearned: Promise<void>;
  #lastActivityMs: number;
  #keepaliveDue = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  #error: unknown;
  readonly #onSendFailure: (f: SendFailure) => void;

  /** A tunnel that starts moving frames when {@linkcode run} is called. */
  constructor(options: LegacyTunnelOptions) {
    this.#o = { batch: DEFAULT_BATCH, keepaliveMs: KEEPALIVE_MS, ...options };
    this.#peer = options.peer;
    this.#client = options.peer !== undefined;
    this.#peerLearned = new Promise((resolve) => (this.#peerKnown = resolve));
    if (this.#client) this.#peerKnown();
    this.#lastActivityMs = options.clock() / 1e6;
    this.#onSendFailure = (f) => {
      this.#o.stats.dropTxError++;
      this.#o.events.sendFailed(f);
    };
  }

  /** The peer's current address, if known. */
  get peer(): Endpoint | undefined {
    return this.#peer;
  }

  /**
   * Runs until {@linkcode stop} is called or the device fails. Resolves on
   * stop; rejects with the device's error. Either way the device and the
   * socket are closed and the session erased before it settles.
   */
  async run(): Promise<void> {
    this.#armTimer();
    const guard = (p: Promise<void>) =>
      p.catch((e) => {
        this.#error ??= e;
        this.stop();
      });
    try {
      await Promise.all([guard(this.#inbound()), guard(this.#outbound())]);
    } finally {
      this.stop();
      this.#o.device.close();
      this.#o.session.close();
    }
    if (this.#error !== undefined) throw this.#error;
  }

  /** Asks the loops to end; {@linkcode run} then resolves. Idempotent. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#peerKnown();
    this.#o.transport.close();
    this.#o.device.wake();
  }

  async #outbound(): Promise<void> {
    const { device, transport, session, stats, clock } = this.#o;
    const batch = this.#o.batch;
    const bufs = Array.from({ length: batch }, () => new PacketBuffer(HEADROOM));
    const lengths = new Int32Array(batch);
    await this.#peerLearned;
    if (this.#client && !this.#stopping) {
      // The hello: the server learns our address before any traffic.
      await this.#sendKeepalive(bufs[0], lengths);
    }
    while (!this.#stopping) {
      if (this.#keepaliveDue) {
        this.#keepaliveDue = false;
        await this.#sendKeepalive(bufs[0], lengths);
      }
      let n = 0;
      let drained = false;
      while (n < batch) {
        const len = device.read(bufs[n]);
        if (len === 0) {
          drained = true;
          break;
        }
        if (len < MIN_FRAME) {
          stats.dropTxRunt++; // the peer would ignore it
        } else if (len > MAX_FRAME) {
          stats.dropTxTooLong++;
        } else {
          lengths[n] = session.seal(bufs[n], len, clock());
          stats.txFrames++;
          stats.txBytes += len;
          n++;
        }
      }
      if (n > 0) {
        this.#lastActivityMs = clock() / 1e6;
        await transport.send(bufs, lengths, n, this.#peer!, this.#onSendFailure);
      }
      if (this.#stopping) break;
      if (drained) await device.readable();
      else await yieldToEventLoop();
    }
  }

  async #sendKeepalive(buf: PacketBuffer, lengths: Int32Array): Promise<void> {
    const { transport, session, stats, clock } = this.#o;
    lengths[0] = session.sealKeepalive(buf, session.largestReceived, clock());
    stats.txKeepalives++;
    this.#lastActivityMs = clock() / 1e6;
    await transport.send([buf], lengths, 1, this.#peer!, this.#onSendFailure);
  }

  async #inbound(): Promise<void> {
    const { transport, stats } = this.#o;
    const size = transport.batch;
    const bufs = Array.from({ length: size }, () => new PacketBuffer(HEADROOM));
    const lengths = new Int32Array(size);
    const from: Endpoint[] = new Array(size);
    while (!this.#stopping) {
      let n: number;
      try {
        n = await transport.receive(bufs, lengths, from);
      } catch (e) {
        stats.rxErrors++;
        this.#o.events.receiveFailed(e);
        await yieldToEventLoop();
        continue;
      }
      if (n === 0) break;
      for (let i = 0; i < n; i++) this.#handle(bufs[i], lengths[i], from[i]);
    }
  }

  #handle(buf: PacketBuffer, length: number, from: Endpoint): void {
    const { session, stats, device } = this.#o;
    stats.rxDatagrams++;
    const kind = session.open(buf, length >= buf.bytes.length ? Number.MAX_SAFE_INTEGER : length);
    switch (kind) {
      case Open.Frame: {
        const frameLength = length - HEADROOM;
        const err = device.write(buf, frameLength);
        if (err === 0) {
          stats.rxFrames++;
          stats.rxBytes += frameLength;
        } else {
          stats.dropTapWrite++;
          this.#o.events.writeFailed(err);
        }
        break;
      }
      case Open.Keepalive:
        stats.rxKeepalives++;
        break;
      case Open.Runt:
        stats.dropRunt++;
        break;
      case Open.TooShort:
        stats.dropTooShort++;
        break;
      case Open.TooLong:
        stats.dropTooLong++;
        break;
      case Open.BadTag:
        stats.dropBadTag++;
        break;
      case Open.Replay:
        stats.dropReplay++;
        break;
    }
    if (!isAccepted(kind)) return;
    this.#lastActivityMs = this.#o.clock() / 1e6;
    if (!sameEndpoint(this.#peer, from)) {
      const first = this.#peer === undefined;
      this.#peer = from;
      this.#o.events.peerChanged(from, first);
      if (first) this.#peerKnown();
    }
  }

  /** Re-arms the keepalive timer for the end of the current silence. */
  #armTimer(): void {
    if (this.#stopping) return;
    const now = this.#o.clock() / 1e6;
    const due = this.#lastActivityMs + this.#o.keepaliveMs;
    if (now >= due && this.#peer !== undefined) {
      this.#keepaliveDue = true;
      this.#lastActivityMs = now; // the outbound loop sends it next
      this.#o.device.wake();
    }
    const wait = Math.max(1, this.#lastActivityMs + this.#o.keepaliveMs - now);
    this.#timer = setTimeout(() => this.#armTimer(), wait);
  }
}
