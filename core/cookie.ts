/**
 * Cookies, WireGuard's answer to a flood of handshake messages. A responder
 * under load does no Diffie-Hellman for a message whose mac2 is not valid:
 * it answers with a cookie reply, cheap to make, which only the holder of
 * the source address can read and use. The initiator then puts mac2 =
 * BLAKE2b-128(cookie, message) on its next handshake messages.
 *
 * - cookie = BLAKE2b-128(secret, source address), the secret random and
 *   renewed every 2 minutes;
 * - the reply encrypts the cookie with XChaCha20-Poly1305 under
 *   BLAKE2b-256("tappet cookie" || responder's public key), a random 24-byte
 *   nonce, and the mac1 of the message it answers as associated data, so a
 *   reply is bound to one message and cannot be forged without that mac1.
 *
 * Time: `now` in ns, the engine's clock.
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { memzero, randomBytes, sodium } from "../ffi/sodium.ts";
import { blake2b, checkMac, COOKIE, cookieKey, MAC_BYTES, Type, writeMac } from "./current_wire.ts";
import { secretBytes } from "./secret.ts";

/** How long a cookie secret lives, and a received cookie stays usable. */
export const COOKIE_REFRESH_MS = 120_000;

const enc = new TextEncoder();

function sourceBytes(source: { hostname: string; port: number }): Uint8Array {
  return enc.encode(`${source.hostname}|${source.port}`);
}

/** The responder's side: makes cookies, checks mac2, writes cookie replies. */
export class CookieChecker {
  readonly #key: Uint8Array<ArrayBuffer>;
  readonly #secret = secretBytes(32);
  #secretAt = -Infinity;

  /** A checker for the holder of `ourPublic`. */
  constructor(ourPublic: Uint8Array) {
    this.#key = cookieKey(ourPublic);
  }

  #currentSecret(now: number): Uint8Array {
    if (now - this.#secretAt >= COOKIE_REFRESH_MS * 1e6) {
      randomBytes(this.#secret);
      this.#secretAt = now;
    }
    return this.#secret;
  }

  /** The cookie of `source` now, in a secret buffer the caller zeroes. */
  cookie(source: { hostname: string; port: number }, now: number): Uint8Array<ArrayBuffer> {
    const out = secretBytes(MAC_BYTES);
    blake2b(out, sourceBytes(source), this.#currentSecret(now));
    return out;
  }

  /** True when `msg` carries at `mac2` a valid mac2 for `source`. */
  checkMac2(msg: Uint8Array, mac2: number, source: { hostname: string; port: number }, now: number): boolean {
    const cookie = this.cookie(source, now);
    const ok = checkMac(msg, mac2, cookie);
    memzero(cookie);
    return ok;
  }

  /**
   * A cookie reply to handshake message `msg` (whose mac1 is at `mac1`),
   * sent by `source` with sender index `receiver`.
   */
  reply(
    msg: Uint8Array,
    mac1: number,
    receiver: number,
    source: { hostname: string; port: number },
    now: number,
  ): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(COOKIE.LENGTH);
    out[0] = Type.Cookie;
    out[COOKIE.RECEIVER] = receiver;
    const nonce = out.subarray(COOKIE.NONCE, COOKIE.NONCE + COOKIE.NONCE_LENGTH);
    randomBytes(nonce);
    const cookie = this.cookie(source, now);
    const aad = msg.subarray(mac1, mac1 + MAC_BYTES);
    sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.subarray(COOKIE.ENCRYPTED),
      null,
      cookie,
      big(MAC_BYTES),
      aad,
      big(MAC_BYTES),
      null,
      nonce,
      this.#key,
    );
    memzero(cookie);
    return out;
  }

  /** Erases the secret. */
  erase(): void {
    memzero(this.#secret);
    this.#secretAt = -Infinity;
  }
}

/** The initiator's side: keeps the last cookie and writes mac2. */
export class CookieJar {
  readonly #key: Uint8Array<ArrayBuffer>;
  readonly #cookie = secretBytes(MAC_BYTES);
  #cookieAt = -Infinity;
  readonly #lastMac1 = new Uint8Array(MAC_BYTES);
  #lastIndex = -1;

  /** A jar for cookies from the holder of `peerPublic`. */
  constructor(peerPublic: Uint8Array) {
    this.#key = cookieKey(peerPublic);
  }

  /** Writes mac1 (keyed by `mac1Key`) and mac2 (with a cookie less than
   * 2 minutes old, else zeros) on handshake message `msg`, and remembers
   * its mac1 and `senderIndex` for the cookie reply it may get. */
  seal(msg: Uint8Array, mac1: number, mac1Key: Uint8Array, senderIndex: number, now: number): void {
    writeMac(msg, mac1, mac1Key);
    this.#lastMac1.set(msg.subarray(mac1, mac1 + MAC_BYTES));
    this.#lastIndex = senderIndex;
    const mac2 = mac1 + MAC_BYTES;
    if (now - this.#cookieAt < COOKIE_REFRESH_MS * 1e6) writeMac(msg, mac2, this.#cookie);
    else msg.fill(0, mac2, mac2 + MAC_BYTES);
  }

  /** Takes the cookie from reply `msg` if it answers our last handshake
   * message and decrypts; returns whether it did. */
  accept(msg: Uint8Array, now: number): boolean {
    if (msg.length !== COOKIE.LENGTH || msg[COOKIE.RECEIVER] !== this.#lastIndex) return false;
    const nonce = msg.subarray(COOKIE.NONCE, COOKIE.NONCE + COOKIE.NONCE_LENGTH);
    const cookie = secretBytes(MAC_BYTES);
    const ok = sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      cookie,
      null,
      null,
      msg.subarray(COOKIE.ENCRYPTED),
      big(COOKIE.ENCRYPTED_LENGTH),
      this.#lastMac1,
      big(MAC_BYTES),
      nonce,
      this.#key,
    ) === 0;
    if (ok) {
      this.#cookie.set(cookie);
      this.#cookieAt = now;
    }
    memzero(cookie);
    return ok;
  }

  /** Erases the cookie. */
  erase(): void {
    memzero(this.#cookie);
    this.#cookieAt = -Infinity;
  }
}
