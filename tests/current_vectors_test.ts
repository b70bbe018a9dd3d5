/**
 * The current format's byte vectors (tests/vectors/current.json, printed in
 * docs/PROTOCOL.md): the engine must still make exactly these bytes, and
 * the bytes must decode by the specification, step by step, with the Noise
 * layer and libsodium alone.
 */

import { strict as assert } from "node:assert";
import { blake2b, mac1Key } from "../core/current_wire.ts";
import { HandshakeState, keyPairFromSecret } from "../core/noise.ts";
import { writeTai64n } from "../core/tai64n.ts";
import { big } from "../ffi/big.ts";
import { sodium } from "../ffi/sodium.ts";
import { makeVectors } from "../scripts/current_vectors.ts";
import { hex, readJson, toHex } from "./_util.ts";

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

Deno.test("current vectors: the engine makes exactly the recorded bytes", () => {
  assert.deepEqual(makeVectors(), V as unknown);
});

Deno.test("current vectors: the bytes decode by the specification", () => {
  const init = hex(V.initiation);
  const resp = hex(V.response);
  assert.equal(init.length, 144);
  assert.equal(resp.length, 84);
  // mac1 = BLAKE2b-128(key = BLAKE2b-256("tappet mac1" || receiver's public key), message up to mac1)
  const mac = new Uint8Array(16);
  blake2b(mac, init.subarray(0, 112), mac1Key(hex(V.keys.responder_public)));
  assert.equal(toHex(mac), toHex(init.subarray(112, 128)));
  blake2b(mac, resp.subarray(0, 52), mac1Key(hex(V.keys.initiator_public)));
  assert.equal(toHex(mac), toHex(resp.subarray(52, 68)));
  // The Noise messages, read by a responder made from the specification.
  const responder = new HandshakeState({
    pattern: "IKpsk2",
    initiator: false,
    prologue: new TextEncoder().encode("tappet current format 1"),
    s: keyPairFromSecret(hex(I.responder_secret)),
    psk: hex(I.psk),
    e: keyPairFromSecret(hex(I.responder_ephemeral)),
  });
  const timestamp = responder.readMessage(init.subarray(4, 112));
  const want = new Uint8Array(12);
  writeTai64n(want, I.unix_ms);
  assert.deepEqual(timestamp, want, "the payload is the TAI64N timestamp");
  assert.equal(
    toHex(responder.remoteStatic!),
    V.keys.initiator_public,
    "the hidden initiator is revealed to b only",
  );
  assert.equal(toHex(responder.writeMessage(new Uint8Array(0))), toHex(resp.subarray(4, 52)));
  assert.deepEqual([init[0], init[1], resp[0], resp[1], resp[2]], [
    1,
    I.initiator_index,
    2,
    I.responder_index,
    I.initiator_index,
  ]);
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
      datagram,
      8n,
      nonce,
      key,
    );
    assert.equal(r, 0, "authenticates");
    return out;
  };
  const keepalive = hex(V.keepalive_i2r);
  assert.equal(keepalive.length, 24, "a keepalive is an empty data message");
  assert.equal(open(keepalive, i2r.key).length, 0);
  const dataI2r = hex(V.data_i2r);
  assert.deepEqual(
    [dataI2r[0], dataI2r[1], dataI2r[2]],
    [4, I.responder_index, 1],
    "counter 1 after the keepalive's 0",
  );
  assert.equal(toHex(open(dataI2r, i2r.key)), I.frame_i2r);
  assert.equal(toHex(open(hex(V.data_r2i), r2i.key)), I.frame_r2i);
  assert.equal(dataI2r.length - I.frame_i2r.length / 2, 24, "24 bytes of overhead");
});
