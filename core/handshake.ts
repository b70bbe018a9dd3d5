/**
 * The current format's handshake messages, Noise_IKpsk2 (docs/PROTOCOL.md
 * §3), as pure create/consume functions over a {@linkcode HandshakeKeys}
 * (wireguard-go `device/noise-protocol.go` has the same shape). Only the Noise
 * part of each message is here; its header, mac1 and mac2 are the engine's.
 *
 * The work is ordered so that a message from someone who is not the peer
 * costs as little as it can (issue 10, Medium 3):
 *
 * - consuming an initiation does one variable-base X25519 (es), decrypts the
 *   static key and refuses it unless it is the peer's, before any other DH;
 *   ss = DH(our static, the peer's static) is computed once, at start-up;
 * - consuming a response does two (ee, se), on a copy of the state our
 *   initiation left, so a forged response costs no more and spoils nothing.
 *
 * Low-order points fail as an all-zero DH output (es for an initiation's
 * ephemeral, ee for a response's). tests/handshake_test.ts reproduces with it
 * the independent vectors of ../shared/vectors/current.json in both roles.
 *
 * Secrets: everything secret lives in `secret.ts` buffers; each function
 * zeroes its temporaries, and the returned states are erased by the caller.
 *
 * @module
 */

import { constantTimeEqual, memzero } from "../ffi/sodium.ts";
import { dh, DHLEN, type KeyPair, keyPairFromSecret, TAGLEN } from "./noise_crypto.ts";
import { type CipherState, SymmetricState } from "./noise_state.ts";
import { protocolName } from "./noise.ts";
import { secretCopy } from "./secret.ts";

/** The Noise payload of an initiation's timestamp: 12 bytes. */
const TIMESTAMP_BYTES = 12;
/** Lengths of the Noise part of each message. */
export const INITIATION_NOISE = DHLEN + DHLEN + TAGLEN + TIMESTAMP_BYTES + TAGLEN; // 108
export const RESPONSE_NOISE = DHLEN + TAGLEN; // 48

/** The long-lived keys of one tunnel, with what can be computed once. */
export class HandshakeKeys {
  readonly static: KeyPair;
  readonly peerPublic: Uint8Array;
  readonly #psk: Uint8Array;
  /** DH(our static, the peer's static): the same on both sides. */
  readonly #ss: Uint8Array;
  /** The symmetric state after the protocol name, prologue and the
   * responder's static key, as initiator (the peer responds) and as
   * responder (we respond). */
  readonly #asInitiator: SymmetricState;
  readonly #asResponder: SymmetricState;

  /** Copies the keys. Throws a RangeError when a length is wrong or the
   * peer's key is not a usable X25519 public key. */
  constructor(secretKey: Uint8Array, peerPublic: Uint8Array, psk: Uint8Array, prologue: Uint8Array) {
    if (peerPublic.length !== DHLEN) throw new RangeError("the peer's public key must be 32 bytes");
    if (psk.length !== 32) throw new RangeError("the pre-shared key must be 32 bytes");
    this.static = keyPairFromSecret(secretKey);
    this.peerPublic = new Uint8Array(peerPublic);
    this.#psk = secretCopy(psk);
    const ss = dh(this.static.secretKey, this.peerPublic);
    if (ss === null) {
      this.erase();
      throw new RangeError("the peer's public key is not a usable X25519 public key");
    }
    this.#ss = ss;
    const base = new SymmetricState(protocolName("IKpsk2"));
    base.mixHash(prologue);
    this.#asInitiator = base.clone();
    this.#asInitiator.mixHash(this.peerPublic);
    this.#asResponder = base;
    this.#asResponder.mixHash(this.static.publicKey);
  }

  /** Our initiation: the Noise part (108 bytes: e, encrypted s, encrypted
   * `timestamp`) written into `out`, and the state to read the response
   * with (the caller erases it). `e` is borrowed; 2 variable-base X25519. */
  createInitiation(out: Uint8Array, e: KeyPair, timestamp: Uint8Array): SymmetricState {
    const st = this.#asInitiator.clone();
    st.mixHash(e.publicKey);
    st.mixKey(e.publicKey);
    mixDh(st, e.secretKey, this.peerPublic);
    out.set(e.publicKey, 0);
    const s = st.encryptAndHash(this.static.publicKey);
    out.set(s, DHLEN);
    st.mixKey(this.#ss);
    out.set(st.encryptAndHash(timestamp), DHLEN + s.length);
    return st;
  }

  /**
   * The peer's initiation (its 108-byte Noise part): "handshake" when it does
   * not decrypt (or its ephemeral is a low-order point), "unknown" when the
   * static key in it is not the peer's (after one X25519), else the
   * timestamp, the peer's ephemeral key and the state to answer with.
   */
  consumeInitiation(
    noise: Uint8Array,
  ): "handshake" | "unknown" | { timestamp: Uint8Array; re: Uint8Array; state: SymmetricState } {
    const st = this.#asResponder.clone();
    const re = noise.slice(0, DHLEN);
    st.mixHash(re);
    st.mixKey(re);
    if (!mixDh(st, this.static.secretKey, re)) return fail(st, "handshake");
    const rs = st.decryptAndHash(noise.subarray(DHLEN, DHLEN + DHLEN + TAGLEN));
    if (rs === null) return fail(st, "handshake");
    if (!constantTimeEqual(rs, this.peerPublic)) return fail(st, "unknown");
    st.mixKey(this.#ss);
    const timestamp = st.decryptAndHash(noise.subarray(DHLEN + DHLEN + TAGLEN, INITIATION_NOISE));
    if (timestamp === null || timestamp.length !== TIMESTAMP_BYTES) return fail(st, "handshake");
    return { timestamp, re, state: st };
  }

  /** Our response to a consumed initiation: the Noise part (48 bytes) into
   * `out`, and the transport keys `[initiator→responder,
   * responder→initiator]`. Erases `state`; `e` is borrowed. */
  createResponse(
    out: Uint8Array,
    state: SymmetricState,
    re: Uint8Array,
    e: KeyPair,
  ): [Uint8Array, Uint8Array] {
    state.mixHash(e.publicKey);
    state.mixKey(e.publicKey);
    const ok = mixDh(state, e.secretKey, re) && mixDh(state, e.secretKey, this.peerPublic);
    if (!ok) {
      state.erase();
      throw new Error("X25519 failed on keys that were checked");
    }
    state.mixKeyAndHash(this.#psk);
    out.set(e.publicKey, 0);
    out.set(state.encryptAndHash(new Uint8Array(0)), DHLEN);
    return splitKeys(state);
  }

  /**
   * The response to our initiation (its 48-byte Noise part), read on a copy
   * of `pending` (which stays usable): the transport keys
   * `[initiator→responder, responder→initiator]`, or null when it does not
   * authenticate. Two variable-base X25519.
   */
  consumeResponse(noise: Uint8Array, pending: SymmetricState, e: KeyPair): [Uint8Array, Uint8Array] | null {
    const st = pending.clone();
    const re = noise.subarray(0, DHLEN);
    st.mixHash(re);
    st.mixKey(re);
    if (!mixDh(st, e.secretKey, re) || !mixDh(st, this.static.secretKey, re)) return fail(st, null);
    st.mixKeyAndHash(this.#psk);
    const payload = st.decryptAndHash(noise.subarray(DHLEN, RESPONSE_NOISE));
    if (payload === null || payload.length !== 0) return fail(st, null);
    return splitKeys(st);
  }

  /** Zeroes our secret key, the PSK, ss and the precomputed states. */
  erase(): void {
    memzero(this.static.secretKey);
    memzero(this.#psk);
    if (this.#ss !== undefined) memzero(this.#ss);
    this.#asInitiator?.erase();
    this.#asResponder?.erase();
  }
}

function mixDh(st: SymmetricState, secretKey: Uint8Array, publicKey: Uint8Array): boolean {
  const shared = dh(secretKey, publicKey);
  if (shared === null) return false;
  st.mixKey(shared);
  memzero(shared);
  return true;
}

function fail<T>(st: SymmetricState, result: T): T {
  st.erase();
  return result;
}

function takeKey(c: CipherState): Uint8Array {
  const k = c.key;
  c.erase();
  return k;
}

function splitKeys(st: SymmetricState): [Uint8Array, Uint8Array] {
  const [i2r, r2i] = st.split();
  st.erase();
  return [takeKey(i2r), takeKey(r2i)];
}
