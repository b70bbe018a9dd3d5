/**
 * The current format's engine, driven directly with a fake clock and a fake
 * network: handshakes with lost, duplicated, reordered and replayed
 * messages, rekeying under traffic, reflection, simultaneous initiation,
 * expiry, cookies under load, peers with wrong keys, keepalives, restarts.
 */

import { strict as assert } from "node:assert";
import { CurrentEngine, type CurrentEngineOptions, type Timers } from "../core/current_engine.ts";
import { DATA, mac1Key, RESP, Type, writeMac } from "../core/current_wire.ts";
import { generateKeyPair, type KeyPair } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { Endpoint } from "../core/endpoint.ts";

const MS = 1e6;
const S = 1e9;

/** A fake clock shared by all sides of a test. */
class Clock {
  now = 1000 * S;
  wall = Date.UTC(2026, 10, 24);
  advance(ms: number): void {
    this.now += ms * MS;
    this.wall += ms;
  }
}

interface Wire {
  from: Endpoint;
  to: Endpoint;
  bytes: Uint8Array;
}

/** One side: an engine at an address, and what it delivered to its "TAP". */
class Side {
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
class Net {
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

const A_ADDR = { hostname: "198.18.7.1", port: 40000 };
const B_ADDR = { hostname: "198.18.7.2", port: 1011 };
const KA = generateKeyPair();
const KB = generateKeyPair();

function pair(timers: Partial<Timers> = {}, extraA: Partial<CurrentEngineOptions> = {}) {
  const clock = new Clock();
  const net = new Net(clock);
  const b = net.add(new Side("b", B_ADDR, KB, KA, clock, undefined, { timers }));
  const a = net.add(new Side("a", A_ADDR, KA, KB, clock, B_ADDR, { timers, ...extraA }));
  return { clock, net, a, b };
}

function frame(n: number, size = 200): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i + n * 7) & 0xff);
}

/** Both directions carry frames. */
function assertFlows(net: Net, a: Side, b: Side, tag = 0): void {
  const na = b.delivered.length;
  const nb = a.delivered.length;
  net.frame(a, frame(tag + 1));
  net.frame(b, frame(tag + 2));
  assert.deepEqual(b.delivered.slice(na), [frame(tag + 1)], "a → b");
  assert.deepEqual(a.delivered.slice(nb), [frame(tag + 2)], "b → a");
}

Deno.test("current: the connect side initiates at once; one round trip, then frames both ways", () => {
  const { net, a, b } = pair();
  net.flush();
  assert.equal(a.stats.hsInitSent, 1);
  assert.equal(b.stats.hsInitRecv, 1);
  assert.equal(a.stats.handshakes, 1);
  assert.ok(a.engine.established && b.engine.established, "the initiator's keepalive confirms the session");
  assert.deepEqual(b.engine.peer, A_ADDR, "the listener learned the peer from the initiation");
  assertFlows(net, a, b);
  const data = net.log.filter((w) => w.bytes[0] === Type.Data && w.bytes.length > DATA.OVERHEAD);
  assert.equal(data[0].bytes.length, 200 + 24, "24 bytes of overhead per frame");
  assert.equal(net.log[0].bytes.length, 144);
  assert.equal(net.log[1].bytes.length, 84);
});

Deno.test("current: frames sent before the session exists wait for it and are not lost", () => {
  const { net, a, b } = pair();
  net.policy = () => "hold";
  for (let i = 0; i < 3; i++) assert.equal(net.frame(a, frame(i)), false);
  net.policy = () => "pass";
  net.release();
  assert.deepEqual(b.delivered, [frame(0), frame(1), frame(2)]);
  assert.equal(b.stats.rxKeepalives, 0, "the waiting frames confirm the session, no keepalive needed");
});

Deno.test("current: a lost initiation is retried after 5 s plus jitter", () => {
  const { net, a, b } = pair();
  net.policy = (w) => (w.bytes[0] === Type.Initiation && a.stats.hsInitSent === 1 ? "drop" : "pass");
  net.flush();
  assert.equal(a.stats.handshakes, 0);
  net.tick(5000);
  assert.equal(a.stats.hsInitSent, 1, "no retry before 5 s");
  net.tick(400);
  assert.equal(a.stats.hsInitSent, 2, "retried within the jitter");
  assert.equal(a.stats.handshakes, 1);
  assertFlows(net, a, b);
});

Deno.test("current: a lost response: the retry with a newer timestamp is answered", () => {
  const { net, a, b } = pair();
  net.policy = (w) => (w.bytes[0] === Type.Response && b.stats.hsRespSent === 1 ? "drop" : "pass");
  net.flush();
  net.tick(5500);
  assert.equal(b.stats.hsRespSent, 2);
  assert.equal(a.stats.handshakes, 1);
  assertFlows(net, a, b);
});

Deno.test("current: a duplicated or replayed initiation is refused by its timestamp", () => {
  const { net, a, b, clock } = pair();
  net.flush();
  const init = net.log.find((w) => w.bytes[0] === Type.Initiation)!;
  net.deliver(init);
  net.flush();
  assert.equal(b.stats.dropStaleInitiation, 1);
  assert.equal(b.stats.hsRespSent, 1, "no second response");
  clock.advance(60_000);
  net.deliver(init);
  assert.equal(b.stats.dropStaleInitiation, 2, "a recording replayed a minute later");
  assertFlows(net, a, b);
});

Deno.test("current: a response for an abandoned initiation (reordered) is dropped; the next one completes", () => {
  const { net, a, b } = pair();
  net.policy = (w) => (w.bytes[0] === Type.Response ? "hold" : "pass");
  net.flush();
  net.tick(5500); // a retries; b answers again (held)
  net.policy = () => "pass";
  assert.equal(net.held.length, 2);
  net.release(); // both responses arrive; the first answers a stale index
  assert.equal(a.stats.handshakes, 1);
  assert.equal(a.stats.dropUnknownIndex, 1);
  assertFlows(net, a, b);
});

Deno.test("current: a forged response does not spoil the handshake in flight", () => {
  const { net, a, b } = pair();
  net.policy = (w) => (w.bytes[0] === Type.Response ? "hold" : "pass");
  net.flush();
  const forged = net.held[0].bytes.slice();
  forged[40] ^= 1; // inside the encrypted part; mac1 recomputed as an attacker who knows a's key could
  writeMac(forged, RESP.MAC1, mac1Key(KA.publicKey));
  net.deliver({ from: B_ADDR, to: A_ADDR, bytes: forged });
  assert.equal(a.stats.dropHandshake, 1);
  net.policy = () => "pass";
  net.release();
  assert.equal(a.stats.handshakes, 1, "the genuine response still completes it");
  assertFlows(net, a, b);
});

Deno.test("current: rekeying under continuous traffic loses no frame", () => {
  const { net, a, b } = pair({ rekeyAfterMs: 1000 });
  net.flush();
  let sent = 0;
  // One frame each way every 10 ms for 5 s; every datagram is delivered one
  // step late, so some arrive after the sender has moved to new keys.
  let late: Wire[] = [];
  net.policy = (w) => {
    if (w.bytes[0] !== Type.Data) return "pass";
    late.push(w);
    return "drop";
  };
  for (let t = 0; t < 5000; t += 10) {
    const due = late;
    late = [];
    for (const w of due) net.deliver(w);
    net.frame(a, frame(sent, 100));
    net.frame(b, frame(sent, 100));
    sent++;
    net.tick(10, 10);
  }
  for (const w of late) net.deliver(w);
  net.flush();
  assert.ok(a.stats.handshakes >= 3, `only ${a.stats.handshakes} handshakes`);
  assert.equal(b.delivered.length, sent, "every frame a sent arrived");
  assert.equal(a.delivered.length, sent, "every frame b sent arrived");
  assert.equal(a.stats.dropReplay + b.stats.dropReplay + a.stats.dropBadTag + b.stats.dropBadTag, 0);
});

Deno.test("current: a session is renewed after a message count, and never seals past its limit", () => {
  const { net, a, b } = pair({ rekeyAfterMessages: 50, rejectAfterMessages: 60 });
  net.flush();
  net.policy = (w) => (w.bytes[0] === Type.Initiation && a.stats.handshakes >= 1 ? "drop" : "pass");
  let staged = 0;
  for (let i = 0; i < 80; i++) if (!net.frame(a, frame(i))) staged++;
  assert.ok(a.stats.hsInitSent >= 2, "a rekey started at 50 messages");
  assert.equal(
    b.delivered.length,
    59,
    "the keepalive and 59 frames used counters 0..59; then sealing stopped",
  );
  assert.equal(staged, 80 - 59);
  net.policy = () => "pass";
  net.tick(5500);
  assert.equal(b.delivered.length, 59 + Math.min(staged, 64), "the waiting frames go out on the new session");
});

Deno.test("current: replayed and reflected datagrams are rejected", () => {
  const { net, a, b } = pair();
  net.flush();
  net.frame(a, frame(1));
  const data = net.log.filter((w) => w.from === A_ADDR && w.bytes[0] === Type.Data).at(-1)!;
  net.deliver(data);
  assert.equal(b.stats.dropReplay, 1, "an exact copy");
  assert.equal(b.delivered.length, 1);
  // Reflection: a's own datagrams sent back to a.
  const before = a.delivered.length;
  for (const w of net.log.filter((w) => w.from === A_ADDR)) {
    net.deliver({ from: B_ADDR, to: A_ADDR, bytes: w.bytes });
  }
  assert.equal(a.delivered.length, before, "nothing a sent is accepted by a");
  assert.ok(a.stats.dropMac1 >= 1, "a's own initiation fails mac1 (keyed by b's key)");
  assert.equal(
    a.stats.dropUnknownIndex + a.stats.dropBadTag + a.stats.dropMac1,
    net.log.filter((w) => w.from === A_ADDR).length,
  );
});

Deno.test("current: simultaneous initiations resolve to one session", () => {
  const clock = new Clock();
  const net = new Net(clock);
  net.policy = () => "hold"; // both initiations cross in flight
  const a = net.add(new Side("a", A_ADDR, KA, KB, clock, B_ADDR));
  const b = net.add(new Side("b", B_ADDR, KB, KA, clock, A_ADDR));
  net.flush();
  assert.equal(net.held.length, 2);
  net.policy = () => "pass";
  net.release();
  const completed = a.stats.handshakes + b.stats.handshakes;
  assert.equal(completed, 1, "exactly one side completed as initiator");
  assert.equal(a.stats.hsSimultaneous + b.stats.hsSimultaneous, 1, "the other initiation was set aside");
  assertFlows(net, a, b);
});

Deno.test("current: an unanswered handshake is given up after 90 s, and keys are erased after 3 × 120 s", () => {
  const { net, a, b } = pair({ rekeyAfterMs: 120_000 });
  net.flush();
  assertFlows(net, a, b);
  net.policy = () => "drop"; // the path goes away
  net.frame(a, frame(8)); // unanswered: after 3 s a tries a handshake, every 5 s
  net.tick(360_000, 1000);
  assert.ok(a.stats.keysErased >= 1 && b.stats.keysErased >= 1, "keys erased on both sides");
  assert.ok(!a.engine.established && !b.engine.established);
  assert.ok(a.stats.hsGaveUp >= 1, "a gave up retrying");
  const tries = a.stats.hsInitSent;
  net.tick(60_000, 1000);
  assert.equal(a.stats.hsInitSent, tries, "no more tries without traffic");
  net.policy = () => "pass";
  net.frame(a, frame(9)); // new traffic: a new attempt
  net.flush();
  assert.ok(a.engine.established);
});

Deno.test("current: under a flood of initiations the responder sends cookies, no DH; the session carries on", () => {
  const { net, a, b, clock } = pair();
  net.flush();
  // An attacker who knows b's public key (mac1 valid) floods from its own address.
  const mallory = new Side("m", { hostname: "198.18.7.66", port: 666 }, generateKeyPair(), KB, clock, B_ADDR);
  net.add(mallory);
  const cookiesBefore = b.stats.hsCookieSent;
  for (let i = 0; i < 200; i++) {
    mallory.engine.close();
    mallory.engine = mallory.make(); // a fresh initiation each time
    net.flush();
    net.frame(a, frame(i, 64));
    clock.advance(2);
  }
  assert.ok(b.stats.hsCookieSent - cookiesBefore > 150, `cookies: ${b.stats.hsCookieSent}`);
  assert.equal(b.stats.dropUnknownPeer, b.stats.hsCookieSent > 0 ? b.stats.dropUnknownPeer : 0);
  assert.ok(b.stats.dropUnknownPeer <= 11, "at most the first ones, before load, cost a DH");
  assert.equal(b.delivered.length, 200, "every frame of the existing session arrived");
});

Deno.test("current: under load a genuine initiator gets a cookie, then gets through with mac2", () => {
  const { net, a, b, clock } = pair({ underLoadPerSecond: 0 }, { timers: {} }); // b is always under load
  net.flush();
  assert.equal(b.stats.hsCookieSent, 1, "the first initiation got a cookie");
  assert.equal(a.stats.hsCookieRecv, 1);
  assert.equal(a.stats.handshakes, 0);
  clock.advance(10);
  net.tick(5500);
  assert.equal(a.stats.handshakes, 1, "the retry carried mac2 and was answered");
  assertFlows(net, a, b);
});

Deno.test("current: a peer with the wrong key never completes a handshake and never gets an answer", () => {
  const { net, b, clock } = pair();
  // c has its own key pair and knows b's public key: mac1 passes, the static key does not.
  const c = net.add(new Side("c", { hostname: "198.18.7.3", port: 5 }, generateKeyPair(), KB, clock, B_ADDR));
  // d has the wrong public key for b: mac1 fails, no DH at all.
  const d = net.add(
    new Side("d", { hostname: "198.18.7.4", port: 5 }, generateKeyPair(), generateKeyPair(), clock, B_ADDR),
  );
  net.flush();
  net.tick(20_000);
  assert.equal(c.stats.handshakes + d.stats.handshakes, 0);
  assert.ok(b.stats.dropUnknownPeer >= 1 && b.stats.dropMac1 >= 1);
  const answers = net.log.filter((w) => w.from === B_ADDR && (w.to === c.addr || w.to === d.addr));
  assert.equal(answers.length, 0, "b never sent them anything");
});

Deno.test("current: keepalives: after 10 s of receiving without sending, and --keepalive", () => {
  // (With one-way traffic the sender's 3 s dead-peer timer renews the session
  // first, and the handshake response counts as sending: keep it out of the way.)
  const { net, a, b } = pair({ deadPeerMs: 60_000 });
  net.flush();
  net.frame(a, frame(1));
  const sent = b.stats.txKeepalives;
  net.tick(9_900);
  assert.equal(b.stats.txKeepalives, sent);
  net.tick(300);
  assert.equal(b.stats.txKeepalives, sent + 1, "b answers data with a keepalive after 10 s");
  const p = pair({}, { persistentKeepaliveMs: 25_000 });
  p.net.flush();
  const before = p.a.stats.txKeepalives;
  p.net.tick(60_000, 500);
  assert.equal(p.a.stats.txKeepalives - before, 2, "every 25 s with --keepalive 25");
});

Deno.test("current: a restarted listener is found within 5 s; a restarted client at once", () => {
  const { net, a, b, clock } = pair();
  net.flush();
  assertFlows(net, a, b);
  b.restart(); // the listener loses everything, and does not know a's address
  const t0 = clock.now;
  let delivered = b.delivered.length;
  for (let i = 0; i < 60 && b.delivered.length === delivered; i++) {
    net.frame(a, frame(100 + i));
    net.tick(100);
  }
  assert.ok(b.delivered.length > delivered, "traffic flows again");
  assert.ok((clock.now - t0) / S < 5, `took ${(clock.now - t0) / S} s`);
  a.restart(); // the client restarts: it initiates at start-up
  net.flush();
  delivered = b.delivered.length;
  assertFlows(net, a, b, 50);
});

Deno.test("current: the psk must match on both sides", () => {
  const psk = new Uint8Array(32).fill(7);
  const { net, a } = pair({}, { psk });
  net.flush();
  assert.equal(a.stats.handshakes, 0, "b uses no psk: the response does not decrypt");
  assert.ok(a.stats.dropHandshake >= 1);
});

Deno.test("current: a responder waits for the confirmation instead of starting a second handshake", () => {
  const { net, a, b } = pair();
  net.policy = (w) => (w.from === A_ADDR && w.bytes[0] === Type.Data ? "hold" : "pass");
  net.flush(); // a has the session; its confirming keepalive is held
  assert.equal(net.frame(b, frame(1)), false, "b has no confirmed session yet: the frame waits");
  net.tick(2000);
  assert.equal(b.stats.hsInitSent, 0, "b starts no handshake of its own");
  net.policy = () => "pass";
  net.release(); // the keepalive arrives: b's session is confirmed
  assert.deepEqual(a.delivered, [frame(1)], "the waiting frame went out on the confirmed session");
  assert.equal(a.stats.handshakes + b.stats.handshakes, 1);
});

Deno.test("current: the peer's address follows authenticated datagrams (roaming), never junk", () => {
  const { net, a, b } = pair();
  net.flush();
  assertFlows(net, a, b);
  a.addr = { hostname: "198.18.7.9", port: 40001 }; // the client's address changes
  net.frame(a, frame(1));
  assert.deepEqual(b.engine.peer, a.addr, "b follows the first authenticated datagram from the new address");
  const n = a.delivered.length;
  net.frame(b, frame(2));
  assert.deepEqual(a.delivered.slice(n), [frame(2)], "b's replies reach the new address");
  net.deliver({ from: { hostname: "198.18.7.66", port: 6 }, to: B_ADDR, bytes: new Uint8Array(100).fill(4) });
  assert.deepEqual(b.engine.peer, a.addr, "junk does not move the peer");
});
