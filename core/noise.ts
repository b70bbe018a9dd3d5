/**
 * The Noise Protocol Framework (revision 34) for one suite,
 * `25519_ChaChaPoly_BLAKE2b`, and the patterns tappet's tests and vectors
 * use: NN, IK, XX and IKpsk2. The primitives are in `noise_crypto.ts`,
 * CipherState and SymmetricState in `noise_state.ts`; this module re-exports
 * them. (The current wire format's own handshake, which orders its work so
 * that an unknown peer costs one DH, is `handshake.ts`, built on the same
 * SymmetricState.)
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

import { constantTimeEqual, memzero } from "../ffi/sodium.ts";
import {
  dh,
  DHLEN,
  generateKeyPair,
  isUsablePublicKey,
  type KeyPair,
  keyPairFromSecret,
  MAX_MESSAGE,
  SUITE,
  TAGLEN,
} from "./noise_crypto.ts";
import { type CipherState, SymmetricState } from "./noise_state.ts";
import { secretCopy } from "./secret.ts";
import { concatBytes } from "./bytes.ts";

export * from "./noise_crypto.ts";
export * from "./noise_state.ts";

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
    this.#psk = options.psk && secretCopy(options.psk);

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
      const message = concatBytes(parts);
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
