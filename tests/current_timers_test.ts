/**
 * The current format's timers on the fake clock: retries and giving up, key
 * erasure, keepalives (passive and persistent), restarts, the responder's
 * wait for confirmation, and each attempt's own start time.
 */

import { strict as assert } from "node:assert";
import { Type } from "../core/current_wire.ts";
import { A_ADDR, assertFlows, frame, MS, pair, runLikeLoop, S, type Wire } from "./_engine_net.ts";

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

Deno.test("current: a responder waits for the confirmation instead of starting a second handshake", () => {
  const { net, a, b } = pair();
  net.flush();
  assertFlows(net, a, b);
  net.tick(361_000, 1000); // idle: every key is erased on both sides; b still knows a's address
  assert.ok(!a.engine.established && !b.engine.established);
  net.policy = (w) => (w.from === A_ADDR && w.bytes[0] === Type.Data ? "hold" : "pass");
  net.frame(a, frame(0)); // a initiates; b answers; a's frame (which confirms) is held
  assert.equal(b.stats.hsRespSent, 2);
  const before = b.stats.hsInitSent;
  assert.equal(net.frame(b, frame(1)), false, "b has no confirmed session yet: the frame waits");
  net.tick(2000);
  assert.equal(b.stats.hsInitSent, before, "b starts no handshake of its own");
  net.policy = () => "pass";
  net.release(); // a's frame arrives: b's session is confirmed
  assert.deepEqual(a.delivered.at(-1), frame(1), "the waiting frame went out on the confirmed session");
  assert.deepEqual(b.delivered.at(-1), frame(0));
});

Deno.test("review L6: answering the peer's initiation while ours is pending does not age our next attempt", () => {
  // (A long dead-peer time: a must complete no handshake of its own meanwhile,
  // which would hide the bug.)
  const { net, a, b } = pair({ deadPeerMs: 60_000 });
  net.flush();
  assertFlows(net, a, b);
  net.tick(361_000, 1000); // idle: all keys erased on both sides
  let dropInitFromA = true;
  net.policy = (
    w,
  ) => (dropInitFromA && w.from === A_ADDR && w.bytes[0] === Type.Initiation ? "drop" : "pass");
  net.frame(a, frame(1)); // a's attempt starts; its initiation is lost
  net.frame(b, frame(2)); // b initiates; a answers while its own attempt is pending
  net.flush();
  assert.deepEqual(a.delivered.at(-1), frame(2), "b's session carries b's frame");
  assert.deepEqual(b.delivered.at(-1), frame(1), "and a's waiting frame");
  dropInitFromA = false;
  net.tick(90_000, 1000); // a's first attempt began more than 90 s ago
  // Later the path from a fails: a's dead-peer timer starts a new attempt,
  // whose first initiation is lost too.
  const tries = a.stats.hsInitSent;
  net.policy = (w) =>
    w.from === A_ADDR && (w.bytes[0] === Type.Data || a.stats.hsInitSent === tries + 1) ? "drop" : "pass";
  net.frame(a, frame(3));
  net.tick(60_000, 1000);
  assert.equal(a.stats.hsInitSent, tries + 1, "the new attempt started");
  net.policy = () => "pass";
  net.tick(6000);
  assert.equal(a.stats.hsGaveUp, 0, "the new attempt did not give up at its first retry");
  assert.equal(a.stats.hsInitSent, tries + 2, "it retried");
  assert.ok(a.engine.established);
  assertFlows(net, a, b, 30);
});

for (const n of [1, 2, 4]) {
  Deno.test(`review L10: with --keepalive ${n} no more than ${n} s pass between two datagrams to the peer`, () => {
    const { net, a, clock } = pair({ deadPeerMs: 60_000 }, { persistentKeepaliveMs: n * 1000 });
    const times: number[] = [];
    net.policy = (w: Wire) => {
      if (w.from === A_ADDR) times.push(clock.now);
      return "pass";
    };
    let k = 0;
    // Frames from a at irregular times between keepalives, as a user's traffic.
    runLikeLoop(net, 40_000, (t) => {
      if (t % 9137 === 0) net.frame(a, frame(k++));
    });
    assert.ok(times.length > 40 / n, `${times.length} datagrams`);
    let worst = 0;
    for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i] - times[i - 1]);
    assert.ok(worst <= n * 1000 * MS + 2 * MS, `a gap of ${worst / MS} ms`);
    assert.ok(worst >= (n * 1000 - 5) * MS, "the keepalive is not sent early either");
  });
}
