/**
 * The primitives of the Noise suite `25519_ChaChaPoly_BLAKE2b` (Noise
 * specification revision 34, §4): BLAKE2b-512, HMAC and HKDF over it, and
 * X25519. {@linkcode CipherState} and the handshake objects build on these
 * (`noise_state.ts`, `noise.ts`).
 *
 *     DH     X25519 (crypto_scalarmult); an all-zero result is a failure
 *     HASH   BLAKE2b-512 (crypto_generichash): HASHLEN 64, BLOCKLEN 128
 *     HMAC   RFC 2104 over HASH; HKDF as in the Noise specification §4.3
 *
 * Ownership: every returned array is fresh and owned by the caller. Arrays
 * that hold secrets (HMAC and HKDF outputs, DH outputs, secret keys) come
 * from `secret.ts`; every temporary holding a key or key material (HMAC's
 * padded key and its concatenated input) is zeroed before returning.
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { memzero, randomBytes, sodium } from "../ffi/sodium.ts";
import { concatBytes } from "./bytes.ts";
import { isAllZero, secretBytes, secretCopy } from "./secret.ts";

/** Length of an X25519 public key, secret key and shared secret. */
export const DHLEN = 32;
/** Length of a BLAKE2b-512 digest: h, ck and HKDF outputs. */
export const HASHLEN = 64;
/** BLAKE2b's block length, HMAC's padded key length. */
export const BLOCKLEN = 128;
/** Length of a ChaChaPoly key. */
export const KEYLEN = 32;
/** Length of a Poly1305 tag. */
export const TAGLEN = 16;
/** The largest Noise message, handshake or transport (spec §3). */
export const MAX_MESSAGE = 65535;
/** The suite part of every protocol name. */
export const SUITE = "25519_ChaChaPoly_BLAKE2b";

/**
 * How many X25519 operations this process did: `dh` variable-base
 * (crypto_scalarmult), `base` fixed-base (crypto_scalarmult_base). For tests
 * and profiling of the unauthenticated cost of a handshake message; the
 * counts only grow.
 */
export const x25519Count: { dh: number; base: number } = { dh: 0, base: 0 };

/** The concatenation of `parts`, in a secret buffer (the caller zeroes it). */
export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatBytes(parts, secretBytes);
}

/** BLAKE2b-512 (unkeyed) of the concatenation of `parts`: 64 bytes. The
 * concatenation is zeroed after use (it may hold key material). */
export function hash(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const input = parts.length === 1 ? parts[0] : concat(parts);
  const out = new Uint8Array(HASHLEN);
  const rc = sodium().crypto_generichash(out, big(HASHLEN), input, big(input.length), null, big(0));
  if (parts.length !== 1) memzero(input);
  if (rc !== 0) throw new Error("crypto_generichash() failed");
  return out;
}

/**
 * HMAC-BLAKE2b-512 (RFC 2104, block length 128) of the concatenation of
 * `parts` under `key` of any length; a key longer than 128 bytes is hashed
 * first. Returns 64 bytes in a secret buffer.
 */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const k = secretBytes(BLOCKLEN);
  if (key.length > BLOCKLEN) {
    const hk = hash(key);
    k.set(hk);
    memzero(hk);
  } else {
    k.set(key);
  }
  for (let i = 0; i < BLOCKLEN; i++) k[i] ^= 0x36;
  const inner = hash(k, ...parts);
  for (let i = 0; i < BLOCKLEN; i++) k[i] ^= 0x36 ^ 0x5c;
  const outer = hash(k, inner);
  memzero(k);
  memzero(inner);
  const out = secretCopy(outer);
  memzero(outer);
  return out;
}

/**
 * Noise's HKDF (spec §4.3): `outputs` (2 or 3) outputs of 64 bytes each from
 * the chaining key (64 bytes) and the input key material (0 or 32 bytes in
 * Noise, any length accepted). The outputs are secret buffers.
 */
export function hkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array<ArrayBuffer>[] {
  if (outputs !== 2 && outputs !== 3) throw new RangeError("hkdf produces 2 or 3 outputs");
  const tempKey = hmac(chainingKey, ikm);
  const out1 = hmac(tempKey, Uint8Array.of(1));
  const out2 = hmac(tempKey, out1, Uint8Array.of(2));
  const result = [out1, out2];
  if (outputs === 3) result.push(hmac(tempKey, out2, Uint8Array.of(3)));
  memzero(tempKey);
  return result;
}

/** An X25519 key pair, 32 bytes each. */
export interface KeyPair {
  /** The X25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** The X25519 secret key, 32 bytes. */
  secretKey: Uint8Array;
}

/** A new X25519 key pair: 32 random bytes from libsodium's generator and
 * their public key. The secret key is a secret buffer. */
export function generateKeyPair(): KeyPair {
  const secretKey = secretBytes(DHLEN);
  randomBytes(secretKey);
  return { publicKey: publicKeyOf(secretKey), secretKey };
}

function publicKeyOf(secretKey: Uint8Array): Uint8Array<ArrayBuffer> {
  const publicKey = new Uint8Array(DHLEN);
  x25519Count.base++;
  if (sodium().crypto_scalarmult_base(publicKey, secretKey) !== 0) {
    throw new Error("crypto_scalarmult_base() failed");
  }
  return publicKey;
}

/** The key pair of the 32-byte X25519 secret key `sk` (copied). */
export function keyPairFromSecret(sk: Uint8Array): KeyPair {
  if (sk.length !== DHLEN) throw new RangeError(`X25519 secret key must be ${DHLEN} bytes`);
  const secretKey = secretCopy(sk);
  return { publicKey: publicKeyOf(secretKey), secretKey };
}

/**
 * X25519 of our 32-byte secret key and their 32-byte public key: the 32-byte
 * shared secret (a secret buffer), or null when libsodium rejects the public
 * key or the result is all zeros (a low-order point).
 */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array<ArrayBuffer> | null {
  if (secretKey.length !== DHLEN || publicKey.length !== DHLEN) return null;
  const out = secretBytes(DHLEN);
  x25519Count.dh++;
  if (sodium().crypto_scalarmult(out, secretKey, publicKey) !== 0 || isAllZero(out)) {
    memzero(out);
    return null;
  }
  return out;
}

// Not secret: only used to ask whether a public key is usable for DH. For a
// clamped scalar, X25519 yields zero exactly for the low-order points, so the
// answer does not depend on which scalar is used.
const PROBE_SCALAR = new Uint8Array(DHLEN).fill(0x5a);

/** True when `publicKey` is 32 bytes and a DH with it succeeds (it is not a
 * low-order point) for any secret key. Costs one X25519. */
export function isUsablePublicKey(publicKey: Uint8Array): boolean {
  const s = dh(PROBE_SCALAR, publicKey);
  if (s === null) return false;
  memzero(s);
  return true;
}
