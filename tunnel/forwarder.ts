/**
 * Forwarding between one TAP device and one UDP socket through an
 * {@linkcode Engine} (the wire format), cut into synchronous steps that a
 * driver calls: run the timers, drain the engine's control datagrams, seal
 * an outbound batch, deliver an inbound batch. The steps never wait and
 * never send; the driver waits and sends (tunnel/poll_driver.ts,
 * tunnel/async_driver.ts).
 *
 * The default path (TAP + the FFI socket, the poll driver), one loop on
 * the main thread as the 2014 program's select() loop:
 *
 *   1. timers: when due, the engine's tick() runs (keepalives, rekeys,
 *      handshake retries); it says when it is due next.
 *   2. control: the engine's own datagrams (hello, keepalive, handshake
 *      messages, cookie replies, frames kept until a session was ready) go
 *      out one at a time, each to its own address.
 *   3. TAP → UDP, if the engine takes frames (a server takes none before it
 *      knows its peer; they stay queued in the kernel): frames are read
 *      with synchronous read() calls until the TAP is drained (EAGAIN) or
 *      a batch of 32 is full. With offloads (IFF_VNET_HDR) one read can return a TCP
 *      super-frame of up to 64 KiB: io/offload.ts's TsoSplitter cuts it
 *      into MSS-sized Ethernet frames with their own lengths, sequence
 *      numbers and checksums (and completes a partial checksum), so the
 *      wire carries plain frames. Each frame is sealed in place in its own
 *      buffer, and the batch goes to the peer in one sendmmsg; runs of
 *      equal-sized datagrams go as one UDP GSO message each (the kernel cuts
 *      them at the last moment). A datagram the kernel refuses is dropped,
 *      counted and reported (EMSGSIZE gets the right TAP MTU). The path's
 *      size (tunnel/path.ts) is read once per batch; a TCP SYN's MSS is
 *      lowered to fit it (core/mss.ts); a frame larger than the path takes
 *      is cut into IPv4 fragments, or answered with an ICMP error written
 *      back into the TAP, or (IPv6 up to 1280 bytes) kept and sent first
 *      thing in the next step with DF off, or dropped; all counted.
 *   4. UDP → TAP (SYNs clamped as in 3): one recvmmsg of up to 64 datagrams; with UDP GRO (on
 *      when the kernel allows it) up to 16 messages, in each of which the
 *      kernel may have joined a run of one flow's datagrams (up to 64 KiB),
 *      which the socket cuts back into datagrams. Each is opened in place
 *      (the engine drops and counts what is short, forged or replayed, and
 *      follows the peer's address: roaming); the frames go to the TAP in
 *      order. With offloads, io/offload.ts's Coalescer joins consecutive
 *      TCP segments of one flow (and equal UDP datagrams) into super-frames
 *      for the TAP, as the kernel's GRO would; everything else is written
 *      frame by frame.
 *   5. idle (nothing read, nothing received, no control): poll() on both
 *      fds, blocking the main thread until one is readable or the next
 *      timer is due (at most 50 ms); Deno's event loop (signals, the
 *      runner's timers) is visited only then (a park after 2 ms without
 *      traffic, tunnel/poll_driver.ts), or once a millisecond under
 *      continuous load, never between a frame and its answer.
 *
 * Every datagram leaves from the one loop (or, with the async driver, from
 * its outbound task), so they leave in the order they were sealed: the
 * legacy format's strictly-increasing replay rule depends on it.
 *
 * Nothing on this path allocates per frame: buffers, batches and views are
 * made once from the tunnel's arena, and counters are typed-array slots.
 *
 * @module
 */

import type { Arena } from "../core/arena.ts";
import type { Engine } from "../core/engine.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { Stats } from "../core/stats.ts";
import type { FrameDevice } from "../io/tap.ts";
import type { SendFailure } from "../io/transport.ts";
import { clampMss } from "../core/mss.ts";
import { maxDatagram, pathChanged, PathFit } from "./path.ts";

/** Frames read from the TAP device per batch. */
export const DEFAULT_BATCH = 32;

/** How long a driver waits after a receive call failed, ms: a socket error
 * that repeats must not spin. */
export const RECEIVE_ERROR_PAUSE_MS = 10;

/** The longest the engine's timers are left alone, ms, whatever tick()
 * asks. */
const MAX_TIMER_MS = 60_000;

/** What forwarding reports; the runner turns these into log lines. */
export interface TunnelEvents {
  /** The peer answered for the first time (`first`: its address, for a
   * server the one it learnt), or it moved (roaming). */
  peerChanged(peer: Endpoint, first: boolean): void;
  /** The socket refused a datagram; it was dropped. */
  sendFailed(failure: SendFailure): void;
  /** The TAP device refused a frame (errno); it was dropped. */
  writeFailed(errno: number): void;
  /** A receive call failed; forwarding carries on. */
  receiveFailed(error: unknown): void;
  /** The engine's `maxDatagram` (path MTU probes) changed; seen when the
   * timers run. */
  maxDatagramChanged?(maxDatagram: number | undefined): void;
  /** The path's size became known (`first`) or changed: path MTU and the
   * largest frame that fits, bytes. */
  pathChanged?(pathMtu: number, maxFrame: number, first: boolean): void;
}

/** Preallocated buffers for one direction: `bufs` are read or received
 * into; `outBufs[0, out)` are the ones that go on (sealed, or opened). */
export class Batch {
  /** The buffers, one per datagram of the batch. */
  readonly bufs: PacketBuffer[];
  /** `lengths[i]`: bytes in `bufs[i]` (frame or datagram). */
  readonly lengths: Int32Array;
  /** The buffers that go on, `[0, out)`: read buffers, and fragment
   * buffers (`extra` of them at most). */
  readonly outBufs: PacketBuffer[];
  /** Their lengths. */
  readonly outLengths: Int32Array;
  /** How many go on. */
  out = 0;

  /** `size` buffers with `headroom` and `reserve` (see PacketBuffer), and
   * room for `extra` more that go on. */
  constructor(readonly size: number, headroom: number, reserve: number, arena?: Arena, extra = 0) {
    this.bufs = Array.from({ length: size }, () => new PacketBuffer(headroom, { arena, reserve }));
    this.lengths = new Int32Array(size);
    this.outBufs = this.bufs.concat(this.bufs.slice(0, Math.min(extra, size)));
    while (this.outBufs.length < size + extra) this.outBufs.push(this.bufs[0]);
    this.outLengths = new Int32Array(size + extra);
  }
}

/** What a {@linkcode Forwarder} works on. */
export interface ForwarderOptions {
  /** The TAP device (not owned: the driver's owner closes it). */
  readonly device: FrameDevice;
  /** The wire format's state (not owned). */
  readonly engine: Engine;
  /** The tunnel's counters; default the engine's. */
  readonly stats?: Stats;
  /** Where reports go. */
  readonly events: TunnelEvents;
  /** Frames per outbound batch; default {@linkcode DEFAULT_BATCH}. */
  readonly batch?: number;
  /** Datagrams per inbound batch: the socket's batch. */
  readonly rxBatch: number;
  /** The tunnel's buffer arena; default: buffers of their own. */
  readonly arena?: Arena;
  /** Bytes the device needs in front of a frame (its header); default 0. */
  readonly reserve?: number;
  /** The path MTU to assume while the engine knows none (`--path-mtu`, or
   * the underlay interface's MTU), bytes, asked once per outbound batch;
   * undefined: unknown (nothing is cut, clamped or refused for size). See
   * tunnel/path.ts. */
  readonly pathMtu?: () => number | undefined;
  /** The underlay's address family (for the IP/UDP header size); default 4. */
  readonly family?: 4 | 6;
  /** Lower the MSS of TCP SYNs both ways to fit the path; default true. */
  readonly clampMss?: boolean;
  /** Sends the sealed datagram `buf.bytes[0, length)` to `to` at once, with
   * DF off (the kernel may fragment it): for IPv6 frames of at most 1280
   * bytes over a path too small for them (tunnel/path.ts). The one send a
   * step makes, at the start of {@linkcode Forwarder.sealBatch}, after the
   * driver sent the batch before. Absent: such frames are dropped. */
  readonly sendFragmentable?: (buf: PacketBuffer, length: number, to: Endpoint) => void;
}

/**
 * The synchronous steps of forwarding, over preallocated batches. One
 * driver calls them, one step at a time; no step waits, sends or
 * allocates. `now` is CLOCK_MONOTONIC in ns, as the engine takes it.
 */
export class Forwarder {
  /** The outbound batch: frames read and sealed by {@linkcode sealBatch}. */
  readonly tx: Batch;
  /** The inbound batch: the driver receives into `rx.bufs`/`rx.lengths`,
   * sources in {@linkcode rxFrom}, then calls {@linkcode deliver}. */
  readonly rx: Batch;
  /** Sources of the datagrams in `rx`. */
  readonly rxFrom: Endpoint[];
  /** The control datagram {@linkcode nextControl} wrote: `control[0]`, of
   * `controlLength[0]` bytes, to {@linkcode controlTo}. */
  readonly control: PacketBuffer[];
  /** See {@linkcode control}. */
  readonly controlLength: Int32Array = new Int32Array(1);
  /** Destination of the control datagram. */
  controlTo: Endpoint | undefined;
  /** The tunnel's counters. */
  readonly stats: Stats;
  /** For the socket's send calls: counts and reports a refused datagram. */
  readonly onSendFailure: (f: SendFailure) => void;
  readonly #o: ForwarderOptions;
  readonly #onRefused: (errno: number, bytes: number) => void;
  #refusedBytes = 0;
  #nextTimerAt = 0;
  #peer: Endpoint | undefined;
  #heard = false;
  #acceptedFrames: boolean;
  readonly #fit: PathFit;
  readonly #clamp: boolean;
  /** The largest frame that fits, bytes (Infinity: unknown); set per batch. */
  #limit = Infinity;
  #maxDatagram: number | undefined;
  /** The engine's own `maxDatagram` as last reported (probes). */
  #probed: number | undefined;

  /** Batches and buffers for `o`, made once. */
  constructor(o: ForwarderOptions) {
    this.#o = o;
    const { engine, arena } = o;
    const reserve = o.reserve ?? 0;
    this.stats = o.stats ?? engine.stats;
    const batch = o.batch ?? DEFAULT_BATCH;
    this.#fit = new PathFit(
      o.device,
      this.stats,
      batch,
      engine.headroom,
      reserve,
      o.sendFragmentable !== undefined,
    );
    this.#clamp = o.clampMss ?? true;
    this.tx = new Batch(batch, engine.headroom, reserve, arena, this.#fit.spares.length);
    this.#updatePath();
    this.rx = new Batch(o.rxBatch, engine.headroom, reserve, arena);
    this.rxFrom = new Array(o.rxBatch);
    this.control = [new PacketBuffer(engine.headroom, { arena, reserve })];
    this.#acceptedFrames = engine.acceptsFrames;
    this.onSendFailure = (f) => {
      this.stats.dropTxError++;
      o.events.sendFailed(f);
    };
    this.#onRefused = (errno, bytes) => {
      this.#refusedBytes += bytes;
      o.events.writeFailed(errno);
    };
  }

  /** The engine. */
  get engine(): Engine {
    return this.#o.engine;
  }

  /** When the timers are due next, ns. */
  get nextTimerAt(): number {
    return this.#nextTimerAt;
  }

  /**
   * Runs the engine's timers if they are due at `now`. Returns true when
   * the outbound side has new work since the last call of this or
   * {@linkcode deliver}: control to send, or frames taken that were not
   * (or no longer). The one way timers run, for both drivers.
   */
  runTimers(now: number): boolean {
    if (now >= this.#nextTimerAt) {
      const ms = this.#o.engine.tick(now);
      this.#nextTimerAt = now + Math.max(1, Math.min(ms, MAX_TIMER_MS)) * 1e6;
      // path MTU probes (core/pmtud.ts): report a new size
      const max = this.#o.engine.maxDatagram;
      if (max !== this.#probed) this.#o.events.maxDatagramChanged?.(this.#probed = max);
    }
    return this.#outboundChanged();
  }

  /**
   * Writes the engine's next control datagram into {@linkcode control}.
   * Returns false when none is left. The driver sends each before asking
   * for the next: they share one buffer.
   */
  nextControl(now: number): boolean {
    const engine = this.#o.engine;
    while (engine.hasControl) {
      const n = engine.nextControl(this.control[0], now);
      const to = engine.controlTo;
      if (n > 0 && to !== undefined) {
        this.controlLength[0] = n;
        this.controlTo = to;
        return true;
      }
    }
    return false;
  }

  /**
   * If the engine takes frames, reads up to a batch from the TAP and seals
   * each in place; the datagrams to send to {@linkcode txTo} are then
   * `tx.outBufs[0, tx.out)`. Returns the frames read: fewer than the batch
   * means the TAP is drained. Throws when the device fails.
   */
  sealBatch(now: number): number {
    const { engine, device } = this.#o;
    const b = this.tx;
    b.out = 0;
    if (!engine.acceptsFrames) return 0;
    if (this.#fit.deferredCount > 0) this.#fit.sendDeferred(engine, this.#o.sendFragmentable!, now);
    const n = device.readFrames(b.bufs, b.lengths, b.size);
    const limit = this.#updatePath();
    const fit = this.#fit;
    fit.reset();
    let out = 0;
    for (let i = 0; i < n; i++) {
      const buf = b.bufs[i];
      const length = b.lengths[i];
      if (this.#clamp && clampMss(buf.view, buf.payloadAt, length, limit) !== 0) this.stats.mssClamped++;
      if (length > limit) {
        out = fit.sealOversized(engine, buf, length, limit, now, b.outBufs, b.outLengths, out);
        continue;
      }
      const dlen = engine.seal(buf, length, now);
      if (dlen === 0) continue; // dropped or kept for a session, counted
      b.outBufs[out] = buf;
      b.outLengths[out++] = dlen;
    }
    b.out = engine.peer === undefined ? 0 : out;
    // Frames kept for the next step: the driver must not wait meanwhile.
    return fit.deferredCount > 0 ? Math.max(n, 1) : n;
  }

  /** Where the sealed batch goes: the engine's peer. */
  get txTo(): Endpoint {
    return this.#o.engine.peer!;
  }

  /**
   * Opens the `n` datagrams received into `rx` in place and writes their
   * frames to the TAP. Counts rxFrames and rxBytes for what the TAP took
   * and dropTapWrite for what it refused. Returns true when the outbound
   * side has new work (see {@linkcode runTimers}).
   */
  deliver(n: number, now: number): boolean {
    const { engine, device } = this.#o;
    const b = this.rx;
    const stats = this.stats;
    let k = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const frame = engine.open(b.bufs[i], b.lengths[i], this.rxFrom[i], now);
      if (frame < 0) continue;
      const buf = b.bufs[i];
      if (this.#clamp && clampMss(buf.view, buf.payloadAt, frame, this.#limit) !== 0) this.stats.mssClamped++;
      b.outBufs[k] = b.bufs[i];
      b.outLengths[k++] = frame;
      bytes += frame;
    }
    if (k > 0) {
      this.#refusedBytes = 0;
      const written = device.writeFrames(b.outBufs, b.outLengths, k, this.#onRefused);
      stats.rxFrames += written;
      stats.dropTapWrite += k - written;
      stats.rxBytes += bytes - this.#refusedBytes;
    }
    this.#noticePeer();
    return this.#outboundChanged();
  }

  /** The path as the last batch saw it (tunnel/path.ts): the largest UDP
   * payload known to cross it (undefined: unknown), and whether IPv6 frames
   * of at most 1280 bytes met a path too small for them. For status. */
  get path(): { maxDatagram: number | undefined; ipv6BelowMinimum: boolean } {
    return { maxDatagram: this.#maxDatagram, ipv6BelowMinimum: this.#fit.ipv6BelowMinimum };
  }

  /** Reads the path's size (the engine's, else the configured one); on a
   * change, caps the TAP's TSO cuts and reports it (tunnel/path.ts). Once
   * per batch: a property read and a compare when nothing changed. */
  #updatePath(): number {
    const o = this.#o;
    const d = maxDatagram(o.engine, o.pathMtu?.(), o.family ?? 4);
    if (d !== this.#maxDatagram || this.#limit === Infinity) {
      this.#maxDatagram = d;
      this.#limit = pathChanged(o.engine, o.device, o.events, d, o.family ?? 4, this.#limit === Infinity);
    }
    return this.#limit;
  }

  /** Counts and reports a failed receive call; resolves after the pause a
   * driver must take before the next one. */
  receiveFailed(error: unknown): Promise<void> {
    this.stats.rxErrors++;
    this.#o.events.receiveFailed(error);
    return new Promise((resolve) => setTimeout(resolve, RECEIVE_ERROR_PAUSE_MS));
  }

  #outboundChanged(): boolean {
    const engine = this.#o.engine;
    const changed = engine.acceptsFrames !== this.#acceptedFrames;
    this.#acceptedFrames = engine.acceptsFrames;
    return changed || engine.hasControl;
  }

  /** Reports the peer once it has answered (an authenticated datagram was
   * counted), then every move. */
  #noticePeer(): void {
    const peer = this.#o.engine.peer;
    if (peer === undefined || peer === this.#peer) return;
    if (!this.#heard) {
      const s = this.stats;
      if (s.rxFrames + s.rxKeepalives + s.hsInitRecv + s.hsRespRecv + s.dropTapWrite === 0) return;
      this.#heard = true;
    }
    const first = this.#peer === undefined;
    this.#peer = peer;
    this.#o.events.peerChanged(peer, first);
  }
}
