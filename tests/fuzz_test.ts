/**
 * Fuzzing the parsers that take input from outside: the datagram decoders of
 * both wire formats (a million generated and mutated datagrams each), and
 * the key-file and nonce-file parsers (a million inputs each). Nothing may
 * throw, nothing may reach the TAP, and valid traffic must still pass
 * afterwards.
 */

import { strict as assert } from "node:assert";
import { CurrentEngine } from "../core/current_engine.ts";
import { DATA, Type } from "../core/current_wire.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { HEADROOM, LegacySession } from "../core/legacy.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { generateKeyPair } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import { parseKeyFile } from "../io/keyfile.ts";
import { nextNoncePrefix } from "../io/noncefile.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { mutate, Rng } from "./_fuzz.ts";

const ROUNDS = 1_000_000;

const FROM: Endpoint = { hostname: "198.18.66.6", port: 666 };
const PEER: Endpoint = { hostname: "198.18.66.2", port: 1011 };

Deno.test("fuzz: the legacy decoder, a million datagrams: no exception, nothing delivered", () => {
  const key = new Uint8Array(32).fill(7);
  const sender = new LegacySession(key, new LegacyNonce(1, new Uint8Array(12)));
  const engine = new LegacyEngine({
    session: new LegacySession(key, new LegacyNonce(2, new Uint8Array(12))),
    now: 0,
  });
  const valid: Uint8Array[] = [];
  const b = new PacketBuffer(HEADROOM);
  for (let i = 0; i < 16; i++) {
    b.payload.fill(i, 0, 100);
    const n = sender.seal(b, 40 + i * 10, 1e9 + i);
    valid.push(b.bytes.slice(0, n));
  }
  // Deliver the valid ones first, so that replays of them are replays.
  for (const v of valid) {
    b.bytes.set(v);
    assert.ok(engine.open(b, v.length, PEER, 0) > 0);
  }
  const rng = new Rng(0xdecaf);
  let delivered = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const n = mutate(rng, b.bytes, valid, [0, 1, 0xff]);
    if (engine.open(b, n, FROM, 0) >= 0) delivered++;
  }
  assert.equal(delivered, 0, "no fuzz input was delivered");
  const s = engine.stats;
  assert.equal(s.rxDatagrams, ROUNDS + valid.length);
  // Every input is dropped under some reason; bit flips can even turn a
  // datagram's prefix into ours, which counts as reflected.
  assert.equal(s.rxDropped, ROUNDS, "every fuzz input was counted as a drop");
  // The tunnel still works.
  b.payload.fill(9, 0, 64);
  const n = sender.seal(b, 64, 2e9);
  assert.equal(engine.open(b, n, PEER, 0), 64);
});

Deno.test("fuzz: the current-format decoder, a million datagrams: no exception, nothing delivered, all counted", () => {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  let now = 1e9;
  const a = new CurrentEngine({
    secretKey: ka.secretKey,
    peerPublic: kb.publicKey,
    peer: PEER,
    now,
    wallClock: () => 1e12,
  });
  const b = new CurrentEngine({
    secretKey: kb.secretKey,
    peerPublic: ka.publicKey,
    now,
    wallClock: () => 1e12,
  });
  const buf = new PacketBuffer(DATA.HEADER);
  const valid: Uint8Array[] = [];
  const pump = (from: CurrentEngine, to: CurrentEngine, addr: Endpoint) => {
    for (let n; (n = from.nextControl(buf, now)) > 0;) {
      valid.push(buf.bytes.slice(0, n));
      to.open(buf, n, addr, now);
    }
  };
  pump(a, b, FROM);
  pump(b, a, PEER);
  pump(a, b, FROM);
  assert.ok(a.established && b.established);
  for (let i = 0; i < 8; i++) {
    buf.payload.fill(i, 0, 200);
    const n = a.seal(buf, 60 + i, now);
    valid.push(buf.bytes.slice(0, n));
    assert.ok(b.open(buf, n, FROM, now) > 0);
  }
  const rng = new Rng(0xbeef);
  let delivered = 0;
  const headers = [Type.Initiation, Type.Response, Type.Cookie, Type.Data, 0, 0xff];
  const before = b.stats.snapshot();
  const dropsBefore = b.stats.rxDropped;
  for (let i = 0; i < ROUNDS; i++) {
    const n = mutate(rng, buf.bytes, valid, headers);
    if (b.open(buf, n, FROM, now) >= 0) delivered++;
    if (i % 100_000 === 0) now += 1e6; // time moves a little
    while (b.hasControl) b.nextControl(buf, now); // answers (cookies under load) are dropped
  }
  assert.equal(delivered, 0, "no fuzz input was delivered");
  const s = b.stats;
  assert.equal(s.rxDatagrams - before.rxDatagrams, ROUNDS);
  // Every input is dropped and counted under some reason: none is a frame,
  // a keepalive, an answered initiation, a response or a cookie taken.
  assert.equal(s.rxDropped - dropsBefore, ROUNDS, "every fuzz input was counted as a drop");
  for (const k of ["rxKeepalives", "hsInitRecv", "hsRespRecv", "hsCookieRecv"] as const) {
    assert.equal(s[k], before[k], `${k} did not move`);
  }
  buf.payload.fill(9, 0, 64);
  const n = a.seal(buf, 64, now);
  assert.equal(b.open(buf, n, FROM, now), 64, "the session still carries traffic");
});

Deno.test("fuzz: key-file and nonce-file parsers, a million inputs each: an answer, never an exception", () => {
  const rng = new Rng(0x5eed);
  const buf = new Uint8Array(80);
  const hex = new TextEncoder().encode("0123456789abcdefABCDEF\n");
  let accepted = 0;
  for (let i = 0; i < ROUNDS; i++) {
    let n: number;
    if (rng.below(4) === 0) {
      // A valid file, sometimes with one byte changed.
      n = 65;
      for (let j = 0; j < 64; j++) buf[j] = hex[rng.below(22)];
      buf[64] = 0x0a;
      if (rng.below(2) === 0) buf[rng.below(65)] = rng.next() & 0xff;
    } else {
      n = rng.below(8) === 0 ? rng.below(80) : 63 + rng.below(4);
      for (let j = 0; j < n; j++) {
        buf[j] = rng.below(4) === 0 ? rng.next() & 0xff : hex[rng.below(hex.length)];
      }
    }
    const r = parseKeyFile(buf.subarray(0, n));
    if (r.ok) {
      accepted++;
      assert.equal(r.value.length, 32);
    } else {
      assert.match(r.error, /hex|newline|bytes|empty/);
    }
  }
  assert.ok(accepted > 0, "some inputs were valid key files");
  for (let i = 0; i < ROUNDS; i++) {
    const n = rng.below(8) === 0 ? rng.below(9) : 4;
    rng.fill(buf, 0, n);
    const r = nextNoncePrefix(buf.subarray(0, n));
    if (r.ok) assert.ok(r.prefix >= 1 && r.prefix <= 0xffffffff && r.after.length === 4);
    else assert.match(r.error, /exactly 4 bytes|overflow/);
  }
});
