/**
 * The diagnosis of "no handshake completed", driven by real engines on the
 * fake network with wrong keys, a wrong PSK or no server: the counters they
 * produce must name the cause.
 */

import { strict as assert } from "node:assert";
import { diagnose } from "../core/diagnose.ts";
import { HEADROOM, LegacySession } from "../core/legacy.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { generateKeyPair } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import { A_ADDR, B_ADDR, Clock, KA, KB, Net, pair, Side } from "./_engine_net.ts";

/** Runs a client and a listener for 20 s of fake time. */
function run(net: Net): void {
  net.flush();
  net.tick(20_000, 500);
}

Deno.test("diagnose: a working tunnel has nothing to diagnose", () => {
  const { net, a, b } = pair();
  run(net);
  assert.equal(diagnose(a.stats, "current"), undefined);
  assert.equal(diagnose(b.stats, "current"), undefined);
});

Deno.test("diagnose: the client has the wrong public key for the server", () => {
  const clock = new Clock();
  const net = new Net(clock);
  const b = net.add(new Side("b", B_ADDR, KB, KA, clock, undefined));
  const a = net.add(new Side("a", A_ADDR, KA, generateKeyPair(), clock, B_ADDR));
  run(net);
  assert.equal(diagnose(b.stats, "current")?.cause, "other-key-for-us", "the server: mac1 fails");
  assert.equal(diagnose(a.stats, "current")?.cause, "no-answer", "the client: silence");
  assert.match(diagnose(a.stats, "current")!.message, /peer key is not its public key/);
});

Deno.test("diagnose: the server's peer key is not the client's", () => {
  const clock = new Clock();
  const net = new Net(clock);
  const b = net.add(new Side("b", B_ADDR, KB, generateKeyPair(), clock, undefined));
  const a = net.add(new Side("a", A_ADDR, KA, KB, clock, B_ADDR));
  run(net);
  assert.equal(diagnose(b.stats, "current")?.cause, "unknown-key");
  assert.equal(diagnose(a.stats, "current")?.cause, "no-answer");
});

Deno.test("diagnose: the pre-shared keys differ", () => {
  const { net, a, b } = pair({}, { psk: new Uint8Array(32).fill(1) }, { psk: new Uint8Array(32).fill(2) });
  run(net);
  assert.equal(diagnose(a.stats, "current")?.cause, "psk", "the client: responses do not decrypt");
  assert.equal(diagnose(b.stats, "current")?.cause, "unconfirmed", "the server: answers never used");
});

Deno.test("diagnose: the server is down or unreachable", () => {
  const { net, a, b } = pair();
  net.policy = () => "drop";
  run(net);
  const d = diagnose(a.stats, "current");
  assert.equal(d?.cause, "no-answer");
  assert.match(d!.message, /^\d+ handshake initiation\(s\) sent, no answer/);
  assert.equal(diagnose(b.stats, "current")?.cause, "silence");
});

/** Two legacy engines with the given shared keys, 20 s of hellos and
 * keepalives between them. */
function legacyRun(kClient: Uint8Array, kServer: Uint8Array, deliver = true) {
  const client = new LegacyEngine({
    session: new LegacySession(kClient, new LegacyNonce(1, new Uint8Array(12).fill(1))),
    peer: B_ADDR,
    now: 0,
  });
  const server = new LegacyEngine({
    session: new LegacySession(kServer, new LegacyNonce(2, new Uint8Array(12).fill(2))),
    now: 0,
  });
  const buf = new PacketBuffer(HEADROOM);
  for (let t = 0; t <= 20e9; t += 5e8) {
    for (const [from, to, addr] of [[client, server, A_ADDR], [server, client, B_ADDR]] as const) {
      from.tick(t);
      while (from.hasControl) {
        const n = from.nextControl(buf, t);
        if (deliver && n > 0) to.open(buf, n, addr, t);
      }
    }
  }
  return { client, server };
}

Deno.test("diagnose: legacy with a wrong key, and a server nobody reaches", () => {
  const k = new Uint8Array(32).fill(3);
  const ok = legacyRun(k, k);
  assert.equal(diagnose(ok.server.stats, "legacy"), undefined);
  assert.equal(diagnose(ok.client.stats, "legacy"), undefined, "an idle client hears nothing: no alarm");
  const wrong = legacyRun(k, new Uint8Array(32).fill(4));
  const d = diagnose(wrong.server.stats, "legacy");
  assert.equal(d?.cause, "bad-key");
  assert.match(d!.message, /THEIRPUB/);
  const down = legacyRun(k, k, false);
  assert.equal(diagnose(down.server.stats, "legacy")?.cause, "silence", "a server nobody reaches");
});

Deno.test("session info: a runner sees the first session and each rekey, with their times", () => {
  const { net, a, b, clock } = pair({ rekeyAfterMs: 10_000 });
  const info0 = b.engine.sessionInfo(clock.now);
  assert.deepEqual(info0, {
    established: false,
    latestHandshakeAt: undefined,
    sessionAgeNs: undefined,
    sessionsStarted: 0,
  });
  net.flush();
  const t0 = clock.now;
  for (const s of [a, b]) {
    const i = s.engine.sessionInfo(clock.now);
    assert.equal(i.established, true, s.name);
    assert.equal(i.latestHandshakeAt, t0);
    assert.equal(i.sessionsStarted, 1);
  }
  for (let t = 0; t < 25; t++) { // traffic across two rekeys
    net.frame(a, new Uint8Array(64));
    net.frame(b, new Uint8Array(64)); // both ways: no dead-peer handshakes
    net.tick(1000);
  }
  for (const s of [a, b]) {
    const i = s.engine.sessionInfo(clock.now);
    assert.equal(i.sessionsStarted, 3, `${s.name}: the first session and two rekeys`);
    assert.ok(i.latestHandshakeAt! > t0 + 19e9, s.name);
    assert.equal(i.sessionAgeNs! < 10e9, true);
    assert.equal(s.stats.sessionsStarted, 3, "the counter agrees");
  }
});
