/**
 * Noise's CipherState and SymmetricState (specification revision 34, §5.1
 * and §5.2) for the suite `25519_ChaChaPoly_BLAKE2b`:
 *
 *     AEAD   ChaCha20-Poly1305 IETF, nonce = 4 zero bytes || n as u64 little-endian
 *
 * Ownership: keys handed in are copied; `erase()` zeroes the object's own
 * copies, which are secret buffers (`secret.ts`).
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { AEAD, memzero, sodium } from "../ffi/sodium.ts";
import { hash, HASHLEN, hkdf, KEYLEN, TAGLEN } from "./noise_crypto.ts";
import { secretBytes, secretCopy } from "./secret.ts";

const TWO_32 = 4294967296;
const EMPTY = new Uint8Array(0);

/**
 * Noise's CipherState (spec §5.1): a ChaChaPoly key, possibly empty, and the
 * nonce counter `n`. Without a key it passes data through unchanged, as the
 * spec requires. Call {@linkcode erase} when done; an erased CipherState
 * throws instead of encrypting.
 */
export class CipherState {
  readonly #k = secretBytes(KEYLEN);
  #hasKey = false;
  #erased = false;
  #n = 0;
  readonly #nonce = new Uint8Array(AEAD.NPUBBYTES);
  readonly #nonceView = new DataView(this.#nonce.buffer);

  /** A CipherState with `key` (32 bytes, copied) and n = 0, or without a
   * key when `key` is omitted. */
  constructor(key?: Uint8Array) {
    if (key !== undefined) this.initializeKey(key);
  }

  /** InitializeKey: sets the key (32 bytes, copied) and n = 0. */
  initializeKey(key: Uint8Array): void {
    if (key.length !== KEYLEN) throw new RangeError(`cipher key must be ${KEYLEN} bytes`);
    this.#k.set(key);
    this.#hasKey = true;
    this.#erased = false;
    this.#n = 0;
  }

  /** True when a key is set (false again after {@linkcode erase}). */
  hasKey(): boolean {
    return this.#hasKey;
  }

  /** The nonce counter: the n of the next encryption or decryption. A safe
   * integer; encrypting or decrypting throws once it passes 2^53 − 1. */
  get n(): number {
    return this.#n;
  }

  /** SetNonce: sets the counter, a safe non-negative integer. */
  set n(value: number) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad nonce ${value}`);
    this.#n = value;
  }

  /**
   * A copy of the 32-byte key, for use as a transport key; the caller owns it
   * and should memzero it when done. Throws when there is no key.
   */
  get key(): Uint8Array<ArrayBuffer> {
    if (!this.#hasKey) throw new Error("CipherState has no key");
    return secretCopy(this.#k);
  }

  #setNonce(n: number): Uint8Array<ArrayBuffer> {
    const hi = Math.floor(n / TWO_32);
    this.#nonceView.setUint32(4, n - hi * TWO_32, true);
    this.#nonceView.setUint32(8, hi, true);
    return this.#nonce;
  }

  #usable(): void {
    if (this.#erased) throw new Error("CipherState has been erased");
    if (this.#n > Number.MAX_SAFE_INTEGER) throw new RangeError("nonce counter exhausted");
  }

  /**
   * EncryptWithAd: with a key, `ciphertext || tag` (plaintext length + 16)
   * under nonce n, then n += 1; without a key, a copy of `plaintext`.
   */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array<ArrayBuffer> {
    this.#usable();
    if (!this.#hasKey) return new Uint8Array(plaintext);
    const out = new Uint8Array(plaintext.length + TAGLEN);
    const rc = sodium().crypto_aead_chacha20poly1305_ietf_encrypt(
      out,
      null,
      plaintext,
      big(plaintext.length),
      ad,
      big(ad.length),
      null,
      this.#setNonce(this.#n),
      this.#k,
    );
    if (rc !== 0) throw new Error("crypto_aead_chacha20poly1305_ietf_encrypt() failed");
    this.#n++;
    return out;
  }

  /**
   * DecryptWithAd: with a key, the plaintext of `ciphertext || tag` under
   * nonce n, then n += 1; null when it does not authenticate (or is shorter
   * than a tag), and n is not advanced. Without a key, a copy of
   * `ciphertext`.
   */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array<ArrayBuffer> | null {
    this.#usable();
    if (!this.#hasKey) return new Uint8Array(ciphertext);
    if (ciphertext.length < TAGLEN) return null;
    const out = new Uint8Array(ciphertext.length - TAGLEN);
    const rc = sodium().crypto_aead_chacha20poly1305_ietf_decrypt(
      out,
      null,
      null,
      ciphertext,
      big(ciphertext.length),
      ad,
      big(ad.length),
      this.#setNonce(this.#n),
      this.#k,
    );
    if (rc !== 0) return null;
    this.#n++;
    return out;
  }

  /** Rekey (spec §4.2): k = the first 32 bytes of ENCRYPT(k, 2^64 − 1, empty,
   * 32 zeros). n is unchanged. Throws when there is no key. */
  rekey(): void {
    this.#usable();
    if (!this.#hasKey) throw new Error("CipherState has no key");
    const maxNonce = new Uint8Array(AEAD.NPUBBYTES).fill(0xff, 4);
    const out = secretBytes(KEYLEN + TAGLEN);
    const zeros = new Uint8Array(KEYLEN);
    const rc = sodium().crypto_aead_chacha20poly1305_ietf_encrypt(
      out,
      null,
      zeros,
      big(KEYLEN),
      EMPTY,
      big(0),
      null,
      maxNonce,
      this.#k,
    );
    if (rc !== 0) throw new Error("crypto_aead_chacha20poly1305_ietf_encrypt() failed");
    this.#k.set(out.subarray(0, KEYLEN));
    memzero(out);
  }

  /** An independent copy (key, n, erased state); erase both when done. */
  clone(): CipherState {
    const c = new CipherState();
    c.#k.set(this.#k);
    c.#hasKey = this.#hasKey;
    c.#erased = this.#erased;
    c.#n = this.#n;
    return c;
  }

  /** Zeroes the key. Encrypting or decrypting afterwards throws. */
  erase(): void {
    memzero(this.#k);
    this.#hasKey = false;
    this.#erased = true;
  }
}

/**
 * Noise's SymmetricState (spec §5.2): the chaining key ck, the handshake
 * hash h and a {@linkcode CipherState}.
 */
export class SymmetricState {
  #ck: Uint8Array<ArrayBuffer>;
  #h: Uint8Array<ArrayBuffer>;
  #cipher = new CipherState();

  /** InitializeSymmetric: h = the protocol name zero-padded to 64 bytes, or
   * its hash when longer; ck = h; no key. */
  constructor(protocolName: string | Uint8Array) {
    const name = typeof protocolName === "string" ? new TextEncoder().encode(protocolName) : protocolName;
    if (name.length <= HASHLEN) {
      this.#h = new Uint8Array(HASHLEN);
      this.#h.set(name);
    } else {
      this.#h = hash(name);
    }
    this.#ck = secretCopy(this.#h);
  }

  /** True when the CipherState has a key. */
  hasKey(): boolean {
    return this.#cipher.hasKey();
  }

  #setKey(tempK: Uint8Array): void {
    // HASHLEN is 64: temp_k is truncated to 32 bytes.
    this.#cipher.initializeKey(tempK.subarray(0, KEYLEN));
    memzero(tempK);
  }

  #setCk(ck: Uint8Array<ArrayBuffer>): void {
    memzero(this.#ck);
    this.#ck = ck;
  }

  /** MixKey: ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k[0, 32)). */
  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf(this.#ck, ikm, 2);
    this.#setCk(ck);
    this.#setKey(tempK);
  }

  /** MixHash: h = HASH(h || data). */
  mixHash(data: Uint8Array): void {
    this.#h = hash(this.#h, data);
  }

  /** MixKeyAndHash: ck, temp_h, temp_k = HKDF(ck, ikm, 3); MixHash(temp_h);
   * InitializeKey(temp_k[0, 32)). */
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.#ck, ikm, 3);
    this.#setCk(ck);
    this.mixHash(tempH);
    memzero(tempH);
    this.#setKey(tempK);
  }

  /** GetHandshakeHash: a copy of h (64 bytes). */
  getHandshakeHash(): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.#h);
  }

  /** EncryptAndHash: ciphertext = EncryptWithAd(h, plaintext); MixHash(ciphertext). */
  encryptAndHash(plaintext: Uint8Array): Uint8Array<ArrayBuffer> {
    const ciphertext = this.#cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** DecryptAndHash: plaintext = DecryptWithAd(h, ciphertext); MixHash(ciphertext).
   * Null, and h unchanged, when it does not authenticate. */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array<ArrayBuffer> | null {
    const plaintext = this.#cipher.decryptWithAd(this.#h, ciphertext);
    if (plaintext === null) return null;
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split: two CipherStates from HKDF(ck, empty, 2), each key truncated to
   * 32 bytes; the first is for initiator-to-responder messages. */
  split(): [CipherState, CipherState] {
    const [t1, t2] = hkdf(this.#ck, EMPTY, 2);
    const c1 = new CipherState(t1.subarray(0, KEYLEN));
    const c2 = new CipherState(t2.subarray(0, KEYLEN));
    memzero(t1);
    memzero(t2);
    return [c1, c2];
  }

  /** An independent copy of ck, h and the cipher, to continue from this
   * point more than once (a responder's message may be forged); erase both
   * when done. */
  clone(): SymmetricState {
    const c = new SymmetricState(EMPTY);
    c.#h = new Uint8Array(this.#h);
    memzero(c.#ck);
    c.#ck = secretCopy(this.#ck);
    c.#cipher = this.#cipher.clone();
    return c;
  }

  /** Zeroes ck and the cipher key; h stays readable. */
  erase(): void {
    memzero(this.#ck);
    this.#cipher.erase();
  }
}
