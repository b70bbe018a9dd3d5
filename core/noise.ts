/**
 * The Noise Protocol Framework (revision 34) for one suite,
 * `25519_ChaChaPoly_BLAKE2b`, and the patterns tappet uses: NN, IK, XX and
 * IKpsk2.
 *
 *     DH     X25519 (crypto_scalarmult); an all-zero result is a failure
 *     AEAD   ChaCha20-Poly1305 IETF, nonce = 4 zero bytes || n as u64 little-endian
 *     HASH   BLAKE2b-512 (crypto_generichash): HASHLEN 64, BLOCKLEN 128
 *     HMAC   RFC 2104 over HASH; HKDF as in the Noise specification §4.3
 *
 * The protocol name is `Noise_<pattern>_25519_ChaChaPoly_BLAKE2b`.
 *
 * Pure: no I/O, no clock. Randomness is used only for ephemeral keys, through
 * libsodium or an injected generator. libsodium does the cryptography.
 *
 * Ownership: every key handed to a constructor is copied, and every array
 * returned is a fresh copy owned by the caller unless a doc comment says
 * otherwise; `erase()` zeroes only the object's own copies.
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { AEAD, constantTimeEqual, memzero, randomBytes, sodium } from "../ffi/sodium.ts";

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

const TWO_32 = 4294967296;
const EMPTY = new Uint8Array(0);

function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function isZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i];
  return d === 0;
}

/** BLAKE2b-512 (unkeyed) of the concatenation of `parts`: 64 bytes. */
export function hash(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const input = parts.length === 1 ? parts[0] : concat(parts);
  const out = new Uint8Array(HASHLEN);
  if (sodium().crypto_generichash(out, big(HASHLEN), input, big(input.length), null, big(0)) !== 0) {
    throw new Error("crypto_generichash() failed");
  }
  return out;
}

/**
 * HMAC-BLAKE2b-512 (RFC 2104, block length 128) of the concatenation of
 * `parts` under `key` of any length; a key longer than 128 bytes is hashed
 * first. Returns 64 bytes.
 */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const k = new Uint8Array(BLOCKLEN);
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
  const out = hash(k, inner);
  memzero(k);
  memzero(inner);
  return out;
}

/**
 * Noise's HKDF (spec §4.3): `outputs` (2 or 3) outputs of 64 bytes each from
 * the chaining key (64 bytes) and the input key material (0 or 32 bytes in
 * Noise, any length accepted).
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
 * their public key. */
export function generateKeyPair(): KeyPair {
  const secretKey = new Uint8Array(DHLEN);
  randomBytes(secretKey);
  return keyPairFromSecret(secretKey);
}

/** The key pair of the 32-byte X25519 secret key `sk` (copied). */
export function keyPairFromSecret(sk: Uint8Array): KeyPair {
  if (sk.length !== DHLEN) throw new RangeError(`X25519 secret key must be ${DHLEN} bytes`);
  const secretKey = new Uint8Array(sk);
  const publicKey = new Uint8Array(DHLEN);
  if (sodium().crypto_scalarmult_base(publicKey, secretKey) !== 0) {
    throw new Error("crypto_scalarmult_base() failed");
  }
  return { publicKey, secretKey };
}

/**
 * X25519 of our 32-byte secret key and their 32-byte public key: the 32-byte
 * shared secret, or null when libsodium rejects the public key or the result
 * is all zeros (a low-order point).
 */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array<ArrayBuffer> | null {
  if (secretKey.length !== DHLEN || publicKey.length !== DHLEN) return null;
  const out = new Uint8Array(DHLEN);
  if (sodium().crypto_scalarmult(out, secretKey, publicKey) !== 0 || isZero(out)) {
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
 * low-order point) for any secret key. */
export function isUsablePublicKey(publicKey: Uint8Array): boolean {
  const s = dh(PROBE_SCALAR, publicKey);
  if (s === null) return false;
  memzero(s);
  return true;
}

/**
 * Noise's CipherState (spec §5.1): a ChaChaPoly key, possibly empty, and the
 * nonce counter `n`. Without a key it passes data through unchanged, as the
 * spec requires. Call {@linkcode erase} when done; an erased CipherState
 * throws instead of encrypting.
 */
export class CipherState {
  readonly #k = new Uint8Array(KEYLEN);
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
    return new Uint8Array(this.#k);
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
    const out = new Uint8Array(KEYLEN + TAGLEN);
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
  readonly #cipher = new CipherState();

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
    this.#ck = new Uint8Array(this.#h);
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

  /** Zeroes ck and the cipher key; h stays readable. */
  erase(): void {
    memzero(this.#ck);
    this.#cipher.erase();
  }
}

/** A token of a message pattern (spec §7.1, §9). */
export type Token = "e" | "s" | "ee" | "es" | "se" | "ss" | "psk";

/** The handshake patterns this module implements. */
export type PatternName = "NN" | "IK" | "XX" | "IKpsk2";

/** A handshake pattern as data. */
export interface HandshakePattern {
  /** Pre-message tokens of the initiator ("-> …" before "..."). */
  readonly initiatorPre: readonly ("e" | "s")[];
  /** Pre-message tokens of the responder ("<- …" before "..."). */
  readonly responderPre: readonly ("e" | "s")[];
  /** The messages, alternating from the initiator. */
  readonly messages: readonly (readonly Token[])[];
}

/** The patterns of {@linkcode PatternName}, from spec §7.4, §7.5 and §9.4. */
export const PATTERNS: Readonly<Record<PatternName, HandshakePattern>> = Object.freeze({
  NN: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee"]] },
  IK: { initiatorPre: [], responderPre: ["s"], messages: [["e", "es", "s", "ss"], ["e", "ee", "se"]] },
  XX: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee", "s", "es"], ["s", "se"]] },
  IKpsk2: {
    initiatorPre: [],
    responderPre: ["s"],
    messages: [["e", "es", "s", "ss"], ["e", "ee", "se", "psk"]],
  },
});

/** `Noise_<pattern>_25519_ChaChaPoly_BLAKE2b`. */
export function protocolName(pattern: PatternName): string {
  return `Noise_${pattern}_${SUITE}`;
}

/** Options of a {@linkcode HandshakeState}. Keys are copied. */
export interface HandshakeOptions {
  /** The handshake pattern. */
  pattern: PatternName;
  /** True for the side that sends the first message. */
  initiator: boolean;
  /** Data both sides must agree on, mixed into h; any length, may be empty. */
  prologue: Uint8Array;
  /** Our static key pair: required when the pattern sends or pre-shares our
   * static key, ignored otherwise. Its public key must match its secret. */
  s?: KeyPair;
  /** An ephemeral key pair to use instead of a generated one (test vectors). */
  e?: KeyPair;
  /** The peer's static public key: required exactly when it is a
   * pre-message (IK, IKpsk2 initiator). */
  rs?: Uint8Array;
  /** The peer's ephemeral public key: only for pattern with an "e"
   * pre-message (none of {@linkcode PatternName}), rejected otherwise. */
  re?: Uint8Array;
  /** The 32-byte pre-shared key: required exactly for psk patterns. */
  psk?: Uint8Array;
  /** The ephemeral key generator; defaults to {@linkcode generateKeyPair}.
   * The pair it returns is owned (and erased) by the HandshakeState. */
  generateKeyPair?: () => KeyPair;
}

function copyPair(kp: KeyPair, what: string): KeyPair {
  if (kp.publicKey.length !== DHLEN || kp.secretKey.length !== DHLEN) {
    throw new RangeError(`${what} key pair must have 32-byte keys`);
  }
  const copy = keyPairFromSecret(kp.secretKey);
  if (!constantTimeEqual(copy.publicKey, kp.publicKey)) {
    memzero(copy.secretKey);
    throw new RangeError(`${what} public key does not match its secret key`);
  }
  return copy;
}

/**
 * Noise's HandshakeState (spec §5.3) for one side of one handshake.
 *
 * Messages alternate from the initiator; calling {@linkcode writeMessage} or
 * {@linkcode readMessage} out of turn, after completion, after a failure or
 * after {@linkcode erase} throws an Error (a programming error, never the
 * peer's doing).
 *
 * Failure: when {@linkcode readMessage} returns null the handshake has
 * failed for good: its secrets are erased and every later call except the
 * getters throws. Start a new HandshakeState. Received public keys are
 * checked as they are read (a low-order point fails that read), so a DH in
 * {@linkcode writeMessage} cannot fail because of the peer.
 */
export class HandshakeState {
  readonly #pattern: HandshakePattern;
  readonly #initiator: boolean;
  readonly #ss: SymmetricState;
  readonly #psk: Uint8Array<ArrayBuffer> | undefined;
  readonly #psks: boolean;
  readonly #generate: () => KeyPair;
  #s: KeyPair | undefined;
  #e: KeyPair | undefined;
  #rs: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #index = 0;
  #failed = false;
  #erased = false;
  #split = false;

  /** Initialize (spec §5.3): checks and copies the keys, then mixes the
   * protocol name, the prologue and the pre-message public keys. Throws a
   * RangeError for a missing, superfluous or malformed key. */
  constructor(options: HandshakeOptions) {
    const pattern = PATTERNS[options.pattern];
    if (pattern === undefined) throw new RangeError(`unknown Noise pattern ${options.pattern}`);
    this.#pattern = pattern;
    this.#initiator = options.initiator;
    this.#psks = pattern.messages.some((m) => m.includes("psk"));
    this.#generate = options.generateKeyPair ?? generateKeyPair;

    const ours = options.initiator ? 0 : 1;
    const localPre = options.initiator ? pattern.initiatorPre : pattern.responderPre;
    const remotePre = options.initiator ? pattern.responderPre : pattern.initiatorPre;
    const needS = localPre.includes("s") ||
      pattern.messages.some((m, i) => i % 2 === ours && m.includes("s"));
    if (needS && options.s === undefined) throw new RangeError(`${options.pattern} needs our static key`);
    if (remotePre.includes("s") !== (options.rs !== undefined)) {
      throw new RangeError(`${options.pattern} ${options.rs ? "takes no" : "needs the"} peer's static key`);
    }
    if (remotePre.includes("e") !== (options.re !== undefined)) {
      throw new RangeError(
        `${options.pattern} ${options.re ? "takes no" : "needs the"} peer's ephemeral key`,
      );
    }
    if (this.#psks !== (options.psk !== undefined)) {
      throw new RangeError(`${options.pattern} ${options.psk ? "takes no" : "needs a"} pre-shared key`);
    }
    if (options.psk !== undefined && options.psk.length !== 32) throw new RangeError("psk must be 32 bytes");
    for (const [k, what] of [[options.rs, "peer's static"], [options.re, "peer's ephemeral"]] as const) {
      if (k !== undefined && !isUsablePublicKey(k)) {
        throw new RangeError(`the ${what} key is not a usable X25519 public key`);
      }
    }

    this.#s = needS && options.s ? copyPair(options.s, "static") : undefined;
    this.#e = options.e ? copyPair(options.e, "ephemeral") : undefined;
    this.#rs = options.rs && new Uint8Array(options.rs);
    this.#re = options.re && new Uint8Array(options.re);
    this.#psk = options.psk && new Uint8Array(options.psk);

    this.#ss = new SymmetricState(protocolName(options.pattern));
    this.#ss.mixHash(options.prologue);
    const initiatorKeys = options.initiator ? [this.#s, this.#e] : [this.#rs, this.#re];
    const responderKeys = options.initiator ? [this.#rs, this.#re] : [this.#s, this.#e];
    for (
      const [pre, keys] of [[pattern.initiatorPre, initiatorKeys], [
        pattern.responderPre,
        responderKeys,
      ]] as const
    ) {
      for (const token of pre) {
        const k = keys[token === "s" ? 0 : 1];
        const pub = k instanceof Uint8Array ? k : k?.publicKey;
        if (pub === undefined) throw new RangeError(`${options.pattern} needs a pre-message "${token}" key`);
        this.#ss.mixHash(pub);
        if (token === "e" && this.#psks) this.#ss.mixKey(pub);
      }
    }
  }

  /** True once the last handshake message has been written or read. */
  get complete(): boolean {
    return this.#index >= this.#pattern.messages.length && !this.#failed;
  }

  /** True when the next call is {@linkcode writeMessage} (false when complete). */
  get isMyTurn(): boolean {
    return !this.complete && (this.#index % 2 === 0) === this.#initiator;
  }

  /** A copy of h (64 bytes): the channel binding once {@linkcode complete}. */
  get handshakeHash(): Uint8Array<ArrayBuffer> {
    return this.#ss.getHandshakeHash();
  }

  /** A copy of the peer's static public key once known (pre-message or
   * received and authenticated), else undefined. */
  get remoteStatic(): Uint8Array<ArrayBuffer> | undefined {
    return this.#rs && new Uint8Array(this.#rs);
  }

  #checkTurn(writing: boolean): readonly Token[] {
    if (this.#erased || this.#failed) throw new Error("the handshake has failed or been erased");
    if (this.#index >= this.#pattern.messages.length) throw new Error("the handshake is complete");
    if (((this.#index % 2 === 0) === this.#initiator) !== writing) {
      throw new Error(`not our turn to ${writing ? "write" : "read"} a handshake message`);
    }
    return this.#pattern.messages[this.#index];
  }

  /** The DH of token `ee`/`es`/`se`/`ss` from our point of view, or null. */
  #dh(token: "ee" | "es" | "se" | "ss"): Uint8Array<ArrayBuffer> | null {
    // First letter: the initiator's key; second: the responder's.
    const initiatorKey = token[0] === "e" ? "e" : "s";
    const responderKey = token[1] === "e" ? "e" : "s";
    const local = this.#initiator ? initiatorKey : responderKey;
    const remote = this.#initiator ? responderKey : initiatorKey;
    const pair = local === "e" ? this.#e : this.#s;
    const pub = remote === "e" ? this.#re : this.#rs;
    if (pair === undefined || pub === undefined) return null;
    return dh(pair.secretKey, pub);
  }

  #mixDh(token: "ee" | "es" | "se" | "ss"): boolean {
    const shared = this.#dh(token);
    if (shared === null) return false;
    this.#ss.mixKey(shared);
    memzero(shared);
    return true;
  }

  /**
   * WriteMessage: the next handshake message carrying `payload` (encrypted
   * once a key is set). Throws a RangeError when the message would exceed
   * {@linkcode MAX_MESSAGE}; then, as for any throw here, the state is failed.
   */
  writeMessage(payload: Uint8Array): Uint8Array<ArrayBuffer> {
    const tokens = this.#checkTurn(true);
    const parts: Uint8Array[] = [];
    try {
      for (const token of tokens) {
        switch (token) {
          case "e": {
            if (this.#e === undefined) {
              const kp = this.#generate();
              if (kp.publicKey.length !== DHLEN || kp.secretKey.length !== DHLEN) {
                throw new RangeError("generated ephemeral key pair must have 32-byte keys");
              }
              this.#e = kp;
            }
            const pub = this.#e.publicKey;
            parts.push(new Uint8Array(pub));
            this.#ss.mixHash(pub);
            if (this.#psks) this.#ss.mixKey(pub);
            break;
          }
          case "s":
            if (this.#s === undefined) throw new Error("no static key");
            parts.push(this.#ss.encryptAndHash(this.#s.publicKey));
            break;
          case "psk":
            this.#ss.mixKeyAndHash(this.#psk!);
            break;
          default:
            if (!this.#mixDh(token)) throw new Error(`Noise DH "${token}" failed`);
        }
      }
      parts.push(this.#ss.encryptAndHash(payload));
      const message = concat(parts);
      if (message.length > MAX_MESSAGE) throw new RangeError(`Noise message of ${message.length} bytes`);
      this.#index++;
      return message;
    } catch (e) {
      this.#fail();
      throw e;
    }
  }

  /**
   * ReadMessage: the payload of the next handshake message, or null when the
   * message is too short or too long, does not authenticate, carries an
   * unusable public key or a DH fails. After null the state is failed and
   * erased (see the class comment).
   */
  readMessage(message: Uint8Array): Uint8Array<ArrayBuffer> | null {
    const tokens = this.#checkTurn(false);
    if (message.length > MAX_MESSAGE) return this.#fail();
    let off = 0;
    for (const token of tokens) {
      switch (token) {
        case "e": {
          if (message.length - off < DHLEN) return this.#fail();
          const re = message.slice(off, off + DHLEN);
          off += DHLEN;
          if (!isUsablePublicKey(re)) return this.#fail();
          this.#re = re;
          this.#ss.mixHash(re);
          if (this.#psks) this.#ss.mixKey(re);
          break;
        }
        case "s": {
          const len = DHLEN + (this.#ss.hasKey() ? TAGLEN : 0);
          if (message.length - off < len) return this.#fail();
          const rs = this.#ss.decryptAndHash(message.subarray(off, off + len));
          off += len;
          if (rs === null || !isUsablePublicKey(rs)) return this.#fail();
          this.#rs = rs;
          break;
        }
        case "psk":
          this.#ss.mixKeyAndHash(this.#psk!);
          break;
        default:
          if (!this.#mixDh(token)) return this.#fail();
      }
    }
    const payload = this.#ss.decryptAndHash(message.subarray(off));
    if (payload === null) return this.#fail();
    this.#index++;
    return payload;
  }

  #fail(): null {
    this.#failed = true;
    this.erase();
    return null;
  }

  /**
   * Split: the transport CipherStates `[initiator→responder,
   * responder→initiator]`, once {@linkcode complete}. Callable once; it
   * erases the handshake's secrets ({@linkcode handshakeHash} and
   * {@linkcode remoteStatic} stay readable).
   */
  split(): [CipherState, CipherState] {
    if (this.#split) throw new Error("split() already called");
    if (!this.complete || this.#erased) throw new Error("the handshake is not complete");
    const pair = this.#ss.split();
    this.#split = true;
    this.erase();
    return pair;
  }

  /** Zeroes our static and ephemeral secret keys (our copies), the psk, ck
   * and the handshake cipher key. Idempotent. The handshake cannot continue. */
  erase(): void {
    if (this.#erased) return;
    this.#erased = true;
    if (this.#s) memzero(this.#s.secretKey);
    if (this.#e) memzero(this.#e.secretKey);
    if (this.#psk) memzero(this.#psk);
    this.#ss.erase();
  }
}
