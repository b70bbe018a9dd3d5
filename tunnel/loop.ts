/**
 * The packet loop: moves frames between one TAP device and one UDP socket
 * through an {@linkcode Engine} (the wire format).
 *
 * Outbound (TAP → UDP), one batch at a time:
 *   1. send what the engine wants sent on its own (hello, keepalive,
 *      handshake, cookie reply, frames kept for a new session);
 *   2. if the engine takes frames (a server takes none before it knows its
 *      peer), read frames from the TAP device with synchronous reads until it
 *      is drained (EAGAIN) or the batch is full;
 *   3. seal each frame in place in its own preallocated buffer;
 *   4. send the batch to the peer; a datagram the kernel refuses is dropped,
 *      counted and reported (EMSGSIZE gets the right TAP MTU);
 *   5. if the TAP was drained, wait for it with a nonblocking poll(), which
 *      the timer and the inbound loop can cut short with wake(); otherwise
 *      yield to the event loop, so timers and signals still run under load.
 *
 * Inbound (UDP → TAP), one receive at a time:
 *   1. receive into preallocated full-size buffers;
 *   2. open each in place: the engine drops and counts what is short, forged
 *      or replayed, and follows the peer's address (roaming);
 *   3. write each frame to the TAP device;
 *   4. if the engine now has something to send (a handshake response, a
 *      keepalive), wake the outbound loop.
 *
 * Every datagram leaves from the outbound loop, so they leave in the order
 * they were sealed: the legacy format's strictly-increasing replay rule
 * depends on it.
 *
 * With a TAP device and a socket that both expose their fds (the FFI
 * transport), one synchronous loop does both directions instead, as the
 * 2014 program's select() loop did: it drains a batch from the TAP and a
 * batch from the socket, and when both are empty it blocks in poll() on both
 * fds, on the main thread, until the next timer is due. No promise and no
 * thread hop per packet: a frame is forwarded as soon as poll() returns. It
 * returns to the event loop after every batch, so signal handlers (a
 * signal also ends the poll early) and timers run under full load.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Engine } from "../core/engine.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { FrameDevice } from "../io/tap.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, SyncTransport, Transport } from "../io/transport.ts";
import { PollSet } from "../io/wait.ts";

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
  /** Where the loop reports what the runner logs. */
  events: TunnelEvents;
  /** Frames per outbound batch; default {@linkcode DEFAULT_BATCH}. */
  batch?: number;
}

/**
 * The longest the synchronous loop blocks in poll() at a time, ms. Deno's
 * runtime reads its I/O driver (where signals arrive) only when it parks or
 * every 61 scheduler ticks, so the loop parks it after each idle wait: a
 * signal that poll() did not see is handled within this time.
 */
const IDLE_POLL_MS = 50;

/** How long a loop waits after a receive call failed, ms. */
const RECEIVE_ERROR_PAUSE_MS = 10;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The synchronous loop yields to the event loop at least this often under
 * load, ns. */
const YIELD_NS = 1e6;

/** How long the loop lets Deno's runtime park (see PollSet.park), ms; it
 * ends early when a frame or a datagram arrives. */
const PARK_MS = 1;

/** Returns to the event loop (timers, signals, I/O) and back: ~4 µs.
 * `setTimeout(0)` would cost milliseconds once timers nest. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Preallocated buffers for one direction: `bufs` are read or received
 * into; `outBufs[0, out)` are the ones that go on (sealed, or opened). */
class Batch {
  readonly bufs: PacketBuffer[];
  readonly lengths: Int32Array;
  readonly outBufs: PacketBuffer[];
  readonly outLengths: Int32Array;
  out = 0;

  constructor(readonly size: number, headroom: number) {
    this.bufs = Array.from({ length: size }, () => new PacketBuffer(headroom));
    this.lengths = new Int32Array(size);
    this.outBufs = this.bufs.slice();
    this.outLengths = new Int32Array(size);
  }
}

/** A running tunnel between one TAP device and one peer. */
export class Tunnel {
  readonly #o: Required<TunnelOptions>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopping = false;
  /** True while the synchronous loop runs: it may have a poll() on the
   * socket pending on another thread (PollSet.park), so stop() leaves the
   * socket open and run() closes it once the loop has ended. */
  #syncLoopRuns = false;
  #error: unknown;
  #peer: Endpoint | undefined;
  #acceptedFrames: boolean;
  #kicked = false;
  #waiter: (() => void) | undefined;
  readonly #onSendFailure: (f: SendFailure) => void;
  readonly #onRefused: (errno: number) => void;

  /** A tunnel that starts moving frames when {@linkcode run} is called. */
  constructor(options: TunnelOptions) {
    this.#o = { batch: DEFAULT_BATCH, ...options };
    this.#peer = options.engine.peer;
    this.#acceptedFrames = options.engine.acceptsFrames;
    this.#onSendFailure = (f) => {
      this.#o.engine.stats.dropTxError++;
      this.#o.events.sendFailed(f);
    };
    this.#onRefused = (errno) => {
      this.#o.engine.stats.dropTapWrite++;
      this.#o.events.writeFailed(errno);
    };
  }

  /**
   * Runs until {@linkcode stop} is called or the device fails. Resolves on
   * stop; rejects with the device's error. Either way the device and the
   * socket are closed and the engine's keys erased before it settles.
   */
  async run(): Promise<void> {
    const guard = (p: Promise<void>) =>
      p.catch((e) => {
        this.#error ??= e;
        this.stop();
      });
    const sync = this.#o.transport.sync;
    const fd = this.#o.device.fd;
    try {
      if (sync !== undefined && fd !== undefined) {
        this.#syncLoopRuns = true;
        await guard(this.#syncLoop(sync, fd));
      } else {
        this.#onTimer();
        await Promise.all([guard(this.#inbound()), guard(this.#outbound())]);
      }
    } finally {
      this.stop();
      this.#o.transport.close();
      this.#o.device.close();
      this.#o.engine.close();
    }
    if (this.#error !== undefined) throw this.#error;
  }

  /** Asks the loops to end; {@linkcode run} then resolves. Idempotent. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    // The async loops need the socket closed to end a pending receive.
    if (!this.#syncLoopRuns) this.#o.transport.close();
    this.#kick();
  }

  /** Makes the outbound loop run its next iteration soon: ends its wait. */
  #kick(): void {
    this.#kicked = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
    this.#o.device.wake();
  }

  /** The outbound loop's wait: for the TAP device when frames are taken,
   * else only for a kick. */
  async #idle(): Promise<void> {
    if (!this.#kicked) {
      if (this.#o.engine.acceptsFrames) await this.#o.device.readable();
      else await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    this.#kicked = false;
  }

  async #outbound(): Promise<void> {
    const { transport, engine, batch } = this.#o;
    const b = new Batch(batch, engine.headroom);
    const control = [new PacketBuffer(engine.headroom)];
    const controlLength = new Int32Array(1);
    while (!this.#stopping) {
      while (engine.hasControl && !this.#stopping) {
        controlLength[0] = engine.nextControl(control[0], this.#o.clock());
        const to = engine.controlTo;
        if (controlLength[0] > 0 && to !== undefined) {
          await transport.send(control, controlLength, 1, to, this.#onSendFailure);
        }
      }
      let drained = true;
      if (engine.acceptsFrames) drained = this.#sealFrames(b, this.#o.clock()) < batch;
      const to = engine.peer;
      if (b.out > 0 && to !== undefined) {
        await transport.send(b.outBufs, b.outLengths, b.out, to, this.#onSendFailure);
      }
      if (this.#stopping) break;
      if (!drained) await yieldToEventLoop();
      else if (!engine.hasControl) await this.#idle();
    }
  }

  /** Both directions in one loop on the main thread (see the module doc). */
  async #syncLoop(socket: SyncTransport, deviceFd: number): Promise<void> {
    const { engine, batch, clock } = this.#o;
    const tx = new Batch(batch, engine.headroom);
    const rx = new Batch(this.#o.transport.batch, engine.headroom);
    const rxFrom: Endpoint[] = new Array(rx.size);
    const control = [new PacketBuffer(engine.headroom)];
    const controlLength = new Int32Array(1);
    const poll = new PollSet([deviceFd, socket.fd]);
    let nextTick = 0;
    // When the loop last came back from the event loop (yield or park), and
    // when it last parked the runtime, ns; busySince: when it last woke or
    // came back, so that only continuous work counts as load.
    let lastVisit = 0;
    let lastPark = 0;
    let busySince = 0;
    while (!this.#stopping) {
      const now = clock();
      if (now >= nextTick) nextTick = now + engine.tick(now) * 1e6;
      while (engine.hasControl) {
        controlLength[0] = engine.nextControl(control[0], now);
        const to = engine.controlTo;
        if (controlLength[0] > 0 && to !== undefined) {
          socket.sendNow(control, controlLength, 1, to, this.#onSendFailure);
        }
      }
      // TAP → UDP
      let read = 0;
      if (engine.acceptsFrames) {
        read = this.#sealFrames(tx, now);
        const to = engine.peer;
        if (tx.out > 0 && to !== undefined) {
          socket.sendNow(tx.outBufs, tx.outLengths, tx.out, to, this.#onSendFailure);
        }
      }
      // UDP → TAP
      let received = 0;
      try {
        received = socket.receiveNow(rx.bufs, rx.lengths, rxFrom);
      } catch (e) {
        engine.stats.rxErrors++;
        this.#o.events.receiveFailed(e);
        await pause(RECEIVE_ERROR_PAUSE_MS); // a socket error that repeats must not spin
        continue;
      }
      if (received > 0) this.#deliverFrames(rx, rxFrom, received, now);
      if (read === 0 && received === 0 && !engine.hasControl) {
        // Idle. Everything that came has been forwarded, so this is when an
        // event-loop visit delays no frame: one per millisecond at most,
        // and a park (Deno reads signals then) when none came for a while.
        const idleAt = clock();
        // The TAP is left out while the engine takes no frames (a server
        // that does not know its peer yet), or poll() would not block.
        poll.setFd(0, engine.acceptsFrames ? deviceFd : -1);
        if (idleAt - lastPark >= IDLE_POLL_MS * 1e6) {
          await poll.park(PARK_MS);
          lastPark = lastVisit = busySince = clock();
          continue; // something may have come meanwhile
        }
        if (idleAt - lastVisit >= YIELD_NS) {
          await yieldToEventLoop();
          lastVisit = clock();
          continue;
        }
        // Block until either fd is readable or the next timer is due.
        const wait = Math.ceil(Math.min(IDLE_POLL_MS, Math.max(0, (nextTick - idleAt) / 1e6)));
        if (wait > 0 && poll.wait(wait) <= 0) {
          // Nothing came (a timeout, or a signal): let Deno's runtime park
          // once, which is when it reads its own I/O, signals included.
          await poll.park(PARK_MS);
          lastPark = lastVisit = clock();
        }
        busySince = clock();
        continue; // a frame or a datagram is waiting: forward it at once
      }
      // Under continuous load, return to the event loop about once a
      // millisecond: often enough for signals and timers, rarely enough that
      // its promise is not per frame. A frame that just woke the loop is
      // forwarded first, and its answer too (the loop goes round again).
      if (now - busySince >= YIELD_NS) {
        await yieldToEventLoop();
        busySince = lastVisit = clock();
      }
    }
  }

  async #inbound(): Promise<void> {
    const { transport, engine } = this.#o;
    const b = new Batch(transport.batch, engine.headroom);
    const from: Endpoint[] = new Array(b.size);
    while (!this.#stopping) {
      let n: number;
      try {
        n = await transport.receive(b.bufs, b.lengths, from);
      } catch (e) {
        engine.stats.rxErrors++;
        this.#o.events.receiveFailed(e);
        await pause(RECEIVE_ERROR_PAUSE_MS); // a socket error that repeats must not spin
        continue;
      }
      if (n === 0) break;
      this.#deliverFrames(b, from, n, this.#o.clock());
      if (engine.hasControl || engine.acceptsFrames !== this.#acceptedFrames) this.#kick();
      this.#acceptedFrames = engine.acceptsFrames;
    }
  }

  /**
   * Reads up to a batch of frames from the TAP and seals each in place; the
   * datagrams to send are then `b.outBufs[0, b.out)`. Returns the number of
   * frames read (fewer than the batch: the TAP is drained).
   */
  #sealFrames(b: Batch, now: number): number {
    const engine = this.#o.engine;
    const n = this.#o.device.readFrames(b.bufs, b.lengths, b.size);
    let out = 0;
    for (let i = 0; i < n; i++) {
      const dlen = engine.seal(b.bufs[i], b.lengths[i], now);
      if (dlen === 0) continue; // dropped or kept for a session, counted
      b.outBufs[out] = b.bufs[i];
      b.outLengths[out++] = dlen;
    }
    b.out = out;
    return n;
  }

  /** Opens `n` received datagrams in place and writes their frames to the TAP. */
  #deliverFrames(b: Batch, from: Endpoint[], n: number, now: number): void {
    const { engine, device } = this.#o;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const frame = engine.open(b.bufs[i], b.lengths[i], from[i], now);
      if (frame < 0) continue;
      b.outBufs[k] = b.bufs[i];
      b.outLengths[k++] = frame;
      engine.stats.rxBytes += frame;
    }
    if (k > 0) engine.stats.rxFrames += device.writeFrames(b.outBufs, b.outLengths, k, this.#onRefused);
    this.#noticePeer();
  }

  #noticePeer(): void {
    const peer = this.#o.engine.peer;
    if (peer === this.#peer || peer === undefined) return;
    const first = this.#peer === undefined;
    this.#peer = peer;
    this.#o.events.peerChanged(peer, first);
  }

  #onTimer(): void {
    if (this.#stopping) return;
    const { engine } = this.#o;
    const wait = engine.tick(this.#o.clock());
    if (engine.hasControl || engine.acceptsFrames !== this.#acceptedFrames) this.#kick();
    this.#acceptedFrames = engine.acceptsFrames;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(1, Math.min(wait, 60_000)));
  }
}
