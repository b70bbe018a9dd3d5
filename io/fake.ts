/**
 * In-memory stand-ins for the TAP device and the UDP socket, so both
 * drivers of the tunnel run in tests without root: a {@linkcode FakeDevice}
 * whose frames the test injects and collects, a {@linkcode FakeNetwork}
 * that delivers datagrams between {@linkcode FakeTransport}s by address and
 * lets the test inject, capture, drop or replay them, and a
 * {@linkcode FakeWaiter}, the poll driver's fd-less waiting.
 *
 * A FakeTransport has both sides: the async one (receive, send) and the
 * synchronous one (receiveNow, sendNow) the poll driver uses.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { PacketBuffer } from "../core/packet.ts";
import type { FrameDevice } from "./tap.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, SyncTransport, Transport } from "./transport.ts";
import type { Waiter } from "./wait.ts";

/** A FrameDevice backed by two queues. */
export class FakeDevice implements FrameDevice {
  readonly name: string;
  /** Frames the tunnel will read, oldest first. */
  readonly toTunnel: Uint8Array[] = [];
  /** Frames the tunnel wrote, oldest first. */
  readonly written: Uint8Array[] = [];
  /** errno to return from write() instead of accepting, or 0. */
  writeErrno = 0;
  #wake: (() => void) | undefined;
  #closed = false;
  #writeWaiters: (() => void)[] = [];
  /** Called when a frame is injected (a FakeWaiter's park listens). */
  onInput: () => void = () => {};

  /** A device named `name`, with empty queues. */
  constructor(name = "fake0") {
    this.name = name;
  }

  /** Queues a frame for the tunnel to read, and wakes it. */
  inject(frame: Uint8Array): void {
    this.toTunnel.push(frame);
    this.wake();
    this.onInput();
  }

  /** Resolves once at least `count` frames have been written. */
  async waitWritten(count: number): Promise<void> {
    while (this.written.length < count) {
      await new Promise<void>((r) => this.#writeWaiters.push(r));
    }
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  readFrames(bufs: PacketBuffer[], lengths: Int32Array, max: number): number {
    if (this.#closed) throw new Error("read on closed FakeDevice");
    let n = 0;
    while (n < max) {
      const frame = this.toTunnel.shift();
      if (frame === undefined) break;
      bufs[n].payload.set(frame);
      lengths[n++] = frame.length;
    }
    return n;
  }

  writeFrames(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    onRefused: (errno: number, bytes: number) => void,
  ): number {
    if (this.#closed) throw new Error("write on closed FakeDevice");
    let written = 0;
    for (let i = 0; i < count; i++) {
      if (this.writeErrno !== 0) {
        onRefused(this.writeErrno, lengths[i]);
        continue;
      }
      this.written.push(bufs[i].payload.slice(0, lengths[i]));
      written++;
    }
    for (const w of this.#writeWaiters.splice(0)) w();
    return written;
  }

  readable(): Promise<void> {
    if (this.#closed || this.toTunnel.length > 0) return Promise.resolve();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  wake(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  close(): void {
    this.#closed = true;
    this.wake();
  }
}

/** A datagram seen by the {@linkcode FakeNetwork}. */
export interface FakeDatagram {
  /** Source address. */
  readonly from: Endpoint;
  /** Destination address. */
  readonly to: Endpoint;
  /** The UDP payload (a copy). */
  readonly bytes: Uint8Array;
}

function key(e: Endpoint): string {
  return `${e.hostname}|${e.port}`;
}

/** Delivers datagrams between FakeTransports bound on it. */
export class FakeNetwork {
  readonly #bound = new Map<string, FakeTransport>();
  /** Every datagram sent, in order (a capture). */
  readonly sent: FakeDatagram[] = [];
  /** Return false to drop a datagram in flight. */
  filter: (d: FakeDatagram) => boolean = () => true;
  /** Datagrams sent to an address nobody is bound to. */
  lost = 0;

  /** Binds a transport at `local`. */
  bind(local: Endpoint): FakeTransport {
    const t = new FakeTransport(this, local);
    this.#bound.set(key(local), t);
    return t;
  }

  /** Moves a transport to another address (a client that roams). */
  rebind(t: FakeTransport, local: Endpoint): void {
    this.#bound.delete(key(t.local));
    t.local = local;
    this.#bound.set(key(local), t);
  }

  /** Delivers `bytes` as if sent from `from` to `to` (copied). */
  inject(from: Endpoint, to: Endpoint, bytes: Uint8Array): void {
    const d = { from, to, bytes: bytes.slice() };
    this.sent.push(d);
    if (!this.filter(d)) return;
    const t = this.#bound.get(key(to));
    if (t === undefined) this.lost++;
    else t.deliver(d);
  }

  /** @internal */
  unbind(t: FakeTransport): void {
    if (this.#bound.get(key(t.local)) === t) this.#bound.delete(key(t.local));
  }
}

/** A Transport on a {@linkcode FakeNetwork}, with a synchronous side. */
export class FakeTransport implements Transport, SyncTransport {
  local: Endpoint;
  readonly batch = 4;
  /** No fd: the poll driver needs a {@linkcode FakeWaiter} with it. */
  readonly fd: number = -1;
  /** Called when a datagram arrives (a FakeWaiter's park listens). */
  onInput: () => void = () => {};
  readonly #net: FakeNetwork;
  readonly #queue: FakeDatagram[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;
  /** Send failures to report instead of sending, keyed by nothing: the next
   * sends fail with this code while it is set. */
  failWith: string | undefined;
  #receiveError: Error | undefined;

  /** Makes receive calls throw `error` (a socket error) until called with
   * undefined; a pending receive throws at once. */
  failReceive(error: Error | undefined): void {
    this.#receiveError = error;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Use {@linkcode FakeNetwork.bind} rather than this. */
  constructor(net: FakeNetwork, local: Endpoint) {
    this.#net = net;
    this.local = local;
  }

  /** @internal */
  deliver(d: FakeDatagram): void {
    if (this.#closed) return;
    this.#queue.push(d);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
    this.onInput();
  }

  /** Datagrams queued for the tunnel. */
  get queued(): number {
    return this.#closed ? 0 : this.#queue.length;
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  get sync(): SyncTransport {
    return this;
  }

  async receive(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): Promise<number> {
    for (;;) {
      if (this.#receiveError !== undefined) throw this.#receiveError;
      if (this.#queue.length > 0 || this.#closed) break;
      await new Promise<void>((r) => (this.#waiter = r));
    }
    return this.receiveNow(bufs, lengths, from);
  }

  receiveNow(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): number {
    if (this.#receiveError !== undefined) throw this.#receiveError;
    if (this.#closed) return 0;
    let n = 0;
    while (n < bufs.length && this.#queue.length > 0) {
      const d = this.#queue.shift()!;
      const len = Math.min(d.bytes.length, bufs[n].bytes.length);
      bufs[n].bytes.set(d.bytes.subarray(0, len));
      lengths[n] = len;
      from[n] = d.from;
      n++;
    }
    return n;
  }

  send(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (f: SendFailure) => void,
  ): Promise<void> {
    this.sendNow(bufs, lengths, count, to, onFailure);
    // Resolve on a later turn of the event loop, as a real socket does.
    return new Promise((resolve) => setImmediate(resolve));
  }

  sendNow(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (f: SendFailure) => void,
  ): void {
    for (let i = 0; i < count && !this.#closed; i++) {
      if (this.failWith !== undefined) {
        onFailure({ code: this.failWith, length: lengths[i], to, message: this.failWith });
        continue;
      }
      this.#net.inject(this.local, to, bufs[i].bytes.subarray(0, lengths[i]));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#net.unbind(this);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

/** What a {@linkcode FakeWaiter} was asked, in order, for tests of the poll
 * driver: `wait` (blocking) or `park`, with the timeout in ms. */
export interface WaitCall {
  /** Which call. */
  readonly kind: "wait" | "park";
  /** Its timeout, ms. */
  readonly ms: number;
  /** Whether the device was watched. */
  readonly device: boolean;
  /** How many entries it found ready when it returned. */
  ready: number;
}

/**
 * The poll driver's waiting over a FakeDevice and a FakeTransport, without
 * fds. `wait` never blocks the thread (two fake tunnels share it): it
 * returns what is ready, or 0 as if its timeout had passed, and then calls
 * `advance(ms)` (a fake clock moves on). `park` waits on the event loop for
 * input or its timeout (real time), then, when nothing came, calls
 * `advance(ms)` too. Every call is recorded in {@linkcode calls} (the
 * newest {@linkcode CALLS_KEPT}).
 */
export class FakeWaiter implements Waiter {
  /** The calls, oldest first. */
  readonly calls: WaitCall[] = [];
  #device = true;
  readonly #advance: (ms: number) => void;
  #parked: (() => void) | undefined;

  /** A waiter on `device` (entry 0) and `transport` (entry 1). */
  constructor(
    readonly device: FakeDevice,
    readonly transport: FakeTransport,
    advance: (ms: number) => void = () => {},
  ) {
    this.#advance = advance;
    const wake = () => {
      const p = this.#parked;
      this.#parked = undefined;
      p?.();
    };
    device.onInput = wake;
    transport.onInput = wake;
  }

  watchDevice(on: boolean): void {
    this.#device = on;
  }

  /** Entries ready now. */
  get ready(): number {
    const d = this.#device && this.device.toTunnel.length > 0 ? 1 : 0;
    return d + (this.transport.queued > 0 ? 1 : 0);
  }

  wait(timeoutMs: number): number {
    const ready = this.ready;
    this.#record("wait", timeoutMs, ready);
    if (ready === 0) this.#advance(timeoutMs);
    return ready;
  }

  async park(timeoutMs: number): Promise<number> {
    let ready = this.ready;
    const call = this.#record("park", timeoutMs, ready);
    if (ready > 0) return ready;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#parked = resolve;
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.#parked = undefined;
    ready = this.ready;
    call.ready = ready;
    if (ready === 0) this.#advance(timeoutMs);
    return ready;
  }

  #record(kind: "wait" | "park", ms: number, ready: number): WaitCall {
    const call = { kind, ms, device: this.#device, ready };
    this.calls.push(call);
    if (this.calls.length > CALLS_KEPT) this.calls.splice(0, this.calls.length - CALLS_KEPT);
    return call;
  }
}

/** How many calls a {@linkcode FakeWaiter} keeps. */
export const CALLS_KEPT = 10_000;
