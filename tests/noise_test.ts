/**
 * Noise (25519 / ChaChaPoly / BLAKE2b) against the cacophony vectors
 * (tests/vectors/noise-25519-chachapoly-blake2b.json), plus failure cases
 * and HMAC / HKDF sanity checks.
 */

import { strict as assert } from "node:assert";
import {
  BLOCKLEN,
  CipherState,
  dh,
  generateKeyPair,
  HandshakeState,
  hash,
  HASHLEN,
  hkdf,
  hmac,
  keyPairFromSecret,
  type PatternName,
  PATTERNS,
  protocolName,
  SymmetricState,
} from "../core/noise.ts";
import { hex, readJson, toHex } from "./_util.ts";

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  init_psks?: string[];
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral: string;
  resp_remote_static?: string;
  resp_psks?: string[];
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const V = readJson<{ vectors: Vector[] }>("vectors/noise-25519-chachapoly-blake2b.json").vectors;

function patternOf(v: Vector): PatternName {
  const m = /^Noise_([A-Za-z0-9]+)_25519_ChaChaPoly_BLAKE2b$/.exec(v.protocol_name);
  assert.ok(m, `unexpected protocol ${v.protocol_name}`);
  assert.ok(m[1] in PATTERNS, `pattern ${m[1]} not implemented`);
  return m[1] as PatternName;
}

function onePsk(psks: string[] | undefined): Uint8Array | undefined {
  if (psks === undefined) return undefined;
  assert.equal(psks.length, 1, "one psk per vector");
  return hex(psks[0]);
}

function sides(v: Vector, overrides: { respPsk?: Uint8Array } = {}): [HandshakeState, HandshakeState] {
  const pattern = patternOf(v);
  const noGen = () => {
    throw new Error("vectors inject every ephemeral");
  };
  /** One side's state from its `prologue`, `s`, `e`, `rs` (hex) and PSK. */
  const state = (
    initiator: boolean,
    prologue: string,
    s: string | undefined,
    e: string,
    rs: string | undefined,
    psk: Uint8Array | undefined,
  ) =>
    new HandshakeState({
      pattern,
      initiator,
      prologue: hex(prologue),
      s: s ? keyPairFromSecret(hex(s)) : undefined,
      e: keyPairFromSecret(hex(e)),
      rs: rs ? hex(rs) : undefined,
      psk,
      generateKeyPair: noGen,
    });
  return [
    state(true, v.init_prologue, v.init_static, v.init_ephemeral, v.init_remote_static, onePsk(v.init_psks)),
    state(
      false,
      v.resp_prologue,
      v.resp_static,
      v.resp_ephemeral,
      v.resp_remote_static,
      overrides.respPsk ?? onePsk(v.resp_psks),
    ),
  ];
}

assert.equal(V.length, 4);

for (const v of V) {
  Deno.test(`noise vector ${v.protocol_name}`, () => {
    assert.equal(protocolName(patternOf(v)), v.protocol_name);
    const [init, resp] = sides(v);
    const handshakeLength = PATTERNS[patternOf(v)].messages.length;
    let i = 0;
    for (; i < handshakeLength; i++) {
      const m = v.messages[i];
      const [writer, reader] = i % 2 === 0 ? [init, resp] : [resp, init];
      assert.ok(writer.isMyTurn && !reader.isMyTurn);
      const ct = writer.writeMessage(hex(m.payload));
      assert.equal(toHex(ct), m.ciphertext, `handshake message ${i}`);
      const pt = reader.readMessage(ct);
      assert.ok(pt !== null, `handshake message ${i} rejected`);
      assert.equal(toHex(pt), m.payload);
    }
    assert.ok(init.complete && resp.complete);
    assert.equal(toHex(init.handshakeHash), v.handshake_hash);
    assert.equal(toHex(resp.handshakeHash), v.handshake_hash);
    if (v.resp_static) {
      assert.equal(toHex(init.remoteStatic!), toHex(keyPairFromSecret(hex(v.resp_static)).publicKey));
    }
    if (v.init_static) {
      assert.equal(toHex(resp.remoteStatic!), toHex(keyPairFromSecret(hex(v.init_static)).publicKey));
    }

    const [i2r, r2i] = init.split();
    const [ri2r, rr2i] = resp.split();
    assert.equal(toHex(i2r.key), toHex(ri2r.key));
    assert.equal(toHex(r2i.key), toHex(rr2i.key));
    assert.notEqual(toHex(i2r.key), toHex(r2i.key));
    const empty = new Uint8Array(0);
    for (; i < v.messages.length; i++) {
      const m = v.messages[i];
      const [send, recv] = i % 2 === 0 ? [i2r, ri2r] : [rr2i, r2i];
      const ct = send.encryptWithAd(empty, hex(m.payload));
      assert.equal(toHex(ct), m.ciphertext, `transport message ${i}`);
      const pt = recv.decryptWithAd(empty, ct);
      assert.ok(pt !== null, `transport message ${i} rejected`);
      assert.equal(toHex(pt), m.payload);
    }
    // split() erased the handshakes; the hash stays readable.
    assert.equal(toHex(init.handshakeHash), v.handshake_hash);
    assert.throws(() => init.split());
    for (const c of [i2r, r2i, ri2r, rr2i]) c.erase();
    assert.throws(() => i2r.encryptWithAd(empty, empty));
  });
}

/** Runs the vector's handshake, flipping one bit of message `tamper` (when
 * given); returns the index of the first message the reader rejected, or -1. */
function runHandshake(v: Vector, tamper?: { message: number; byte: number }, respPsk?: Uint8Array): number {
  const [init, resp] = sides(v, { respPsk });
  const n = PATTERNS[patternOf(v)].messages.length;
  for (let i = 0; i < n; i++) {
    const [writer, reader] = i % 2 === 0 ? [init, resp] : [resp, init];
    const ct = writer.writeMessage(hex(v.messages[i].payload));
    if (tamper?.message === i) ct[tamper.byte < 0 ? ct.length + tamper.byte : tamper.byte] ^= 0x01;
    if (reader.readMessage(ct) === null) {
      assert.ok(!reader.complete);
      assert.throws(() => reader.readMessage(ct), /failed/);
      assert.throws(() => reader.split());
      return i;
    }
  }
  return -1;
}

Deno.test("noise: every vector's handshake completes untampered", () => {
  for (const v of V) assert.equal(runHandshake(v), -1, v.protocol_name);
});

Deno.test("noise: a tampered handshake message makes readMessage return null", () => {
  for (const v of V) {
    const n = PATTERNS[patternOf(v)].messages.length;
    for (let m = 0; m < n; m++) {
      // The last byte is in the tag of the payload, which every message has
      // once a key is set; NN's and XX's first message have no key yet, so
      // tamper with the ephemeral key instead: it breaks the next message.
      const unauthenticated = m === 0 && (patternOf(v) === "NN" || patternOf(v) === "XX");
      if (unauthenticated) {
        assert.equal(runHandshake(v, { message: m, byte: 0 }), 1, `${v.protocol_name} e of message 0`);
      } else {
        assert.equal(runHandshake(v, { message: m, byte: -1 }), m, `${v.protocol_name} tag of message ${m}`);
        assert.equal(runHandshake(v, { message: m, byte: 0 }), m, `${v.protocol_name} e of message ${m}`);
      }
    }
  }
});

Deno.test("noise: truncated and oversized handshake messages are rejected", () => {
  const v = V.find((x) => x.protocol_name.includes("_IK_"))!;
  for (const len of [0, 31, 32, 47, 48, 111]) {
    const [init, resp] = sides(v);
    const ct = init.writeMessage(hex(v.messages[0].payload));
    assert.equal(resp.readMessage(ct.subarray(0, len)), null, `length ${len}`);
  }
  const [, resp] = sides(v);
  assert.equal(resp.readMessage(new Uint8Array(65536)), null);
});

Deno.test("noise: a wrong psk fails the IKpsk2 handshake at the responder's message", () => {
  const v = V.find((x) => x.protocol_name.includes("IKpsk2"))!;
  const wrong = hex(v.resp_psks![0]);
  wrong[31] ^= 0x80;
  // The psk is mixed in at the end of message 1: the initiator rejects it.
  assert.equal(runHandshake(v, undefined, wrong), 1);
});

Deno.test("noise: a low-order ephemeral key from the peer is rejected", () => {
  const v = V[0]; // NN
  const [, resp] = sides(v);
  const msg = new Uint8Array(32); // e = 0, a low-order point
  assert.equal(resp.readMessage(msg), null);
  const lowOrder = hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
  assert.equal(dh(generateKeyPair().secretKey, lowOrder), null);
  assert.throws(
    () =>
      new HandshakeState({
        pattern: "IK",
        initiator: true,
        prologue: new Uint8Array(0),
        s: generateKeyPair(),
        rs: lowOrder,
      }),
    RangeError,
  );
});

Deno.test("noise: generated keys make a full IKpsk2 round trip", () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const psk = new Uint8Array(32).fill(7);
  const prologue = new TextEncoder().encode("tappet");
  const init = new HandshakeState({
    pattern: "IKpsk2",
    initiator: true,
    prologue,
    s: a,
    rs: b.publicKey,
    psk,
  });
  const resp = new HandshakeState({ pattern: "IKpsk2", initiator: false, prologue, s: b, psk });
  const m1 = init.writeMessage(new Uint8Array(0));
  assert.equal(m1.length, 32 + 48 + 16);
  assert.deepEqual(resp.readMessage(m1), new Uint8Array(0));
  assert.deepEqual(resp.remoteStatic, a.publicKey);
  const m2 = resp.writeMessage(Uint8Array.of(1, 2, 3));
  assert.equal(m2.length, 32 + 3 + 16);
  assert.deepEqual(init.readMessage(m2), Uint8Array.of(1, 2, 3));
  assert.deepEqual(init.handshakeHash, resp.handshakeHash);
  const [ia, ib] = init.split();
  const [ra, rb] = resp.split();
  const ad = Uint8Array.of(9);
  assert.deepEqual(ra.decryptWithAd(ad, ia.encryptWithAd(ad, Uint8Array.of(4))), Uint8Array.of(4));
  assert.deepEqual(ib.decryptWithAd(ad, rb.encryptWithAd(ad, Uint8Array.of(5))), Uint8Array.of(5));
  // Out-of-turn and post-completion calls are programming errors.
  assert.throws(() => init.writeMessage(new Uint8Array(0)));
  // Our keys were copied: erasing the handshakes left them intact.
  assert.deepEqual(keyPairFromSecret(a.secretKey).publicKey, a.publicKey);
  assert.deepEqual(psk, new Uint8Array(32).fill(7));
});

Deno.test("noise: construction checks the keys the pattern needs", () => {
  const p = new Uint8Array(0);
  const k = generateKeyPair();
  assert.throws(() => new HandshakeState({ pattern: "IK", initiator: true, prologue: p, s: k }), RangeError);
  assert.throws(() => new HandshakeState({ pattern: "XX", initiator: false, prologue: p }), RangeError);
  assert.throws(
    () => new HandshakeState({ pattern: "XX", initiator: true, prologue: p, s: k, rs: k.publicKey }),
    RangeError,
  );
  assert.throws(
    () => new HandshakeState({ pattern: "IKpsk2", initiator: false, prologue: p, s: k }),
    RangeError,
  );
  assert.throws(
    () => new HandshakeState({ pattern: "NN", initiator: true, prologue: p, psk: new Uint8Array(32) }),
    RangeError,
  );
  assert.throws(
    () =>
      new HandshakeState({
        pattern: "XX",
        initiator: true,
        prologue: p,
        s: { publicKey: generateKeyPair().publicKey, secretKey: k.secretKey },
      }),
    RangeError,
  );
  const nn = new HandshakeState({ pattern: "NN", initiator: false, prologue: p });
  assert.throws(() => nn.writeMessage(p), /turn/);
});

Deno.test("noise: CipherState nonce, failure and passthrough rules", () => {
  const empty = new CipherState();
  assert.ok(!empty.hasKey());
  assert.deepEqual(empty.encryptWithAd(Uint8Array.of(1), Uint8Array.of(2, 3)), Uint8Array.of(2, 3));
  assert.throws(() => empty.key);

  const key = new Uint8Array(32).fill(0x42);
  const a = new CipherState(key);
  const b = new CipherState(key);
  key.fill(0); // copied
  const ad = new Uint8Array(0);
  const c0 = a.encryptWithAd(ad, Uint8Array.of(1));
  const c1 = a.encryptWithAd(ad, Uint8Array.of(1));
  assert.notDeepEqual(c0, c1);
  assert.equal(a.n, 2);
  assert.equal(b.decryptWithAd(ad, c1), null, "wrong nonce");
  assert.equal(b.n, 0, "n not advanced on failure");
  assert.equal(b.decryptWithAd(ad, c0.subarray(0, 15)), null, "shorter than a tag");
  assert.deepEqual(b.decryptWithAd(ad, c0), Uint8Array.of(1));
  assert.equal(b.n, 1);
  // The nonce is 4 zero bytes || n little-endian: a high n round-trips.
  a.n = 2 ** 40 + 5;
  b.n = 2 ** 40 + 5;
  assert.deepEqual(b.decryptWithAd(ad, a.encryptWithAd(ad, Uint8Array.of(7))), Uint8Array.of(7));
  a.n = Number.MAX_SAFE_INTEGER;
  a.encryptWithAd(ad, ad);
  assert.throws(() => a.encryptWithAd(ad, ad), RangeError);
  assert.throws(() => (a.n = -1), RangeError);
  // Rekey changes the key the same way on both sides.
  const x = new CipherState(new Uint8Array(32).fill(1));
  const y = new CipherState(new Uint8Array(32).fill(1));
  x.rekey();
  y.rekey();
  assert.deepEqual(x.key, y.key);
  assert.notDeepEqual(x.key, new Uint8Array(32).fill(1));
  assert.deepEqual(y.decryptWithAd(ad, x.encryptWithAd(ad, Uint8Array.of(8))), Uint8Array.of(8));
});

Deno.test("noise: hash is BLAKE2b-512", () => {
  // RFC 7693 Appendix A: BLAKE2b-512("abc").
  assert.equal(
    toHex(hash(new TextEncoder().encode("abc"))),
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" +
      "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
  );
  assert.deepEqual(hash(Uint8Array.of(1, 2), Uint8Array.of(3)), hash(Uint8Array.of(1, 2, 3)));
  assert.equal(hash().length, HASHLEN);
});

/** HMAC spelled out from RFC 2104, for comparison. */
function referenceHmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(BLOCKLEN);
  k.set(key.length > BLOCKLEN ? hash(key) : key);
  return hash(k.map((x) => x ^ 0x5c), hash(k.map((x) => x ^ 0x36), data));
}

Deno.test("noise: hmac follows RFC 2104 with a 128-byte block", () => {
  const data = new TextEncoder().encode("what do ya want for nothing?");
  for (const len of [0, 20, 64, 127, 128, 129, 200]) {
    const key = new Uint8Array(len).map((_, i) => i * 7 + 1);
    assert.deepEqual(hmac(key, data), referenceHmac(key, data), `key length ${len}`);
  }
  // A key longer than 128 bytes is replaced by its hash.
  const long = new Uint8Array(129).fill(0xaa);
  assert.deepEqual(hmac(long, data), hmac(hash(long), data));
  // A key of 128 bytes or fewer is not: only zero-padded.
  const k128 = new Uint8Array(128).fill(0xaa);
  assert.notDeepEqual(hmac(k128, data), hmac(hash(k128), data));
  assert.deepEqual(hmac(Uint8Array.of(1, 2), data), hmac(Uint8Array.of(1, 2, 0, 0), data));
  // Parts are concatenated.
  assert.deepEqual(hmac(k128, data.subarray(0, 5), data.subarray(5)), hmac(k128, data));
});

Deno.test("noise: hkdf chains hmac as in the spec", () => {
  const ck = new Uint8Array(64).fill(3);
  const ikm = new Uint8Array(32).fill(4);
  const [o1, o2] = hkdf(ck, ikm, 2);
  const temp = hmac(ck, ikm);
  assert.deepEqual(o1, hmac(temp, Uint8Array.of(1)));
  assert.deepEqual(o2, hmac(temp, o1, Uint8Array.of(2)));
  const three = hkdf(ck, ikm, 3);
  assert.equal(three.length, 3);
  assert.deepEqual(three[0], o1);
  assert.deepEqual(three[1], o2);
  assert.deepEqual(three[2], hmac(temp, o2, Uint8Array.of(3)));
  assert.equal(hkdf(ck, new Uint8Array(0), 2).length, 2);
});

Deno.test("noise: SymmetricState pads short protocol names and hashes long ones", () => {
  const name = "Noise_NN_25519_ChaChaPoly_BLAKE2b";
  const padded = new Uint8Array(64);
  padded.set(new TextEncoder().encode(name));
  assert.deepEqual(new SymmetricState(name).getHandshakeHash(), padded);
  const long = "Noise_" + "X".repeat(80);
  assert.deepEqual(new SymmetricState(long).getHandshakeHash(), hash(new TextEncoder().encode(long)));
  const ss = new SymmetricState(name);
  assert.ok(!ss.hasKey());
  assert.deepEqual(ss.encryptAndHash(Uint8Array.of(1)), Uint8Array.of(1));
  ss.mixKey(new Uint8Array(32));
  assert.ok(ss.hasKey());
  assert.equal(ss.encryptAndHash(Uint8Array.of(1)).length, 17);
});
