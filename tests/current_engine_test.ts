/**
 * The current format's engine, driven directly with a fake clock and a fake
 * network (`_engine_net.ts`): handshakes with lost, duplicated, reordered and
 * replayed messages, rekeying under traffic, message limits, reflection,
 * roaming. Timers are in `current_timers_test.ts`, hostile and mistaken
 * peers in `current_peers_test.ts`, the review's findings in
 * `current_review_test.ts`.
 */

import { strict as assert } from "node:assert";
import { DATA, mac1Key, RESP, Type, writeMac } from "../core/current_wire.ts";
import { A_ADDR, assertFlows, B_ADDR, frame, KA, pair, type Wire } from "./_engine_net.ts";

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

Deno.test("current: a rekey while the peer still seals under the session before is not a loss", () => {
  const { net, a, b } = pair({ rekeyAfterMs: 1000 });
  net.flush(); // session 1
  net.tick(1100);
  net.policy = (w) => (w.from === A_ADDR && w.bytes[0] === Type.Data ? "hold" : "pass");
  net.frame(a, frame(1)); // under 1, and a rekeys: session 2 (its first datagram held)
  assert.equal(a.stats.handshakes, 2);
  net.policy = () => "pass";
  net.frame(b, frame(2)); // b still seals under 1, which a opens
  assert.deepEqual(a.delivered.at(-1), frame(2));
  net.policy = (w) => (w.from === B_ADDR && w.bytes[0] === Type.Data ? "hold" : "pass");
  net.release(); // a's datagrams arrive: b confirms 2
  assert.deepEqual(b.delivered.at(-1), frame(1));
  net.frame(b, frame(3)); // under 2, in flight
  net.tick(1100);
  net.frame(a, frame(4)); // a rekeys again: session 3
  assert.equal(a.stats.handshakes, 3);
  net.policy = () => "pass";
  net.release(); // b's frame under 2 arrives after a moved to 3
  assert.deepEqual(a.delivered.at(-1), frame(3), "session 2 still opens");
  assert.equal(a.stats.dropUnknownIndex, 0);
  assertFlows(net, a, b, 10);
});
