/**
 * The current format's §7 vectors (tests/vectors/current.json, printed in
 * docs/PROTOCOL.md §7) checked for correctness, not only for change: every
 * field the engine writes is recomputed here from the specification's
 * formulas without the engine's helpers (mac1 with libsodium's
 * crypto_generichash called directly, TAI64N by its formula in BigInt, the
 * Noise messages by the Noise layer, which reproduces the cacophony vectors),
 * the recorded bytes equal those of the independent implementation in
 * ../shared/vectors/current.json (when that file is present), and the copies
 * of the shared Noise and legacy vectors in tests/vectors/ have the shared
 * files' content.
 */

import { strict as assert } from "node:assert";
import { HandshakeState, keyPairFromSecret } from "../core/noise.ts";
import { big } from "../ffi/big.ts";
import { sodium } from "../ffi/sodium.ts";
import { makeVectors } from "../scripts/current_vectors.ts";
import { hex, readJson, readShared, toHex } from "./_util.ts";

interface Vectors {
  inputs: Record<string, string> & { initiator_index: number; responder_index: number; unix_ms: number };
  keys: { initiator_public: string; responder_public: string };
  initiation: string;
  response: string;
  keepalive_i2r: string;
  data_i2r: string;
  data_r2i: string;
}
const V = readJson<Vectors>("vectors/current.json");
const I = V.inputs;
const enc = new TextEncoder();

const sharedPresent = readShared("current.json") !== undefined;

/** BLAKE2b with an `outlen`-byte digest, keyed or not: libsodium directly. */
function generichash(outlen: number, data: Uint8Array, key?: Uint8Array): string {
  const out = new Uint8Array(outlen);
  const rc = sodium().crypto_generichash(
    out,
    big(outlen),
    data,
    big(data.length),
    key ?? null,
    big(key?.length ?? 0),
  );
  assert.equal(rc, 0);
  return toHex(out);
}
const cat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

Deno.test("current vectors: the engine still makes the recorded §7 bytes", () => {
  assert.deepEqual(makeVectors(), V as unknown);
});

Deno.test({
  name: sharedPresent
    ? "current vectors: the recorded §7 bytes are the independent implementation's"
    : "current vectors: SKIPPED, ../shared/vectors/current.json is absent: the §7 bytes vs the independent ones",
  ignore: !sharedPresent,
  fn() {
    // deno-lint-ignore no-explicit-any
    const s7 = (readShared("current.json") as any).section7;
    const get = (id: string) => s7.vectors.find((v: { id: string }) => v.id === id);
    const i = s7.inputs;
    assert.deepEqual(
      [i.initiator_static.secret, i.responder_static.secret, i.initiator_ephemeral.secret, i.psk.value],
      [I.initiator_secret, I.responder_secret, I.initiator_ephemeral, I.psk],
    );
    assert.equal(i.responder_ephemeral.secret, I.responder_ephemeral);
    assert.deepEqual([i.initiator_index, i.responder_index, i.timestamp.unix_ms], [
      I.initiator_index,
      I.responder_index,
      I.unix_ms,
    ]);
    assert.equal(get("s7.handshake").initiation, V.initiation);
    assert.equal(get("s7.handshake").response, V.response);
    assert.equal(get("s7.keepalive_i2r").datagram, V.keepalive_i2r);
    assert.equal(get("s7.arp_request_i2r").datagram, V.data_i2r);
    assert.equal(get("s7.arp_request_i2r").frame, I.frame_i2r);
    assert.equal(get("s7.arp_reply_r2i").datagram, V.data_r2i);
    assert.equal(get("s7.arp_reply_r2i").frame, I.frame_r2i);
  },
});

Deno.test("current vectors: docs/PROTOCOL.md §7 prints exactly the recorded bytes and inputs", () => {
  const doc = Deno.readTextFileSync(new URL("../docs/PROTOCOL.md", import.meta.url));
  const s7 = doc.slice(doc.indexOf("## 7. Vectors"));
  const flat = s7.replace(/\s+/g, "");
  for (const k of ["initiation", "response", "keepalive_i2r", "data_i2r", "data_r2i"] as const) {
    assert.ok(flat.includes(V[k]), `§7 prints ${k}`);
  }
  for (
    const k of ["initiator_secret", "responder_secret", "initiator_ephemeral", "responder_ephemeral", "psk"]
  ) {
    assert.ok(flat.includes(I[k]), `§7 prints ${k}`);
  }
  assert.ok(flat.includes(I.frame_i2r) && flat.includes(I.frame_r2i), "§7 prints the ARP frames");
});

Deno.test("current vectors: mac1 and the timestamp recomputed from the spec's formulas", () => {
  const init = hex(V.initiation);
  const resp = hex(V.response);
  assert.equal(init.length, 144);
  assert.equal(resp.length, 84);
  assert.equal(toHex(keyPairFromSecret(hex(I.initiator_secret)).publicKey), V.keys.initiator_public);
  assert.equal(toHex(keyPairFromSecret(hex(I.responder_secret)).publicKey), V.keys.responder_public);
  // mac1 = BLAKE2b-128(key = BLAKE2b-256("tappet mac1" || receiver's public key), message[0, 112 or 52))
  const key = (pub: string) => hex(generichash(32, cat(enc.encode("tappet mac1"), hex(pub))));
  assert.equal(
    generichash(16, init.subarray(0, 112), key(V.keys.responder_public)),
    toHex(init.subarray(112, 128)),
  );
  assert.equal(
    generichash(16, resp.subarray(0, 52), key(V.keys.initiator_public)),
    toHex(resp.subarray(52, 68)),
  );
  assert.equal(toHex(init.subarray(128)) + toHex(resp.subarray(68)), "00".repeat(32), "mac2: no cookie");
  // The header bytes outside Noise.
  assert.deepEqual([...init.subarray(0, 4), ...resp.subarray(0, 4)], [
    1,
    I.initiator_index,
    0,
    0,
    2,
    I.responder_index,
    I.initiator_index,
    0,
  ]);
  // The Noise messages, read by a responder made from the specification.
  const responder = new HandshakeState({
    pattern: "IKpsk2",
    initiator: false,
    prologue: enc.encode("tappet current format 1"),
    s: keyPairFromSecret(hex(I.responder_secret)),
    psk: hex(I.psk),
    e: keyPairFromSecret(hex(I.responder_ephemeral)),
  });
  const timestamp = responder.readMessage(init.subarray(4, 112));
  // TAI64N: 2^62 + 10 + Unix seconds as a big-endian u64, then the
  // nanoseconds (whole milliseconds × 10^6) as a big-endian u32.
  const ms = BigInt(I.unix_ms);
  const tai = (2n ** 62n + 10n + ms / 1000n).toString(16).padStart(16, "0") +
    ((ms % 1000n) * 1_000_000n).toString(16).padStart(8, "0");
  assert.equal(toHex(timestamp!), tai, "the payload is the TAI64N timestamp");
  assert.equal(tai, "400000006b04d38a0754d4c0");
  assert.equal(toHex(responder.remoteStatic!), V.keys.initiator_public, "the hidden initiator");
  assert.equal(toHex(responder.writeMessage(new Uint8Array(0))), toHex(resp.subarray(4, 52)));
  const [i2r, r2i] = responder.split();
  // Data: header (type 4, receiver index, 48-bit LE counter) as associated data,
  // nonce = 4 zero bytes || 64-bit LE counter, ChaCha20-Poly1305 (IETF).
  const open = (datagram: Uint8Array, key: Uint8Array) => {
    const nonce = new Uint8Array(12);
    nonce.set(datagram.subarray(2, 8), 4);
    const out = new Uint8Array(datagram.length - 24);
    const r = sodium().crypto_aead_chacha20poly1305_ietf_decrypt(
      out,
      null,
      null,
      datagram.subarray(8),
      big(datagram.length - 8),
      datagram.subarray(0, 8),
      8n,
      nonce,
      key,
    );
    assert.equal(r, 0, "authenticates");
    return out;
  };
  const keepalive = hex(V.keepalive_i2r);
  assert.equal(keepalive.length, 24, "a keepalive is an empty data message");
  assert.equal(toHex(keepalive.subarray(0, 8)), "04a5000000000000");
  assert.equal(open(keepalive, i2r.key).length, 0);
  const dataI2r = hex(V.data_i2r);
  assert.equal(toHex(dataI2r.subarray(0, 8)), "04a5010000000000", "counter 1 after the keepalive's 0");
  assert.equal(toHex(open(dataI2r, i2r.key)), I.frame_i2r);
  const dataR2i = hex(V.data_r2i);
  assert.equal(toHex(dataR2i.subarray(0, 8)), "0417000000000000", "the responder's counter 0");
  assert.equal(toHex(open(dataR2i, r2i.key)), I.frame_r2i);
  assert.equal(dataI2r.length - I.frame_i2r.length / 2, 24, "24 bytes of overhead");
});

Deno.test({
  name: "current vectors: the copies in tests/vectors/ have the content of ../shared/vectors/",
  ignore: readShared("legacy.json") === undefined,
  fn() {
    for (const name of ["legacy.json", "noise-25519-chachapoly-blake2b.json"]) {
      assert.deepEqual(readJson(`vectors/${name}`), readShared(name), `tests/vectors/${name}`);
    }
  },
});
