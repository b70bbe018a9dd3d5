/**
 * The current format's vectors from an independent implementation written
 * from docs/PROTOCOL.md alone (../shared/vectors/current.json, read at run
 * time from beside the repository): every byte string is recomputed from its
 * inputs with the project's primitives (Noise layer, mac and cookie helpers,
 * libsodium), and the handshake, cookie and refusal vectors are also played
 * through the engine's public interface.
 */

import { strict as assert } from "node:assert";
import { CurrentEngine } from "../core/current_engine.ts";
import {
  blake2b,
  cookieKey,
  DATA,
  mac1Key,
  PROLOGUE,
  writeDataHeader,
  writeMac,
} from "../core/current_wire.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { HandshakeState, type KeyPair, keyPairFromSecret, protocolName } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import { writeTai64n } from "../core/tai64n.ts";
import { big } from "../ffi/big.ts";
import { sodium } from "../ffi/sodium.ts";
import { hex, readShared, SHARED_VECTORS, toHex } from "./_util.ts";

const PATH = new URL("current.json", SHARED_VECTORS);

// deno-lint-ignore no-explicit-any
type Json = any;
const file: Json | undefined = readShared("current.json");
const absent = file === undefined;
const test = (name: string, fn: () => void) =>
  Deno.test({
    name: absent ? `shared vectors: SKIPPED, ${PATH.pathname} is absent: ${name}` : `shared vectors: ${name}`,
    ignore: absent,
    fn,
  });

const V: Json = file ?? { inputs: {}, vectors: [], section7: { inputs: {}, vectors: [] } };
const all: Json[] = [...V.vectors, ...V.section7.vectors];
const byId = (id: string): Json => {
  const v = all.find((x) => x.id === id);
  assert.ok(v, `vector ${id} is in the file`);
  return v;
};
const enc = new TextEncoder();
const FROM: Endpoint = { hostname: "198.18.7.1", port: 51000 };
const TO: Endpoint = { hostname: "198.18.7.2", port: 51001 };
const T0 = 10e9;

/** Inputs of one handshake: the main set or §7's. */
function inputsOf(handshakeId: string): Json {
  return handshakeId.startsWith("s7.") ? V.section7.inputs : V.inputs;
}
const pair = (x: { secret: string }): KeyPair => keyPairFromSecret(hex(x.secret));

/** A CurrentEngine for one side of handshake `h` with inputs `I`, with
 * the ephemerals, indices and wall clocks given in order. */
function engine(I: Json, psk: string, initiator: boolean, eph: Json[], idx: number[], ms: number[]) {
  const me = initiator ? I.initiator_static : I.responder_static;
  const them = initiator ? I.responder_static : I.initiator_static;
  let e = 0, i = 0, w = 0;
  return new CurrentEngine({
    secretKey: hex(me.secret),
    peerPublic: hex(them.public),
    psk: hex(psk),
    peer: initiator ? TO : undefined,
    now: T0,
    wallClock: () => ms[Math.min(w++, ms.length - 1)],
    generateKeyPair: () => pair(eph[Math.min(e++, eph.length - 1)]),
    randomIndex: () => idx[Math.min(i++, idx.length - 1)],
    random: () => 0,
  });
}
const buf = new PacketBuffer(DATA.HEADER);
function take(e: CurrentEngine, now = T0): string {
  return toHex(buf.bytes.subarray(0, e.nextControl(buf, now)));
}
function give(e: CurrentEngine, bytes: string, from = FROM, now = T0): number {
  const b = hex(bytes);
  buf.bytes.set(b);
  return e.open(buf, b.length, from, now);
}

test("inputs: secrets from their labels, publics by X25519, timestamps by TAI64N, mac1 and cookie keys", () => {
  const I = V.inputs;
  for (const k of ["initiator_static", "responder_static", "initiator_ephemeral", "responder_ephemeral"]) {
    const out = new Uint8Array(32);
    blake2b(out, enc.encode(I[k].label));
    assert.equal(toHex(out), I[k].secret, k);
    assert.equal(toHex(pair(I[k]).publicKey), I[k].public, k);
  }
  for (const k of ["psk", "cookie_secret", "cookie_nonce"]) {
    const out = new Uint8Array(k === "cookie_nonce" ? 24 : 32);
    blake2b(out, enc.encode(I[k].label));
    assert.equal(toHex(out), I[k].value, k);
  }
  for (const t of [I.timestamp, I.retry_timestamp, V.section7.inputs.timestamp]) {
    assert.equal(t.unix_ms, Date.parse(t.utc));
    const ts = new Uint8Array(12);
    writeTai64n(ts, t.unix_ms);
    assert.equal(toHex(ts), t.tai64n, t.utc);
    // The spec's formula, by hand: 2^62 + 10 + Unix seconds (BE u64) || ns (BE u32).
    const secs = (2n ** 62n + 10n + BigInt(t.unix_seconds)).toString(16).padStart(16, "0");
    assert.equal(secs + t.nanoseconds.toString(16).padStart(8, "0"), t.tai64n);
  }
  assert.equal(V.inputs.protocol_name, protocolName("IKpsk2"));
  assert.equal(V.inputs.prologue_hex, toHex(PROLOGUE));
  const d = V.derived;
  assert.equal(toHex(mac1Key(hex(I.initiator_static.public))), d.mac1_key_initiator);
  assert.equal(toHex(mac1Key(hex(I.responder_static.public))), d.mac1_key_responder);
  assert.equal(toHex(cookieKey(hex(I.initiator_static.public))), d.cookie_key_initiator);
  assert.equal(toHex(cookieKey(hex(I.responder_static.public))), d.cookie_key_responder);
});

/** Recomputes handshake vector `h` with the Noise layer and the mac helpers;
 * returns the transport keys. */
function noiseHandshake(h: Json): { i2r: Uint8Array; r2i: Uint8Array } {
  const I = inputsOf(h.id);
  const ts = new Uint8Array(12);
  writeTai64n(ts, I.timestamp.unix_ms);
  const common = { pattern: "IKpsk2" as const, prologue: PROLOGUE, psk: hex(h.psk) };
  const ini = new HandshakeState({
    ...common,
    initiator: true,
    s: pair(I.initiator_static),
    rs: hex(I.responder_static.public),
    e: pair(I.initiator_ephemeral),
  });
  const init = new Uint8Array(144);
  init.set([1, I.initiator_index, 0, 0]);
  init.set(ini.writeMessage(ts), 4);
  writeMac(init, 112, mac1Key(hex(I.responder_static.public)));
  assert.equal(toHex(init), h.initiation, `${h.id}: initiation`);
  const fields = Object.values(h.initiation_fields).join("") + Object.values(h.response_fields).join("");
  assert.equal(fields, h.initiation + h.response, `${h.id}: the fields are the messages`);
  const res2 = new HandshakeState({
    ...common,
    initiator: false,
    s: pair(I.responder_static),
    e: pair(I.responder_ephemeral),
  });
  assert.equal(toHex(res2.readMessage(init.subarray(4, 112))!), I.timestamp.tai64n, `${h.id}: payload`);
  assert.equal(toHex(res2.remoteStatic!), I.initiator_static.public);
  const resp = new Uint8Array(84);
  resp.set([2, I.responder_index, I.initiator_index, 0]);
  resp.set(res2.writeMessage(new Uint8Array(0)), 4);
  writeMac(resp, 52, mac1Key(hex(I.initiator_static.public)));
  assert.equal(toHex(resp), h.response, `${h.id}: response`);
  assert.equal(ini.readMessage(resp.subarray(4, 52))?.length, 0, `${h.id}: the initiator reads it`);
  assert.equal(toHex(ini.handshakeHash), h.handshake_hash);
  assert.equal(toHex(res2.handshakeHash), h.handshake_hash);
  const [a, b] = ini.split();
  const [c, d] = res2.split();
  assert.equal(toHex(a.key), h.k_i2r);
  assert.equal(toHex(b.key), h.k_r2i);
  assert.deepEqual([c.key, d.key], [a.key, b.key]);
  return { i2r: a.key, r2i: b.key };
}

test("handshakes without and with a PSK, and §7's: the Noise layer makes every byte and key", () => {
  for (const id of ["handshake.nopsk", "handshake.psk", "s7.handshake"]) noiseHandshake(byId(id));
  // In IKpsk2 the PSK enters at the response only.
  assert.equal(byId("handshake.nopsk").initiation, byId("handshake.psk").initiation);
});

test("handshakes through the engines: the same initiation, response and confirming keepalive", () => {
  for (
    const [id, ka] of [["handshake.nopsk", "data.nopsk.i2r.c0.keepalive"], [
      "handshake.psk",
      "data.psk.i2r.c0.keepalive",
    ], ["s7.handshake", "s7.keepalive_i2r"]]
  ) {
    const h = byId(id);
    const I = inputsOf(id);
    const ini = engine(I, h.psk, true, [I.initiator_ephemeral], [I.initiator_index], [I.timestamp.unix_ms]);
    const res = engine(I, h.psk, false, [I.responder_ephemeral], [I.responder_index], [0]);
    assert.equal(take(ini), h.initiation, id);
    assert.equal(give(res, h.initiation), -1);
    assert.equal(take(res), h.response, id);
    assert.equal(give(ini, h.response, TO), -1);
    assert.equal(ini.stats.handshakes, 1, id);
    // The initiator confirms the session at once (§3), with a keepalive.
    assert.equal(take(ini), byId(ka).datagram, `${id}: the keepalive of counter 0`);
    assert.equal(give(res, byId(ka).datagram), -1);
    assert.ok(res.established && res.stats.rxKeepalives === 1, `${id}: the responder confirms`);
    ini.close();
    res.close();
  }
});

test("transport datagrams: header, AEAD nonce and ciphertext from key, index, counter and frame", () => {
  const keys = new Map<string, { i2r: Uint8Array; r2i: Uint8Array }>();
  let n = 0;
  for (const v of all.filter((x) => x.kind === "data")) {
    const session = byId(v.session);
    if (!keys.has(v.session)) keys.set(v.session, noiseHandshake(session));
    const key = keys.get(v.session)![v.direction as "i2r" | "r2i"];
    assert.equal(toHex(key), v.key, v.id);
    const I = inputsOf(v.session);
    assert.equal(v.receiver_index, v.direction === "i2r" ? I.responder_index : I.initiator_index);
    const frame = hex(v.frame);
    assert.equal(frame.length, v.frame_length);
    assert.equal(toHex(seal(key, v.receiver_index, v.counter, frame)), v.datagram, v.id);
    assert.equal(v.datagram.length / 2, v.datagram_length);
    assert.equal(v.datagram.slice(0, 16), v.header);
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(4, BigInt(v.counter), true);
    assert.equal(toHex(nonce), v.aead_nonce, v.id);
    n++;
  }
  assert.equal(n, 29, "every data vector was recomputed (26 and §7's 3)");
});

/** A data message by the spec (§4), with libsodium directly. */
function seal(key: Uint8Array, receiver: number, counter: number, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATA.OVERHEAD + frame.length);
  writeDataHeader(out, receiver, counter);
  const nonce = new Uint8Array(12);
  nonce.set(out.subarray(2, 8), 4);
  const rc = sodium().crypto_aead_chacha20poly1305_ietf_encrypt(
    out.subarray(8),
    null,
    frame,
    big(frame.length),
    out.subarray(0, 8),
    big(8),
    null,
    nonce,
    key,
  );
  assert.equal(rc, 0);
  return out;
}

test("the §7 transport datagrams through the engines, and the frames they carry", () => {
  const h = byId("s7.handshake");
  const I = V.section7.inputs;
  const ini = engine(I, h.psk, true, [I.initiator_ephemeral], [I.initiator_index], [I.timestamp.unix_ms]);
  const res = engine(I, h.psk, false, [I.responder_ephemeral], [I.responder_index], [0]);
  give(res, take(ini));
  give(ini, take(res), TO);
  give(res, take(ini));
  const sealFrame = (e: CurrentEngine, frame: string) => {
    buf.payload.set(hex(frame));
    return toHex(buf.bytes.subarray(0, e.seal(buf, frame.length / 2, T0)));
  };
  const req = byId("s7.arp_request_i2r");
  const rep = byId("s7.arp_reply_r2i");
  assert.equal(sealFrame(ini, req.frame), req.datagram);
  assert.equal(sealFrame(res, rep.frame), rep.datagram);
  const n = give(res, req.datagram);
  assert.equal(toHex(buf.payload.subarray(0, n)), req.frame, "the responder opens the ARP request");
  const m = give(ini, rep.datagram, TO);
  assert.equal(toHex(buf.payload.subarray(0, m)), rep.frame, "the initiator opens the ARP reply");
});

test("cookie reply and mac2: recomputed, accepted by the initiator, and its retry carries mac2", () => {
  const c = byId("cookie_reply");
  const I = V.inputs;
  const cookie = new Uint8Array(16);
  blake2b(cookie, enc.encode(c.source_address), hex(c.cookie_secret));
  assert.equal(toHex(cookie), c.cookie);
  assert.equal(toHex(cookieKey(hex(I.responder_static.public))), c.cookie_key);
  const init = hex(byId("handshake.psk").initiation);
  assert.equal(toHex(init.subarray(112, 128)), c.answered_mac1);
  const sealed = new Uint8Array(32);
  sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(
    sealed,
    null,
    cookie,
    big(16),
    init.subarray(112, 128),
    big(16),
    null,
    hex(c.nonce),
    hex(c.cookie_key),
  );
  assert.equal(toHex(sealed), c.cookie_encrypted);
  assert.equal(`033c0000${c.nonce}${c.cookie_encrypted}`, c.cookie_reply);
  assert.equal(c.receiver_index, I.initiator_index);

  const m = byId("initiation.mac2");
  const retry = hex(m.initiation);
  const mac2 = new Uint8Array(16);
  blake2b(mac2, retry.subarray(0, 128), cookie);
  assert.equal(toHex(mac2), m.initiation_fields.mac2);

  // Through the engine: the initiator takes the cookie, and its next try
  // (new ephemeral, index and timestamp) is the vector's, mac2 included.
  const ini = engine(I, I.psk.value, true, [I.initiator_ephemeral, I.retry_ephemeral], [
    I.initiator_index,
    I.retry_index,
  ], [I.timestamp.unix_ms, I.retry_timestamp.unix_ms]);
  assert.equal(take(ini), byId("handshake.psk").initiation);
  assert.equal(give(ini, c.cookie_reply, TO), -1);
  assert.equal(ini.stats.hsCookieRecv, 1, "the cookie reply is accepted");
  const later = T0 + 5.2e9;
  ini.tick(later);
  assert.equal(take(ini, later), m.initiation, "the retry, with mac2 from the cookie");
  // A cookie reply with one bit changed is refused and counted.
  const bad = hex(c.cookie_reply);
  bad[40] ^= 1;
  assert.equal(give(ini, toHex(bad), TO), -1);
  assert.equal(ini.stats.hsCookieRecv, 1);
  assert.equal(ini.stats.rxDropped, 1);
  ini.close();
});

/** The responder of handshake.psk with its session 0xd2 not yet confirmed. */
function responderWithSession(): CurrentEngine {
  const I = V.inputs;
  const res = engine(I, I.psk.value, false, [I.responder_ephemeral], [I.responder_index], [0]);
  give(res, byId("handshake.psk").initiation);
  assert.equal(take(res), byId("handshake.psk").response);
  return res;
}

test("refusals: a flipped tag or header bit, a counter at the limit, a flipped mac1", () => {
  for (const id of ["refuse.data.tag_bit", "refuse.data.header_bit"]) {
    const v = byId(id);
    const flipped = hex(byId(v.base).datagram);
    flipped[v.offset] ^= v.mask;
    assert.equal(toHex(flipped), v.bytes, id);
    const res = responderWithSession();
    assert.equal(give(res, v.bytes), -1);
    assert.equal(res.stats.dropBadTag, 1, id);
    assert.equal(give(res, byId(v.base).datagram), 60, `${id}: the genuine datagram still passes`);
    res.close();
  }
  const lim = byId("refuse.data.counter_at_limit");
  assert.equal(lim.counter, 2 ** 48 - 2 ** 16);
  const key = hex(byId("handshake.psk").k_i2r);
  assert.equal(toHex(seal(key, V.inputs.responder_index, lim.counter, hex(lim.frame))), lim.datagram);
  const res = responderWithSession();
  assert.equal(give(res, lim.datagram), -1);
  assert.equal(res.stats.dropReplay, 1, "the limit is checked with the window, before decryption");
  res.close();

  const mac = byId("refuse.initiation.mac1_bit");
  const r2 = engine(V.inputs, V.inputs.psk.value, false, [V.inputs.responder_ephemeral], [1], [0]);
  assert.equal(give(r2, mac.bytes), -1);
  assert.equal(r2.stats.dropMac1, 1);
  assert.equal(r2.hasControl, false, "no answer");
  r2.close();
});

test("refusals: a response made without the PSK leaves the initiation pending", () => {
  const v = byId("refuse.response.wrong_psk");
  const I = V.inputs;
  const ini = engine(I, I.psk.value, true, [I.initiator_ephemeral], [I.initiator_index], [
    I.timestamp.unix_ms,
  ]);
  take(ini);
  assert.equal(give(ini, v.bytes, TO), -1);
  assert.equal(ini.stats.dropHandshake, 1);
  assert.equal(ini.established, false);
  assert.equal(give(ini, byId("handshake.psk").response, TO), -1);
  assert.equal(ini.stats.handshakes, 1, "the genuine response still completes it");
  ini.close();
});

test("refusals: the replay window sequence and a replayed initiation", () => {
  const v = byId("refuse.data.sequence");
  const res = responderWithSession();
  const drops = { replay: "dropReplay", too_old: "dropReplay", limit: "dropReplay" } as const;
  for (const step of v.sequence) {
    const d = byId(step.message).datagram ?? byId(step.message).bytes;
    const before = res.stats.snapshot();
    const dropped = res.stats.rxDropped;
    const n = give(res, d);
    if (step.expected === "accepted") {
      assert.equal(res.stats.rxDropped, dropped, `${step.message}: accepted`);
      assert.equal(n, byId(step.message).frame_length || -1, step.message);
    } else {
      const counter = drops[step.expected as keyof typeof drops];
      assert.equal(res.stats[counter], before[counter] + 1, `${step.message}: ${step.expected}`);
    }
  }
  res.close();
  const r = byId("refuse.initiation.replay");
  const res2 = engine(V.inputs, V.inputs.psk.value, false, [V.inputs.responder_ephemeral], [7], [0]);
  for (const [i, step] of r.sequence.entries()) {
    give(res2, byId(step.message.split("/")[0])[step.message.split("/")[1]], FROM, T0 + i * 1e9);
  }
  assert.equal(res2.stats.hsRespSent, 1, "the first is answered");
  assert.equal(res2.stats.dropStaleInitiation, 1, "the second is refused by its timestamp");
  res2.close();
});
