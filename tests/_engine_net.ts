/**
 * A fake clock and a fake network for the current format's engine tests:
 * sides (an engine at an address, and what it delivered to its "TAP"), a
 * network that can drop, hold, copy and replay datagrams, and a driver that
 * runs the timers as the packet loop does.
 */

import { strict as assert } from "node:assert";
import { CurrentEngine, type CurrentEngineOptions, type Timers } from "../core/current_engine.ts";
import { DATA } from "../core/current_wire.ts";
import { generateKeyPair, type KeyPair } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { Endpoint } from "../core/endpoint.ts";

export const MS = 1e6;
export const S = 1e9;

/** A fake clock shared by all sides of a test. */
export class Clock {
  now = 1000 * S;
  wall = Date.UTC(2026, 10, 24);
  advance(ms: number): void {
    this.now += ms * MS;
    this.wall += ms;
  }
}

export interface Wire {
  from: Endpoint;
  to: Endpoint;
  bytes: Uint8Array;
}

/** One side: an engine at an address, and what it delivered to its "TAP". */
export class Side {
  engine: CurrentEngine;
  readonly delivered: Uint8Array[] = [];
  constructor(
    readonly name: string,
    public addr: Endpoint,
    readonly keys: KeyPair,
    readonly peerKeys: KeyPair,
    readonly clock: Clock,
    readonly peerAddr: Endpoint | undefined,
    readonly extra: Partial<CurrentEngineOptions> = {},
  ) {
    this.engine = this.make();
  }
  make(): CurrentEngine {
    return new CurrentEngine({
      secretKey: this.keys.secretKey,
      peerPublic: this.peerKeys.publicKey,
      peer: this.peerAddr,
      now: this.clock.now,
      wallClock: () => this.clock.wall,
      random: () => 0.5,
      ...this.extra,
    });
  }
  /** A restart: a new engine, all state lost. */
  restart(): void {
    this.engine.close();
    this.engine = this.make();
  }
  get stats() {
    return this.engine.stats;
  }
}

/** Moves datagrams between sides; tests can drop, hold or copy them. */
export class Net {
  readonly sides: Side[] = [];
  readonly log: Wire[] = [];
  readonly held: Wire[] = [];
  /** Return "drop", "hold" (deliver later with release()) or "pass". */
  policy: (w: Wire) => "drop" | "hold" | "pass" = () => "pass";
  readonly buf = new PacketBuffer(DATA.HEADER);

  constructor(readonly clock: Clock) {}

  add(side: Side): Side {
    this.sides.push(side);
    return side;
  }

  #sideAt(e: Endpoint): Side | undefined {
    return this.sides.find((s) => s.addr.hostname === e.hostname && s.addr.port === e.port);
  }

  /** Hands `bytes` to the side at `to` as if it came from `from`. */
  deliver(w: Wire): void {
    const side = this.#sideAt(w.to);
    if (side === undefined) return;
    const buf = this.buf;
    buf.bytes.set(w.bytes);
    const n = side.engine.open(buf, w.bytes.length, w.from, this.clock.now);
    if (n >= 0) side.delivered.push(buf.payload.slice(0, n));
  }

  #send(w: Wire): void {
    this.log.push(w);
    const p = this.policy(w);
    if (p === "hold") this.held.push(w);
    else if (p === "pass") this.deliver(w);
  }

  /** Sends every control datagram the sides want to send, until quiet. */
  flush(): void {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const side of this.sides) {
        while (side.engine.hasControl) {
          const n = side.engine.nextControl(this.buf, this.clock.now);
          if (n === 0) continue;
          any = true;
          this.#send({ from: side.addr, to: side.engine.controlTo!, bytes: this.buf.bytes.slice(0, n) });
        }
      }
      if (!any) return;
    }
    throw new Error("control datagrams never stop");
  }

  /** Sends a frame from `side` through its engine; returns whether it went out now. */
  frame(side: Side, frame: Uint8Array): boolean {
    const buf = new PacketBuffer(DATA.HEADER);
    buf.payload.set(frame);
    const n = side.engine.seal(buf, frame.length, this.clock.now);
    if (n > 0) this.#send({ from: side.addr, to: side.engine.peer!, bytes: buf.bytes.slice(0, n) });
    this.flush();
    return n > 0;
  }

  /** Advances time and runs every side's timers. */
  tick(ms: number, step = 100): void {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t));
      for (const s of this.sides) s.engine.tick(this.clock.now);
      this.flush();
    }
  }

  release(): void {
    for (const w of this.held.splice(0)) this.deliver(w);
    this.flush();
  }
}

export const A_ADDR = { hostname: "198.18.7.1", port: 40000 };
export const B_ADDR = { hostname: "198.18.7.2", port: 1011 };
export const KA = generateKeyPair();
export const KB = generateKeyPair();

export function pair(
  timers: Partial<Timers> = {},
  extraA: Partial<CurrentEngineOptions> = {},
  extraB: Partial<CurrentEngineOptions> = {},
) {
  const clock = new Clock();
  const net = new Net(clock);
  const b = net.add(new Side("b", B_ADDR, KB, KA, clock, undefined, { timers, ...extraB }));
  const a = net.add(new Side("a", A_ADDR, KA, KB, clock, B_ADDR, { timers, ...extraA }));
  return { clock, net, a, b };
}

export function frame(n: number, size = 200): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i + n * 7) & 0xff);
}

/** Both directions carry frames. */
export function assertFlows(net: Net, a: Side, b: Side, tag = 0): void {
  const na = b.delivered.length;
  const nb = a.delivered.length;
  net.frame(a, frame(tag + 1));
  net.frame(b, frame(tag + 2));
  assert.deepEqual(b.delivered.slice(na), [frame(tag + 1)], "a → b");
  assert.deepEqual(a.delivered.slice(nb), [frame(tag + 2)], "b → a");
}

/** Two key pairs, the first of which has the public key that sorts higher
 * (bytewise): the one the old tie-break let win. */
export function orderedKeys(): [KeyPair, KeyPair] {
  const x = generateKeyPair();
  const y = generateKeyPair();
  for (let i = 0; i < 32; i++) {
    if (x.publicKey[i] !== y.publicKey[i]) return x.publicKey[i] > y.publicKey[i] ? [x, y] : [y, x];
  }
  return orderedKeys();
}

/**
 * Runs the sides as the packet loop does for `ms` of fake time: each side's
 * tick() runs exactly when its last return value says (not on a fixed step),
 * and `onStep` (if given) runs every `step` ms to inject traffic.
 */
export function runLikeLoop(net: Net, ms: number, onStep?: (t: number) => void, step = 1): void {
  const due = new Map<Side, number>();
  for (const side of net.sides) due.set(side, net.clock.now + side.engine.tick(net.clock.now) * MS);
  net.flush();
  for (let t = 0; t < ms; t += step) {
    net.clock.advance(step);
    onStep?.(t);
    for (const side of net.sides) {
      if (net.clock.now >= due.get(side)!) {
        due.set(side, net.clock.now + side.engine.tick(net.clock.now) * MS);
      }
    }
    net.flush();
  }
}
