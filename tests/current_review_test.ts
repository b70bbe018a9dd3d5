/**
 * Regression tests for the outside review of the current format (issue 10),
 * on the fake clock: each reproduces a finding against the old engine and
 * fails there. Medium 1 and 2 (the tie-break: replayable initiations and
 * outages), review item 15 (a replayed initiation redirects a restarted
 * listener), Low 4 (secrets that survived close()).
 */

import { strict as assert } from "node:assert";
import { sameEndpoint } from "../core/endpoint.ts";
import { Type } from "../core/current_wire.ts";
import { generateKeyPair, type KeyPair } from "../core/noise.ts";
import { isAllZero, stopTrackingSecrets, trackSecrets } from "../core/secret.ts";
import {
  A_ADDR,
  assertFlows,
  B_ADDR,
  Clock,
  frame,
  MS,
  Net,
  orderedKeys,
  pair,
  S,
  Side,
  type Wire,
} from "./_engine_net.ts";

const M_ADDR = { hostname: "198.18.7.66", port: 6666 };

/** Two sides that both connect, `a` holding the key that sorts higher (the
 * old tie-break's winner), whose first initiations cross in flight. */
function crossed(): { clock: Clock; net: Net; a: Side; b: Side; initFromB: Wire } {
  const [hi, lo] = orderedKeys();
  const clock = new Clock();
  const net = new Net(clock);
  net.policy = () => "hold";
  const a = net.add(new Side("a", A_ADDR, hi, lo, clock, B_ADDR));
  const b = net.add(new Side("b", B_ADDR, lo, hi, clock, A_ADDR));
  net.flush();
  assert.equal(net.held.length, 2, "both initiations in flight");
  const initFromB = net.held.find((w) => sameEndpoint(w.from, B_ADDR))!;
  net.policy = () => "pass";
  net.release();
  return { clock, net, a, b, initFromB };
}

Deno.test("review M1: an initiation answered during a simultaneous handshake cannot be replayed later", () => {
  const { net, a, b, initFromB } = crossed();
  // 130 s of traffic from a only: b sends no data, so it starts no handshake
  // (a newer initiation from b would hide the bug).
  for (let i = 0; i < 13; i++) {
    net.frame(a, frame(i));
    net.tick(10_000, 1000);
  }
  assert.equal(b.delivered.length, 13);
  const stale = a.stats.dropStaleInitiation;
  net.deliver({ from: M_ADDR, to: A_ADDR, bytes: initFromB.bytes });
  net.deliver({ from: M_ADDR, to: A_ADDR, bytes: initFromB.bytes });
  net.flush();
  assert.equal(a.stats.dropStaleInitiation, stale + 2, "its timestamp was recorded when it was answered");
  assert.deepEqual(a.engine.peer, B_ADDR, "the replayer did not take the endpoint");
  net.frame(a, frame(50));
  assert.deepEqual(b.delivered.at(-1), frame(50), "a's next frame reached b");
  assert.equal(net.log.filter((w) => sameEndpoint(w.to, M_ADDR)).length, 0, "nothing went to the replayer");
  assertFlows(net, a, b, 99);
});

Deno.test("review M2: simultaneous initiations converge on both sides and stay usable through rekeys", () => {
  const { net, a, b } = crossed();
  assert.equal(a.stats.hsSimultaneous + b.stats.hsSimultaneous, 2, "each answered the other's initiation");
  assert.ok(a.engine.established && b.engine.established, "both have a session at once");
  let sent = 0;
  for (let t = 0; t < 400; t++) { // 400 s: past three rekeys and the reject-after limit
    net.frame(a, frame(sent, 64));
    net.frame(b, frame(sent, 64));
    sent++;
    net.tick(1000, 250);
  }
  assert.equal(b.delivered.length, sent, "every frame a sent arrived");
  assert.equal(a.delivered.length, sent, "every frame b sent arrived");
  for (const s of [a, b]) {
    assert.equal(s.stats.dropUnknownIndex + s.stats.dropBadTag + s.stats.dropExpired, 0, s.name);
  }
});

/** The time from `from` until frames flow both ways again (ms), sending a
 * frame each way every 50 ms; fails after `limitMs`. */
function timeToRecover(net: Net, a: Side, b: Side, limitMs: number): number {
  const start = net.clock.now;
  let i = 0;
  for (; (net.clock.now - start) / MS < limitMs; i++) {
    const na = a.delivered.length, nb = b.delivered.length;
    net.frame(a, frame(i, 64));
    net.frame(b, frame(i, 64));
    if (a.delivered.length > na && b.delivered.length > nb) return (net.clock.now - start) / MS;
    net.tick(50, 50);
  }
  return Infinity;
}

for (const winner of ["server", "client"]) {
  Deno.test(`review M2: a client restarted on a new port is back within 5 s (the ${winner}'s key sorts higher)`, () => {
    const [hi, lo] = orderedKeys();
    const [sk, ck] = winner === "server" ? [hi, lo] : [lo, hi];
    const clock = new Clock();
    const net = new Net(clock);
    const b = net.add(new Side("b", B_ADDR, sk, ck, clock, undefined));
    const a = net.add(new Side("a", A_ADDR, ck, sk, clock, B_ADDR));
    net.flush();
    assertFlows(net, a, b);
    // The client goes away; the server keeps sending (every 50 ms) to its
    // old address, and after 3 s starts handshakes towards it.
    net.sides.splice(net.sides.indexOf(a), 1);
    for (let t = 0; t < 8000; t += 50) {
      net.frame(b, frame(t, 64));
      net.tick(50, 50);
    }
    assert.ok(b.stats.hsInitSent >= 1, "the server is initiating towards the stale address");
    a.addr = { hostname: A_ADDR.hostname, port: A_ADDR.port + 1 };
    a.restart();
    net.sides.push(a);
    net.flush();
    const ms = timeToRecover(net, a, b, 60_000);
    assert.ok(ms < 5000, `frames flowed again after ${ms} ms`);
    assert.deepEqual(b.engine.peer, a.addr);
  });
}

Deno.test("review 15: a replayed initiation does not redirect a restarted listener", () => {
  const { net, a, b } = pair();
  net.flush();
  const init = net.log.find((w) => w.bytes[0] === Type.Initiation)!;
  assertFlows(net, a, b);
  b.restart(); // nothing recorded survives: the old initiation is fresh to it
  net.deliver({ from: M_ADDR, to: B_ADDR, bytes: init.bytes });
  assert.equal(b.stats.hsRespSent, 1, "it is answered (as WireGuard would)");
  assert.equal(b.engine.peer, undefined, "but the listener does not take the replayer as its peer");
  assert.equal(b.engine.acceptsFrames, false);
  net.flush(); // the response goes to the replayer, who cannot use it
  net.frame(a, frame(1)); // the real peer: unknown index at b, then a handshake within 3 s
  net.tick(4000);
  assert.deepEqual(b.engine.peer, A_ADDR);
  assertFlows(net, a, b, 20);
});

Deno.test("review L4: after close() no secret buffer and no ephemeral key holds anything", () => {
  const [ka, kb] = [generateKeyPair(), generateKeyPair()];
  const ephemerals: KeyPair[] = [];
  const gen = () => {
    const kp = generateKeyPair();
    ephemerals.push(kp);
    return kp;
  };
  const psk = new Uint8Array(32).fill(9);
  const secrets = trackSecrets();
  try {
    const clock = new Clock();
    const net = new Net(clock);
    const opts = { generateKeyPair: gen, psk, timers: { rekeyAfterMs: 2000 } };
    // b is always under load: cookies and mac2 on every handshake.
    const b = net.add(
      new Side("b", B_ADDR, kb, ka, clock, undefined, { ...opts, timers: { underLoadPerSecond: 0 } }),
    );
    const a = net.add(new Side("a", A_ADDR, ka, kb, clock, B_ADDR, opts));
    net.flush();
    net.tick(5500); // the retry carries mac2
    for (let i = 0; i < 8; i++) { // rekeys, retries and a lost response
      net.policy = (w) => (i === 3 && w.bytes[0] === Type.Response ? "drop" : "pass");
      assertFlows(net, a, b, i);
      net.tick(1000, 100);
    }
    assert.ok(a.stats.handshakes >= 3 && ephemerals.length >= 6 && secrets.length > 50);
    assert.ok(a.stats.hsCookieRecv >= 1, "cookies were used");
    a.engine.close();
    b.engine.close();
    const live = secrets.filter((s) => !isAllZero(s));
    assert.equal(live.length, 0, `${live.length} of ${secrets.length} secret buffers not erased`);
    assert.ok(ephemerals.every((e) => isAllZero(e.secretKey)), "every ephemeral secret key erased");
  } finally {
    stopTrackingSecrets();
  }
  void S;
});
