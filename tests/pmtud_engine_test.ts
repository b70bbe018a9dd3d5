/**
 * Path MTU probing (core/pmtud.ts) through two engines on the fake clock
 * and the fake network of `_engine_net.ts`: the search converges to the
 * largest datagram a path carries, probes never reach the TAP, a peer that
 * drops probes leaves the size unknown and traffic as it was, and a path
 * that shrinks (a black hole) is found, stepped down and searched again.
 */

import { strict as assert } from "node:assert";
import { Type } from "../core/current_wire.ts";
import { BASE_IPV4 } from "../core/pmtud.ts";
import { assertFlows, frame, type Net, pair, type Wire } from "./_engine_net.ts";

/** The largest datagram of the fake path: anything longer is lost. */
function narrow(net: Net, limit: () => number, also: (w: Wire) => boolean = () => false): void {
  net.policy = (w) => (w.bytes.length > limit() || also(w) ? "drop" : "pass");
}

const CEILING = 1472; // a 1500-byte interface, IPv4: 1500 − 20 − 8

Deno.test("pmtud: the search converges to the largest datagram the path carries, to the byte", () => {
  for (const path of [1252, 1000, 1472, 600]) {
    const { net, a, b } = pair({}, { probeCeiling: CEILING }, { probeCeiling: CEILING });
    narrow(net, () => path);
    net.flush();
    assert.equal(a.engine.maxDatagram, undefined, "unknown before the search");
    net.frame(a, frame(1)); // the listener learns a's address
    net.tick(60_000, 100);
    assert.equal(a.engine.maxDatagram, path, `a, path ${path}`);
    assert.equal(b.engine.maxDatagram, path, `b, path ${path}`);
    assert.deepEqual(b.delivered, [frame(1)], "probes never reach the TAP");
    assert.deepEqual(a.delivered, []);
    assert.ok(a.stats.probesSent > 0 && a.stats.probeAcks > 0 && b.stats.probesAnswered > 0);
    assert.equal(a.stats.txFrames, 1, "probes are not frames");
    assert.equal(b.stats.rxKeepalives + b.stats.dropMalformed, b.stats.rxKeepalives, "nothing malformed");
    // Every probe on the wire is a type-5 message of the size it tests, and
    // never more than the ceiling.
    const probes = net.log.filter((w) => w.bytes[0] === Type.Probe);
    assert.ok(probes.every((w) => w.bytes.length <= CEILING && w.bytes.length >= 31));
    assertFlows(net, a, b, 10);
  }
});

Deno.test("pmtud: the search takes seconds, and a new one starts every 10 minutes", () => {
  const { net, a, b, clock } = pair({}, { probeCeiling: CEILING });
  narrow(net, () => 1252);
  net.flush();
  const t0 = clock.now;
  while (a.engine.maxDatagram === undefined && clock.now - t0 < 60e9) net.tick(100, 100);
  const took = (clock.now - t0) / 1e9;
  // base, ceiling (3 lost), then bisection of (1252, 1472): 8 steps.
  assert.ok(took < 40, `took ${took} s`);
  const sent = a.stats.probesSent;
  // Traffic keeps a session (probes go only under one that seals).
  const traffic = (ms: number) => {
    for (let t = 0; t < ms; t += 1000) {
      if (t % 10_000 === 0) assertFlows(net, a, b, t);
      net.tick(1000, 100);
    }
  };
  traffic(590_000);
  assert.equal(a.stats.probesSent, sent, "quiet until 10 minutes after the search");
  narrow(net, () => 1400); // the path grew
  traffic(60_000);
  assert.ok(a.stats.probesSent > sent);
  assert.equal(a.engine.maxDatagram, 1400, "the next search finds the larger size");
  assert.equal(b.engine.maxDatagram, undefined, "b does not probe: it has no ceiling");
  assert.equal(b.stats.probesSent, 0);
});

Deno.test("pmtud: a peer that drops probes leaves the size unknown and traffic unaffected", () => {
  const { net, a, b } = pair({}, { probeCeiling: CEILING });
  // An older peer drops type 5 at byte 0 (dropMalformed), answering nothing.
  narrow(net, () => 65535, (w) => w.bytes[0] === Type.Probe);
  net.flush();
  net.tick(30_000, 100);
  assert.equal(a.engine.maxDatagram, undefined);
  assert.equal(a.stats.probesSent, 3, "the base, three times, then nothing for 10 minutes");
  assertFlows(net, a, b);
  net.tick(300_000, 1000);
  assert.equal(a.stats.probesSent, 3);
  assertFlows(net, a, b, 20);
  assert.equal(a.stats.handshakes, b.stats.hsRespSent, "no handshake was disturbed");
});

Deno.test("pmtud: a path that shrinks is found, the size steps down to the base and is searched again", () => {
  let path = 65535;
  const { net, a, b, clock } = pair({}, { probeCeiling: CEILING }, { probeCeiling: CEILING });
  narrow(net, () => path);
  net.flush();
  net.frame(a, frame(1));
  net.tick(30_000, 100);
  const max = (): number | undefined => a.engine.maxDatagram;
  assert.equal(max(), CEILING);
  path = 1252; // now full-size datagrams vanish
  const seen: (number | undefined)[] = [];
  const t0 = clock.now;
  for (let i = 0; i < 400 && max() !== 1252; i++) {
    net.frame(a, frame(i, 1400)); // 1424-byte datagrams, lost
    net.tick(100, 100);
    if (seen.at(-1) !== max()) seen.push(max());
  }
  assert.deepEqual(seen, [CEILING, BASE_IPV4, 1252], "down to the base, then up to the new size");
  const took = (clock.now - t0) / 1e9;
  assert.ok(took < 60, `took ${took} s`);
  assert.deepEqual(b.delivered, [frame(1)], "none of the big frames crossed; no probe was delivered");
});

Deno.test("pmtud: one-way full-size traffic on a sound path: the size is confirmed, not searched again", () => {
  const { net, a, b } = pair({}, { probeCeiling: CEILING }, { probeCeiling: CEILING });
  net.flush();
  net.frame(a, frame(1));
  net.tick(30_000, 100);
  assert.equal(a.engine.maxDatagram, CEILING);
  const sent = a.stats.probesSent;
  const logged = net.log.length;
  for (let i = 0; i < 600; i++) {
    net.frame(a, frame(i, 1400)); // b answers nothing but its passive keepalives
    net.tick(100, 100);
    assert.equal(a.engine.maxDatagram, CEILING);
  }
  const probes = net.log.slice(logged).filter((w) => w.bytes[0] === Type.Probe && w.from === a.addr);
  assert.ok(probes.length > 0, "the silence was noticed");
  assert.ok(probes.every((w) => w.bytes.length === CEILING), "only the size in use was probed");
  assert.ok(a.stats.probesSent - sent <= 15, `${a.stats.probesSent - sent} probes in 60 s`);
  assert.equal(b.delivered.length, 601);
});
