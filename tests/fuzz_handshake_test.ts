/**
 * Fuzzing the current format's handshake messages through the engine's
 * public interface: a million initiations, responses and cookie replies,
 * random or mutated from valid ones, including forgeries by someone who
 * knows both public keys (a valid mac1 over changed bytes) and holds the
 * responder's cookie (a valid mac2 too). Nothing may throw or reach the TAP,
 * every input must be counted (as a drop or as a handshake outcome), and the
 * handshake that was in flight must still complete afterwards.
 */

import { strict as assert } from "node:assert";
import { CurrentEngine } from "../core/current_engine.ts";
import { cookieKey, DATA, INIT, mac1Key, RESP, Type, writeMac } from "../core/current_wire.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { generateKeyPair } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import { big } from "../ffi/big.ts";
import { sodium } from "../ffi/sodium.ts";
import { Rng } from "./_fuzz.ts";

const ROUNDS = 1_000_000;
/** Fake time advances by 1 s every this many inputs. */
const PER_SECOND = 10_000;
const A_ADDR: Endpoint = { hostname: "198.18.66.1", port: 1011 };
const B_ADDR: Endpoint = { hostname: "198.18.66.2", port: 1012 };

/** The counters that say what became of a received datagram other than a
 * drop: none of them puts a frame on the TAP. */
const OUTCOMES = ["rxKeepalives", "hsInitRecv", "hsRespRecv", "hsCookieRecv"] as const;

function accounted(e: CurrentEngine): number {
  let n = e.stats.rxDropped;
  for (const k of OUTCOMES) n += e.stats[k];
  return n;
}

/** A message family: the valid message, where its mac1 and mac2 are (0 for
 * a cookie reply) and the receiver's mac1 key and cookie, when known. */
interface Family {
  valid: Uint8Array;
  mac1: number;
  mac1Key: Uint8Array;
  cookie?: Uint8Array;
  /** False when a copy with only its mac2 changed is still valid (a
   * response: mac2 matters only under load). */
  mac2Guards: boolean;
}

/** XORs 1 to 4 consecutive bytes of `buf[from, to)` with `mask` (not 0):
 * distinct bytes, so the input surely differs from what it was. */
function changeRun(rng: Rng, buf: Uint8Array, from: number, to: number, mask: number): void {
  const n = Math.min(1 + rng.below(4), to - from);
  const at = from + rng.below(to - from - n + 1);
  for (let i = at; i < at + n; i++) buf[i] ^= mask;
}

/**
 * One fuzz input for family `f` in `buf`, of the returned length: random
 * bytes; the right type and length with random contents; the valid message
 * with flipped bits, cut short or extended; replayed or with mac2 flipped
 * (when that makes it invalid); or a forgery with a valid mac1 (and mac2,
 * when the cookie is known) over changed bytes.
 */
function handshakeInput(rng: Rng, buf: Uint8Array, f: Family): number {
  const v = f.valid;
  // Kinds 10 and above pass mac1, so cost the receiver more: keep them rarer.
  switch (rng.below(12)) {
    case 0:
    case 1: {
      const n = rng.below(200);
      rng.fill(buf, 0, n);
      return n;
    }
    case 2:
    case 3:
      rng.fill(buf, 1, v.length);
      buf[0] = v[0];
      return v.length;
    case 4:
    case 5:
    case 6: { // bit flips, not in a response's mac2 (that copy would be valid)
      buf.set(v);
      const span = f.mac2Guards || f.mac1 === 0 ? v.length : f.mac1 + 16;
      changeRun(rng, buf, 0, span, 1 << rng.below(8));
      return v.length;
    }
    case 7:
    case 8: {
      buf.set(v);
      const n = rng.below(2) === 0 ? rng.below(v.length) : v.length + 1 + rng.below(64);
      rng.fill(buf, v.length, n);
      return n;
    }
    case 9:
      buf.set(v);
      if (f.mac1 > 0 && !f.mac2Guards) buf[rng.below(f.mac1)] ^= 1 << rng.below(8);
      return v.length;
    case 10:
      buf.set(v);
      if (f.mac1 > 0 && f.mac2Guards) buf[f.mac1 + 16 + rng.below(16)] ^= 1 << rng.below(8);
      else if (f.mac1 > 0) buf[rng.below(f.mac1)] ^= 1 << rng.below(8);
      return v.length;
    default: { // a forgery: changed bytes under a valid mac1 (and mac2)
      buf.set(v);
      if (f.mac1 === 0) {
        buf[4 + rng.below(v.length - 4)] ^= 1 << rng.below(8);
        return v.length;
      }
      // A response's sender index and zero byte are outside Noise: changed
      // under a valid mac1 it still completes the handshake (§3), so only
      // an initiation's header is forged here.
      const from = f.mac2Guards && rng.below(2) === 0 ? 1 : 4;
      changeRun(rng, buf, from, f.mac1, 1 + rng.below(255));
      const msg = buf.subarray(0, v.length);
      writeMac(msg, f.mac1, f.mac1Key);
      if (f.cookie !== undefined && rng.below(2) === 0) writeMac(msg, f.mac1 + 16, f.cookie);
      return v.length;
    }
  }
}

Deno.test("fuzz: a million handshake messages: no exception, nothing delivered, every input counted", () => {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  let now = 1e9;
  const eph = generateKeyPair();
  const mk = (me: typeof ka, them: typeof ka, peer?: Endpoint) =>
    new CurrentEngine({
      secretKey: me.secretKey,
      peerPublic: them.publicKey,
      peer,
      now,
      wallClock: () => 1.8e12,
      generateKeyPair: () => ({ publicKey: eph.publicKey.slice(), secretKey: eph.secretKey.slice() }),
    });
  const a = mk(ka, kb, B_ADDR); // the initiator: its initiation stays pending
  const b = mk(kb, ka); // the responder
  const buf = new PacketBuffer(DATA.HEADER);
  const take = (e: CurrentEngine) => buf.bytes.slice(0, e.nextControl(buf, now));
  const give = (e: CurrentEngine, m: Uint8Array, from: Endpoint) => {
    buf.bytes.set(m);
    return e.open(buf, m.length, from, now);
  };
  const initiation = take(a);
  assert.equal(initiation[0], Type.Initiation);
  // b answers the first copy; the next copies are stale, and the twelfth
  // arrives under load: b answers it with a cookie reply.
  let response: Uint8Array | undefined;
  let cookieReply: Uint8Array | undefined;
  for (let i = 0; i < 12; i++) {
    give(b, initiation, A_ADDR);
    for (let m; (m = take(b)).length > 0;) {
      if (m[0] === Type.Response) response = m;
      if (m[0] === Type.Cookie) cookieReply = m;
    }
  }
  assert.ok(response && cookieReply, "a response and a cookie reply to fuzz from");
  // b's cookie for A_ADDR, as its holder reads it from the reply.
  const cookie = new Uint8Array(16);
  assert.equal(
    sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      cookie,
      null,
      null,
      cookieReply.subarray(28),
      big(32),
      initiation.subarray(INIT.MAC1, INIT.MAC1 + 16),
      big(16),
      cookieReply.subarray(4, 28),
      cookieKey(kb.publicKey),
    ),
    0,
  );
  const families: [Family, CurrentEngine, Endpoint][] = [
    [
      { valid: initiation, mac1: INIT.MAC1, mac1Key: mac1Key(kb.publicKey), cookie, mac2Guards: true },
      b,
      A_ADDR,
    ],
    [{ valid: response, mac1: RESP.MAC1, mac1Key: mac1Key(ka.publicKey), mac2Guards: false }, a, B_ADDR],
    [{ valid: cookieReply, mac1: 0, mac1Key: new Uint8Array(0), mac2Guards: false }, a, B_ADDR],
  ];
  const aBefore = accounted(a);
  const bBefore = accounted(b);
  const aIn = a.stats.rxDatagrams;
  const bIn = b.stats.rxDatagrams;
  const rng = new Rng(0xf00d);
  let delivered = 0;
  let toA = 0;
  for (let i = 0; i < ROUNDS; i++) {
    if (i % PER_SECOND === 0) now += 1e9;
    const [family, engine, from] = families[i % 3];
    const n = handshakeInput(rng, buf.bytes, family);
    if (engine.open(buf, n, from, now) >= 0) delivered++;
    if (engine === a) toA++;
    while (engine.hasControl) engine.nextControl(buf, now); // cookie replies under load
  }
  assert.equal(delivered, 0, "no fuzz input was delivered");
  assert.equal(a.stats.rxDatagrams - aIn, toA);
  assert.equal(b.stats.rxDatagrams - bIn, ROUNDS - toA);
  assert.equal(accounted(a) - aBefore, toA, "every input to the initiator was counted");
  assert.equal(accounted(b) - bBefore, ROUNDS - toA, "every input to the responder was counted");
  assert.equal(a.stats.hsRespRecv + b.stats.hsInitRecv, 1, "no handshake completed but the first answer");
  assert.ok(a.stats.dropHandshake > 0 && b.stats.dropHandshake > 0, "forgeries reached the Noise layer");
  assert.ok(a.stats.dropUnderLoad > 0 && b.stats.dropUnderLoad > 0, "both went under load");
  assert.equal(a.established || b.established, false);

  // The handshake in flight survived: b's answer still completes it.
  now += 2e9;
  give(a, response, B_ADDR);
  assert.equal(a.stats.hsRespRecv, 1);
  assert.ok(a.established);
  give(b, take(a), A_ADDR); // the keepalive that confirms b's session
  assert.ok(b.established);
  buf.payload.fill(9, 0, 64);
  const sealed = a.seal(buf, 64, now);
  assert.equal(b.open(buf, sealed, A_ADDR, now), 64, "the session carries traffic");
  a.close();
  b.close();
});

Deno.test("fuzz: forged initiations from many sources of one /64 under load cost bounded work", () => {
  // Every one has a valid mac1 and no valid mac2: under load each gets a
  // cookie reply, never a Diffie-Hellman, and is counted.
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const now = 1e9;
  const b = new CurrentEngine({ secretKey: kb.secretKey, peerPublic: ka.publicKey, now, wallClock: () => 0 });
  const buf = new PacketBuffer(DATA.HEADER);
  const rng = new Rng(0xab);
  const key = mac1Key(kb.publicKey);
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    rng.fill(buf.bytes, 1, INIT.LENGTH);
    buf.bytes[0] = Type.Initiation;
    writeMac(buf.bytes.subarray(0, INIT.LENGTH), INIT.MAC1, key);
    const from = { hostname: `2001:2::${(i % 65536).toString(16)}`, port: 1000 + (i % 5000) };
    assert.equal(b.open(buf, INIT.LENGTH, from, now), -1);
    while (b.hasControl) b.nextControl(buf, now);
  }
  assert.equal(accounted(b), N, "every input was counted");
  assert.ok(
    b.stats.dropHandshake <= 10,
    `at most the first 10 reach the Noise layer (${b.stats.dropHandshake})`,
  );
  assert.equal(b.stats.dropUnderLoad, N - b.stats.dropHandshake - b.stats.dropUnknownPeer);
  b.close();
});
