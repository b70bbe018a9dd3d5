/**
 * The probe vector of docs/PROTOCOL.md §7 ("A probe and its ack"): a probe
 * of 80 bytes and its ack under the §7 session keys, built here from §4's
 * rules with libsodium's ChaCha20-Poly1305 called directly (not the
 * engine's sealing), compared with the bytes the document prints, and then
 * with what two engines that ran the §7 handshake send and answer.
 */

import { strict as assert } from "node:assert";
import type { CurrentEngine } from "../core/current_engine.ts";
import { DATA } from "../core/current_wire.ts";
import { PacketBuffer } from "../core/packet.ts";
import { big } from "../ffi/big.ts";
import { sodium } from "../ffi/sodium.ts";
import { hex, readJson, toHex } from "./_util.ts";
import { type EngineInputs, vectorEngines } from "../scripts/current_vectors.ts";

const I = readJson<{ inputs: EngineInputs & Record<"frame_i2r" | "frame_r2i", string> }>(
  "vectors/current.json",
).inputs;
/** §7's Split outputs (the document's table; tests/current_vectors_test.ts
 * derives the same from the handshake). */
const K_I2R = "6fb838c360cf7abf378226f8aa8204221c2edfddeab6e25d5ce186e6e6a5b0b4";
const K_R2I = "8a36d42b9f390fc1f41dc41a8b9b16d97fbc1acb52e0d38015fda3e2770c5906";
const DOC = Deno.readTextFileSync(new URL("../docs/PROTOCOL.md", import.meta.url));

/** A type-5 message by §4: header (type 5, receiver index, 48-bit LE
 * counter) as associated data, nonce 4 zero bytes || 64-bit LE counter. */
function sealProbe(key: string, receiver: number, counter: number, plaintext: Uint8Array): string {
  const header = new Uint8Array(8);
  header.set([5, receiver]);
  for (let i = 0; i < 6; i++) header[2 + i] = Math.floor(counter / 256 ** i) & 0xff;
  const nonce = new Uint8Array(12);
  nonce.set(header.subarray(2, 8), 4);
  const out = new Uint8Array(plaintext.length + 16);
  const r = sodium().crypto_aead_chacha20poly1305_ietf_encrypt(
    out,
    null,
    plaintext,
    big(plaintext.length),
    header,
    8n,
    null,
    nonce,
    hex(key),
  );
  assert.equal(r, 0);
  return toHex(header) + toHex(out);
}

/** kind | id (4, LE) | size (2, LE) | zeros to `length` bytes. */
function plaintext(kind: number, id: number, size: number, length: number): Uint8Array {
  const p = new Uint8Array(length);
  const v = new DataView(p.buffer);
  p[0] = kind;
  v.setUint32(1, id, true);
  v.setUint16(5, size, true);
  return p;
}

/** The hex printed in the document after `title`, up to the next blank line. */
function printed(title: string): string {
  const at = DOC.indexOf(title);
  assert.ok(at >= 0, `the document prints "${title}"`);
  const block = DOC.slice(at + title.length).split("\n\n")[0];
  return block.replace(/\s+/g, "");
}

// The probe: the initiator's datagram after §7's ARP request (counter 1),
// to the responder's index 0xa5, 80 bytes; its ack: the responder's
// datagram after the ARP reply (counter 0), to the initiator's index 0x17.
const PROBE = sealProbe(K_I2R, 0xa5, 2, plaintext(1, 1, 80, 80 - 24));
const ACK = sealProbe(K_R2I, 0x17, 1, plaintext(2, 1, 80, 7));

Deno.test("probe vector: the document prints the bytes §4's rules give", () => {
  assert.ok(DOC.replace(/\s+/g, "").includes(K_I2R) && DOC.includes(K_R2I), "§7's keys");
  assert.equal(PROBE.length, 160, "80 bytes");
  assert.equal(ACK.length, 62, "31 bytes");
  assert.equal(printed("probe (80), initiator to responder, k_i2r, receiver index 0xa5, counter 2:"), PROBE);
  assert.equal(printed("ack (31), responder to initiator, k_r2i, receiver index 0x17, counter 1:"), ACK);
});

Deno.test("probe vector: engines after the §7 handshake send exactly that probe and answer it with that ack", () => {
  const now = 5e9;
  const { initiator: i, responder: r } = vectorEngines(I, now);
  const buf = new PacketBuffer(DATA.HEADER);
  const take = (e: CurrentEngine) => toHex(buf.bytes.subarray(0, e.nextControl(buf, now)));
  const give = (e: CurrentEngine, h: string, port: number) => {
    buf.bytes.set(hex(h));
    return e.open(buf, h.length / 2, { hostname: port === 1011 ? "198.18.0.2" : "198.18.0.1", port }, now);
  };
  const seal = (e: CurrentEngine, frame: string) => {
    buf.payload.set(hex(frame));
    return toHex(buf.bytes.subarray(0, e.seal(buf, frame.length / 2, now)));
  };
  give(r, take(i), 40000); // initiation
  give(i, take(r), 1011); // response
  give(r, take(i), 40000); // keepalive
  assert.equal(give(r, seal(i, I.frame_i2r), 40000), 42);
  assert.equal(give(i, seal(r, I.frame_r2i), 1011), 42);
  // A ceiling of 80 bytes: the base (548 over IPv4) is cut to it, so the
  // search's first probe is 80 bytes, id 1.
  i.setProbeCeiling(80);
  i.tick(now);
  const probe = take(i);
  assert.equal(probe, PROBE);
  assert.equal(give(r, probe, 40000), -1, "nothing for the TAP");
  const ack = take(r);
  assert.equal(ack, ACK);
  assert.equal(give(i, ack, 1011), -1);
  assert.equal(i.maxDatagram, 80, "the search ended at the ceiling");
  assert.deepEqual([i.stats.probesSent, i.stats.probeAcks, r.stats.probesAnswered], [1, 1, 1]);
  i.close();
  r.close();
});

if (import.meta.main) console.log(`probe ${PROBE}\nack ${ACK}`);
