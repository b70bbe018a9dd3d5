/**
 * The byte layouts of the current wire format (docs/PROTOCOL.md) and the
 * MACs that guard its handshake messages. Pure; libsodium does the
 * hashing.
 *
 *     initiation (144): type 1 | sender index | 0 0 | ephemeral (32)
 *                       | encrypted static (48) | encrypted timestamp (28)
 *                       | mac1 (16) | mac2 (16)
 *     response (84):    type 2 | sender index | receiver index | 0
 *                       | ephemeral (32) | encrypted empty (16) | mac1 | mac2
 *     cookie (60):      type 3 | receiver index | 0 0 | nonce (24)
 *                       | encrypted cookie (32)
 *     data (24 + n):    type 4 | receiver index | counter (6, little-endian)
 *                       | ciphertext (n) | tag (16)
 *     probe (24 + n):   type 5, sealed as data; plaintext kind 1 | id (4, LE)
 *                       | size (2, LE) | zeros, or kind 2 (an ack) | id | size
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { sodium } from "../ffi/sodium.ts";

/** Message types (byte 0). */
export const Type = {
  Initiation: 1,
  Response: 2,
  Cookie: 3,
  Data: 4,
  /** A path MTU probe or its ack, sealed like data (docs/PROTOCOL.md §4). */
  Probe: 5,
} as const;

/** Initiation layout. */
export const INIT = {
  LENGTH: 144,
  SENDER: 1,
  /** The Noise message: e, s, ss payload: 32 + 48 + 28 bytes. */
  NOISE: 4,
  NOISE_LENGTH: 108,
  MAC1: 112,
  MAC2: 128,
} as const;

/** Response layout. */
export const RESP = {
  LENGTH: 84,
  SENDER: 1,
  RECEIVER: 2,
  /** The Noise message: e, empty payload: 32 + 16 bytes. */
  NOISE: 4,
  NOISE_LENGTH: 48,
  MAC1: 52,
  MAC2: 68,
} as const;

/** Cookie reply layout. */
export const COOKIE = {
  LENGTH: 60,
  RECEIVER: 1,
  NONCE: 4,
  NONCE_LENGTH: 24,
  ENCRYPTED: 28,
  ENCRYPTED_LENGTH: 32,
} as const;

/** Data message layout. */
export const DATA = {
  /** Header bytes before the ciphertext; authenticated as associated data. */
  HEADER: 8,
  RECEIVER: 1,
  COUNTER: 2,
  COUNTER_LENGTH: 6,
  TAG: 16,
  /** Bytes added to each frame: header + tag. */
  OVERHEAD: 24,
} as const;

/** The plaintext of a probe message (type 5): bytes from the start of the
 * decrypted payload. */
export const PROBE = {
  /** Byte 0: what the message is. */
  KIND: 0,
  /** A probe, padded with zeros to the size it tests. */
  KIND_PROBE: 1,
  /** The acknowledgement of a probe. */
  KIND_ACK: 2,
  /** Bytes 1..4: the probe's identifier, LE. */
  ID: 1,
  /** Bytes 5..6: the probe's datagram length (UDP payload bytes), LE. */
  SIZE: 5,
  /** Bytes of an ack's plaintext; the least a probe's has. */
  LENGTH: 7,
} as const;

/** Length of mac1, mac2 and a cookie. */
export const MAC_BYTES = 16;

/** The Noise prologue: binds the protocol name and version, so a handshake
 * of another protocol or version can never complete with this one. */
export const PROLOGUE: Uint8Array<ArrayBuffer> = new TextEncoder().encode("tappet current format 1");
const LABEL_MAC1 = new TextEncoder().encode("tappet mac1");
const LABEL_COOKIE = new TextEncoder().encode("tappet cookie");

/** BLAKE2b with an output of `out.length` bytes (16..64) over `data`,
 * keyed by `key` (16..64 bytes) or unkeyed. */
export function blake2b(out: Uint8Array, data: Uint8Array, key?: Uint8Array): void {
  const r = sodium().crypto_generichash(
    out,
    big(out.length),
    data,
    big(data.length),
    key ?? null,
    big(key?.length ?? 0),
  );
  if (r !== 0) throw new Error("crypto_generichash failed");
}

function labelled(label: Uint8Array, publicKey: Uint8Array): Uint8Array<ArrayBuffer> {
  const input = new Uint8Array(label.length + publicKey.length);
  input.set(label);
  input.set(publicKey, label.length);
  const out = new Uint8Array(32);
  blake2b(out, input);
  return out;
}

/** The key of mac1 for messages to the holder of `publicKey`:
 * BLAKE2b-256("tappet mac1" || publicKey). */
export function mac1Key(publicKey: Uint8Array): Uint8Array<ArrayBuffer> {
  return labelled(LABEL_MAC1, publicKey);
}

/** The key that encrypts cookies sent by the holder of `publicKey`:
 * BLAKE2b-256("tappet cookie" || publicKey). */
export function cookieKey(publicKey: Uint8Array): Uint8Array<ArrayBuffer> {
  return labelled(LABEL_COOKIE, publicKey);
}

/** Writes BLAKE2b-128(key, msg[0, offset)) at msg[offset, offset + 16). */
export function writeMac(msg: Uint8Array, offset: number, key: Uint8Array): void {
  blake2b(msg.subarray(offset, offset + MAC_BYTES), msg.subarray(0, offset), key);
}

/** True when msg[offset, offset + 16) is BLAKE2b-128(key, msg[0, offset)),
 * compared in constant time. */
export function checkMac(msg: Uint8Array, offset: number, key: Uint8Array): boolean {
  const want = new Uint8Array(MAC_BYTES);
  blake2b(want, msg.subarray(0, offset), key);
  return sodium().sodium_memcmp(want, msg.subarray(offset, offset + MAC_BYTES), big(MAC_BYTES)) === 0;
}

/** Reads the 48-bit little-endian counter of a data message. */
export function readCounter(msg: Uint8Array): number {
  const c = DATA.COUNTER;
  return msg[c] + msg[c + 1] * 0x100 + msg[c + 2] * 0x10000 + msg[c + 3] * 0x1000000 +
    (msg[c + 4] + msg[c + 5] * 0x100) * 0x100000000;
}

/** Writes the data header: type 4 (or `type`, 5 for a probe), receiver
 * index, 48-bit counter. */
export function writeDataHeader(
  msg: Uint8Array,
  receiver: number,
  counter: number,
  type: number = Type.Data,
): void {
  msg[0] = type;
  msg[DATA.RECEIVER] = receiver;
  const low = counter % 0x100000000;
  const high = (counter - low) / 0x100000000;
  const c = DATA.COUNTER;
  msg[c] = low & 0xff;
  msg[c + 1] = (low >>> 8) & 0xff;
  msg[c + 2] = (low >>> 16) & 0xff;
  msg[c + 3] = low >>> 24;
  msg[c + 4] = high & 0xff;
  msg[c + 5] = (high >>> 8) & 0xff;
}
