/**
 * In-memory stand-ins for the TAP device and the UDP socket, so the packet
 * loop runs in tests without root: a {@linkcode FakeDevice} whose frames the
 * test injects and collects, and a {@linkcode FakeNetwork} that delivers
 * datagrams between {@linkcode FakeTransport}s by address, and lets the test
 * inject, capture, drop or replay them.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { PacketBuffer } from "../core/packet.ts";
import type { FrameDevice } from "./tap.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, Transport } from "./transport.ts";

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

  /** A device named `name`, with empty queues. */
  constructor(name = "fake0") {
    this.name = name;
  }

  /** Queues a frame for the tunnel to read, and wakes it. */
  inject(frame: Uint8Array): void {
    this.toTunnel.push(frame);
    this.wake();
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
    onRefused: (errno: number) => void,
  ): number {
    if (this.#closed) throw new Error("write on closed FakeDevice");
    let written = 0;
    for (let i = 0; i < count; i++) {
      if (this.writeErrno !== 0) {
        onRefused(this.writeErrno);
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

/** A Transport on a {@linkcode FakeNetwork}. */
export class FakeTransport implements Transport {
  local: Endpoint;
  readonly batch = 4;
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
  }

  async receive(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): Promise<number> {
    for (;;) {
      if (this.#receiveError !== undefined) throw this.#receiveError;
      if (this.#queue.length > 0 || this.#closed) break;
      await new Promise<void>((r) => (this.#waiter = r));
    }
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
    for (let i = 0; i < count && !this.#closed; i++) {
      if (this.failWith !== undefined) {
        onFailure({ code: this.failWith, length: lengths[i], to, message: this.failWith });
        continue;
      }
      this.#net.inject(this.local, to, bufs[i].bytes.subarray(0, lengths[i]));
    }
    // Resolve on a later turn of the event loop, as a real socket does.
    return new Promise((resolve) => setImmediate(resolve));
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
