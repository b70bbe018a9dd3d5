/**
 * The current format's handshake messages (core/handshake.ts, the Noise part
 * the engine uses) against the vectors of the independent implementation
 * written from docs/PROTOCOL.md alone (../shared/vectors/current.json), in
 * both roles, and its refusals.
 */

import { strict as assert } from "node:assert";
import { INIT, PROLOGUE, RESP } from "../core/current_wire.ts";
import { HandshakeKeys, INITIATION_NOISE, RESPONSE_NOISE } from "../core/handshake.ts";
import { keyPairFromSecret, x25519Count } from "../core/noise.ts";
import { hex, readShared, SHARED_VECTORS, toHex } from "./_util.ts";

interface Pair {
  secret: string;
  public: string;
}
interface HandshakeVector {
  id: string;
  kind: string;
  psk: string;
  initiation: string;
  response: string;
  k_i2r: string;
  k_r2i: string;
}
interface Shared {
  inputs: {
    initiator_static: Pair;
    responder_static: Pair;
    initiator_ephemeral: Pair;
    responder_ephemeral: Pair;
    timestamp: { tai64n: string };
  };
  vectors: HandshakeVector[];
}

const SHARED = readShared<Shared>("current.json");
const IN = SHARED?.inputs as Shared["inputs"];
const HANDSHAKES = SHARED?.vectors.filter((v) => v.kind === "handshake") ?? [];
/** A test of the independent vectors: ignored, and named so, without them. */
const test = (name: string, fn: () => void) =>
  Deno.test({
    name: SHARED === undefined
      ? `handshake: SKIPPED, ${new URL("current.json", SHARED_VECTORS).pathname} is absent: ${name}`
      : `handshake: ${name}`,
    ignore: SHARED === undefined,
    fn,
  });
const pairOf = (p: Pair) => keyPairFromSecret(hex(p.secret));

test("both independent handshake vectors, made and read in both roles", () => {
  assert.equal(HANDSHAKES.length, 2, "with and without a PSK");
  for (const v of HANDSHAKES) {
    const initiator = new HandshakeKeys(
      hex(IN.initiator_static.secret),
      hex(IN.responder_static.public),
      hex(v.psk),
      PROLOGUE,
    );
    const responder = new HandshakeKeys(
      hex(IN.responder_static.secret),
      hex(IN.initiator_static.public),
      hex(v.psk),
      PROLOGUE,
    );
    const wantInit = hex(v.initiation).subarray(INIT.NOISE, INIT.MAC1);
    const wantResp = hex(v.response).subarray(RESP.NOISE, RESP.MAC1);
    const init = new Uint8Array(INITIATION_NOISE);
    const pending = initiator.createInitiation(
      init,
      pairOf(IN.initiator_ephemeral),
      hex(IN.timestamp.tai64n),
    );
    assert.equal(toHex(init), toHex(wantInit), `${v.id}: initiation`);

    const got = responder.consumeInitiation(wantInit);
    assert.ok(typeof got === "object", `${v.id}: the responder reads it`);
    assert.equal(toHex(got.timestamp), IN.timestamp.tai64n);
    const resp = new Uint8Array(RESPONSE_NOISE);
    const [ri2r, rr2i] = responder.createResponse(resp, got.state, got.re, pairOf(IN.responder_ephemeral));
    assert.equal(toHex(resp), toHex(wantResp), `${v.id}: response`);
    assert.equal(toHex(ri2r), v.k_i2r);
    assert.equal(toHex(rr2i), v.k_r2i);

    const keys = initiator.consumeResponse(wantResp, pending, pairOf(IN.initiator_ephemeral));
    assert.ok(keys !== null, `${v.id}: the initiator reads the response`);
    assert.equal(toHex(keys[0]), v.k_i2r);
    assert.equal(toHex(keys[1]), v.k_r2i);
    initiator.erase();
    responder.erase();
  }
});

test("refusals, and what each costs", () => {
  const v = HANDSHAKES[0];
  const wantInit = hex(v.initiation).subarray(INIT.NOISE, INIT.MAC1);
  // A responder that expects another peer: one X25519, then "unknown".
  const stranger = keyPairFromSecret(new Uint8Array(32).fill(7));
  const other = new HandshakeKeys(hex(IN.responder_static.secret), stranger.publicKey, hex(v.psk), PROLOGUE);
  const before = x25519Count.dh;
  assert.equal(other.consumeInitiation(wantInit), "unknown");
  assert.equal(x25519Count.dh - before, 1);
  // A low-order ephemeral (here: zero) fails at es.
  const zeroE = new Uint8Array(wantInit);
  zeroE.fill(0, 0, 32);
  assert.equal(other.consumeInitiation(zeroE), "handshake");
  // Any flipped bit in the encrypted parts.
  const responder = new HandshakeKeys(
    hex(IN.responder_static.secret),
    hex(IN.initiator_static.public),
    hex(v.psk),
    PROLOGUE,
  );
  for (const at of [32, 79, 80, 107]) {
    const bad = new Uint8Array(wantInit);
    bad[at] ^= 1;
    assert.equal(responder.consumeInitiation(bad), "handshake", `bit at ${at}`);
  }
  // A wrong PSK: the response does not decrypt, and the pending state stays usable.
  const initiator = new HandshakeKeys(
    hex(IN.initiator_static.secret),
    hex(IN.responder_static.public),
    new Uint8Array(32).fill(1),
    PROLOGUE,
  );
  const e = keyPairFromSecret(hex(IN.initiator_ephemeral.secret));
  const pending = initiator.createInitiation(new Uint8Array(INITIATION_NOISE), e, hex(IN.timestamp.tai64n));
  const wantResp = hex(v.response).subarray(RESP.NOISE, RESP.MAC1);
  assert.equal(initiator.consumeResponse(wantResp, pending, e), null);
  assert.equal(initiator.consumeResponse(wantResp, pending, e), null, "and again: the state was not spent");
  assert.throws(
    () => new HandshakeKeys(hex(IN.responder_static.secret), new Uint8Array(32), hex(v.psk), PROLOGUE),
    /not a usable X25519 public key/,
  );
});
