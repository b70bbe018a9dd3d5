/**
 * Hostile and mistaken peers against the current format's engine on the fake
 * clock: floods (cookies, no DH), peers with the wrong key or PSK, and what
 * an unknown peer's initiation costs.
 */

import { strict as assert } from "node:assert";
import { sameEndpoint } from "../core/endpoint.ts";
import { generateKeyPair, x25519Count } from "../core/noise.ts";
import { mac1Key, RESP, Type, writeMac } from "../core/current_wire.ts";
import { A_ADDR, assertFlows, B_ADDR, frame, KA, KB, pair, Side } from "./_engine_net.ts";

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
  const st = b.stats;
  assert.equal(
    st.dropUnknownPeer + st.dropUnderLoad + st.dropRateLimited,
    200,
    "each of mallory's initiations is refused and counted once",
  );
  assert.equal(st.hsInitRecv, 1, "none of them was answered");
  assert.ok(st.dropUnknownPeer <= 11, "at most the first ones, before load, cost a DH");
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
  const toB = (s: Side) => net.log.filter((w) => sameEndpoint(w.from, s.addr) && sameEndpoint(w.to, B_ADDR));
  assert.ok(toB(c).length >= 4 && toB(d).length >= 4, "both kept trying (the test saw their initiations)");
  const answers = net.log.filter((w) =>
    sameEndpoint(w.from, B_ADDR) && (sameEndpoint(w.to, c.addr) || sameEndpoint(w.to, d.addr))
  );
  assert.equal(answers.length, 0, "b never sent them anything");
  assert.ok(net.log.some((w) => sameEndpoint(w.from, B_ADDR)), "while it answered its real peer");
});

Deno.test("current: the psk must match on both sides", () => {
  const psk = new Uint8Array(32).fill(7);
  const { net, a } = pair({}, { psk });
  net.flush();
  assert.equal(a.stats.handshakes, 0, "b uses no psk: the response does not decrypt");
  assert.ok(a.stats.dropHandshake >= 1);
});

Deno.test("current: an initiation with an unknown static key costs one X25519 before it is refused", () => {
  const { net, b, clock } = pair();
  net.policy = () => "drop";
  // mallory knows b's public key (mac1 passes) but is not b's peer.
  const m = net.add(
    new Side("m", { hostname: "198.18.7.66", port: 6 }, generateKeyPair(), KB, clock, B_ADDR),
  );
  net.flush();
  const init = net.log.find((w) => sameEndpoint(w.from, m.addr))!;
  const before = { ...x25519Count };
  net.deliver(init);
  assert.equal(b.stats.dropUnknownPeer, 1);
  assert.equal(x25519Count.dh - before.dh, 1, "one variable-base X25519 (es), then the refusal");
  assert.equal(x25519Count.base - before.base, 0, "no fixed-base X25519");
  assert.equal(b.engine.hasControl, false, "no answer");
});

Deno.test("current: a forged response costs two X25519 and leaves the initiation in flight", () => {
  const { net, a, b } = pair();
  net.policy = (w) => (w.bytes[0] === Type.Response ? "hold" : "pass");
  net.flush();
  const forged = net.held[0].bytes.slice();
  forged[40] ^= 1; // in the encrypted part; mac1 recomputed, as one who knows a's public key can
  writeMac(forged, RESP.MAC1, mac1Key(KA.publicKey));
  const before = { ...x25519Count };
  net.deliver({ from: B_ADDR, to: A_ADDR, bytes: forged });
  assert.equal(a.stats.dropHandshake, 1);
  assert.equal(x25519Count.dh - before.dh, 2, "ee and se only");
  assert.equal(x25519Count.base - before.base, 0);
  net.policy = () => "pass";
  net.release();
  assert.equal(a.stats.handshakes, 1, "the genuine response still completes it");
  assertFlows(net, a, b);
});
