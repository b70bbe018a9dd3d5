/**
 * Byte vectors of the current wire format: a complete handshake and the
 * first transport datagrams, from fixed keys, ephemerals, indices and clock.
 * docs/PROTOCOL.md §7 prints them. tests/current_vectors_test.ts checks that
 * the engine still makes exactly these bytes, and that they are right: it
 * recomputes mac1 and the timestamp from the specification's formulas and
 * compares the bytes with the independent implementation's
 * (../shared/vectors/current.json, section7).
 *
 *     deno run -A scripts/current_vectors.ts > tests/vectors/current.json
 *
 * @module
 */

import { CurrentEngine } from "../core/current_engine.ts";
import { DATA } from "../core/current_wire.ts";
import { keyPairFromSecret } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const bytes = (h: string) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));

/** The fixed inputs. */
export const INPUTS = {
  initiator_secret: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  responder_secret: "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283",
  initiator_ephemeral: "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
  responder_ephemeral: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
  psk: "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
  initiator_index: 0x17,
  responder_index: 0xa5,
  /** Wall clock of the initiation: 2026-11-24T00:00:00.123Z. */
  unix_ms: Date.UTC(2026, 10, 24, 0, 0, 0, 123),
  /** An ARP request, as the legacy vectors use. */
  frame_i2r: "ffffffffffff02000000000a0806000108000604000102000000000ac6130001000000000000c6130002",
  frame_r2i: "02000000000a02000000000b0806000108000604000202000000000bc613000202000000000ac6130001",
};

/** The inputs {@linkcode vectorEngines} needs: {@linkcode INPUTS}, or the
 * same read back from the vectors file. Keys and ephemerals in hex. */
export type EngineInputs = Pick<
  typeof INPUTS,
  | "initiator_secret"
  | "responder_secret"
  | "initiator_ephemeral"
  | "responder_ephemeral"
  | "psk"
  | "initiator_index"
  | "responder_index"
  | "unix_ms"
>;

/** The two engines of the vectors, made at `now` (ns) from `inputs`: each
 * with its secret key, the other's public key, the PSK, its ephemeral and
 * index, the wall clock fixed at `unix_ms`, no randomness; the initiator
 * sends to the responder at 198.18.0.2:1011. The caller closes both. */
export function vectorEngines(
  inputs: EngineInputs,
  now: number,
): { initiator: CurrentEngine; responder: CurrentEngine } {
  const mk = (secret: string, peerSecret: string, ephemeral: string, index: number, peer?: boolean) =>
    new CurrentEngine({
      secretKey: bytes(secret),
      peerPublic: keyPairFromSecret(bytes(peerSecret)).publicKey,
      psk: bytes(inputs.psk),
      peer: peer ? { hostname: "198.18.0.2", port: 1011 } : undefined,
      now,
      wallClock: () => inputs.unix_ms,
      generateKeyPair: () => keyPairFromSecret(bytes(ephemeral)),
      randomIndex: () => index,
      random: () => 0,
    });
  return {
    responder: mk(
      inputs.responder_secret,
      inputs.initiator_secret,
      inputs.responder_ephemeral,
      inputs.responder_index,
    ),
    initiator: mk(
      inputs.initiator_secret,
      inputs.responder_secret,
      inputs.initiator_ephemeral,
      inputs.initiator_index,
      true,
    ),
  };
}

/** Runs the handshake and the first datagrams with the fixed inputs. */
export function makeVectors(): Record<string, unknown> {
  const now = 5e9;
  const from = { hostname: "198.18.0.1", port: 40000 };
  const { initiator, responder } = vectorEngines(INPUTS, now);
  const buf = new PacketBuffer(DATA.HEADER);
  const take = (e: CurrentEngine) => {
    const n = e.nextControl(buf, now);
    return buf.bytes.slice(0, n);
  };
  const deliver = (e: CurrentEngine, b: Uint8Array, src = from) => {
    buf.bytes.set(b);
    return e.open(buf, b.length, src, now);
  };
  const initiation = take(initiator);
  deliver(responder, initiation);
  const response = take(responder);
  deliver(initiator, response, { hostname: "198.18.0.2", port: 1011 });
  const keepalive = take(initiator);
  deliver(responder, keepalive);
  const seal = (e: CurrentEngine, frameHex: string) => {
    const f = bytes(frameHex);
    buf.payload.set(f);
    return buf.bytes.slice(0, e.seal(buf, f.length, now));
  };
  const dataI2r = seal(initiator, INPUTS.frame_i2r);
  const dataR2i = seal(responder, INPUTS.frame_r2i);
  const keys = {
    initiator_public: hex(keyPairFromSecret(bytes(INPUTS.initiator_secret)).publicKey),
    responder_public: hex(keyPairFromSecret(bytes(INPUTS.responder_secret)).publicKey),
  };
  initiator.close();
  responder.close();
  return {
    about:
      "Current wire format of tappet (docs/PROTOCOL.md): a complete handshake and the first transport datagrams from fixed inputs. mac2 is zero (no cookie). Generated by scripts/current_vectors.ts; tests/current_vectors_test.ts checks them.",
    inputs: INPUTS,
    keys,
    initiation: hex(initiation),
    response: hex(response),
    keepalive_i2r: hex(keepalive),
    data_i2r: hex(dataI2r),
    data_r2i: hex(dataR2i),
  };
}

if (import.meta.main) console.log(JSON.stringify(makeVectors(), null, 2));
