/**
 * The legacy wire format of the 2014 tappet (`PROTOCOL.md` §1), with the
 * rules this project adds: nonces that never repeat, counted drops.
 *
 *     UDP payload = nonce (24) || 16 zero bytes || tag (16) || ciphertext of P
 *
 * where `tag || ciphertext = crypto_box_easy_afternm(P, nonce, k)` and `k` is
 * `crypto_box_beforenm(their_public, our_secret)`, one key for both
 * directions. P is an Ethernet frame (at least 32 bytes) or a control
 * payload; the only control payload is the keepalive `FE hi lo`.
 *
 * No I/O: the session seals and opens {@linkcode PacketBuffer}s in place and
 * takes the time as an argument. libsodium does the cryptography.
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { memzero, sodium } from "../ffi/sodium.ts";
import type { LegacyNonce } from "./legacy_nonce.ts";
import { NONCE_BYTES } from "./legacy_nonce.ts";
import { LegacyReplay } from "./legacy_replay.ts";
import { MAX_DATAGRAM, type PacketBuffer } from "./packet.ts";

/** Offset of the Poly1305 tag: after the nonce and 16 unauthenticated zero
 * bytes (crypto_box_BOXZEROBYTES) that the 2014 program sends. */
export const TAG_OFFSET: number = NONCE_BYTES + 16;
/** Offset of P in a datagram, and so the headroom a frame needs. */
export const HEADROOM: number = TAG_OFFSET + 16;
/** Bytes added to each frame: 24 + 16 + 16. */
export const OVERHEAD: number = HEADROOM;
/** Authenticated payloads shorter than this are not frames. */
export const MIN_FRAME = 32;
/** The largest frame that fits a datagram of {@linkcode MAX_DATAGRAM}. */
export const MAX_FRAME: number = MAX_DATAGRAM - OVERHEAD;
/** First byte of a keepalive payload. */
export const KEEPALIVE = 0xfe;
/** Length of a keepalive payload: `FE hi lo`. */
export const KEEPALIVE_LENGTH = 3;

/** What {@linkcode LegacySession.open} found. */
export const Open = {
  /** A frame for the TAP device: `payload[0, length)`. */
  Frame: 0,
  /** An authenticated keepalive; `keepaliveSize` holds its size field. */
  Keepalive: 1,
  /** Authenticated, but under 32 bytes and not a keepalive: ignored. */
  Runt: 2,
  /** Dropped: 24 bytes or fewer, or too short to hold a tag. */
  TooShort: 3,
  /** Dropped: did not authenticate (wrong key, tampered, junk). */
  BadTag: 4,
  /** Dropped: authenticated but its nonce is not above the last one. */
  Replay: 5,
  /** Dropped: larger than {@linkcode MAX_DATAGRAM}. */
  TooLong: 6,
  /** Dropped: one of our own datagrams of this run, sent back to us. */
  Reflected: 7,
} as const;
/** One of the {@linkcode Open} values. */
export type OpenKind = typeof Open[keyof typeof Open];

/** True for the outcomes that authenticated and passed the replay rule:
 * these update the peer's address (roaming) and the keepalive timer. */
export function isAccepted(kind: OpenKind): boolean {
  return kind <= Open.Runt;
}

/**
 * One legacy tunnel's cryptographic state: the shared key, our nonce source
 * and the peer's last nonce. Erase it with {@linkcode close}.
 */
export class LegacySession {
  readonly #k: Uint8Array<ArrayBuffer>;
  readonly #nonce: LegacyNonce;
  readonly #replay = new LegacyReplay();
  #closed = false;
  /** Size field of the last keepalive opened. */
  keepaliveSize = 0;
  /** The largest authenticated payload received after the nonce
   * (datagram length − 24), capped at 65535: what our keepalives report. */
  largestReceived = 0;
  /** The largest datagram payload after the nonce that the peer reported. */
  largestPeerReceived = 0;

  /**
   * A session sealing and opening with one shared key.
   *
   * @param sharedKey `crypto_box_beforenm(their_public, our_secret)`, 32
   *   bytes; copied.
   * @param nonce this run's nonce source; owned by the session from now on.
   */
  constructor(sharedKey: Uint8Array, nonce: LegacyNonce) {
    if (sharedKey.length !== 32) throw new RangeError("shared key must be 32 bytes");
    this.#k = new Uint8Array(sharedKey);
    this.#nonce = nonce;
  }

  /**
   * Seals the `length`-byte frame at `buf.payload` in place. Returns the
   * datagram length (`length + 56`); the datagram is `buf.bytes[0, n)`.
   * `nowNs` is the tunnel's clock in ns, the nonce's counter. Throws once
   * the session is closed (its key is gone: nothing may be sealed).
   */
  seal(buf: PacketBuffer, length: number, nowNs: number): number {
    if (this.#closed) throw new Error("the legacy session is closed");
    if (buf.headroom !== HEADROOM) throw new RangeError("legacy packets need 56 bytes of headroom");
    if (length > MAX_FRAME) throw new RangeError(`frame of ${length} bytes exceeds ${MAX_FRAME}`);
    const bytes = buf.bytes;
    bytes.set(this.#nonce.next(nowNs), 0);
    bytes.fill(0, NONCE_BYTES, TAG_OFFSET);
    // In place: c = bytes + 40, m = bytes + 56 = c + MACBYTES, which
    // crypto_box_easy_afternm supports without a copy.
    sodium().crypto_box_easy_afternm(buf.from(TAG_OFFSET), buf.payload, big(length), bytes, this.#k);
    return length + OVERHEAD;
  }

  /** Seals a keepalive reporting `size` (clamped to 0..65535) into `buf`;
   * returns the datagram length, 59. */
  sealKeepalive(buf: PacketBuffer, size: number, nowNs: number): number {
    const p = buf.payload;
    const s = Math.max(0, Math.min(0xffff, size | 0));
    p[0] = KEEPALIVE;
    p[1] = s >> 8;
    p[2] = s & 0xff;
    return this.seal(buf, KEEPALIVE_LENGTH, nowNs);
  }

  /**
   * Opens the `length`-byte datagram in `buf.bytes` in place. For
   * {@linkcode Open.Frame} the frame is `buf.payload[0, length − 56)`.
   * Nothing is changed unless the datagram authenticates and is fresh.
   * Once the session is closed every datagram is {@linkcode Open.BadTag},
   * without any cryptography (the zeroed key must not open anything).
   */
  open(buf: PacketBuffer, length: number): OpenKind {
    if (this.#closed) return Open.BadTag;
    if (length > MAX_DATAGRAM) return Open.TooLong;
    if (length < HEADROOM) return Open.TooShort; // includes ≤ 24: no ciphertext
    const bytes = buf.bytes;
    // With one key for both directions our own datagrams authenticate too;
    // those of this run carry our prefix and random bytes.
    if (this.#nonce.isOwn(bytes)) return Open.Reflected;
    // The nonce is checked before the tag: a stale datagram costs no crypto.
    if (!this.#replay.isFresh(bytes)) {
      // Authenticate anyway, so that junk is counted as junk, not as replay.
      return this.#authenticates(buf, length) ? Open.Replay : Open.BadTag;
    }
    if (!this.#authenticates(buf, length)) return Open.BadTag;
    this.#replay.accept(bytes);
    const received = length - NONCE_BYTES;
    if (received > this.largestReceived) this.largestReceived = Math.min(received, 0xffff);
    const plen = length - HEADROOM;
    if (plen >= MIN_FRAME) return Open.Frame;
    const p = buf.payload;
    if (plen === KEEPALIVE_LENGTH && p[0] === KEEPALIVE) {
      this.keepaliveSize = (p[1] << 8) | p[2];
      if (this.keepaliveSize > this.largestPeerReceived) this.largestPeerReceived = this.keepaliveSize;
      return Open.Keepalive;
    }
    return Open.Runt;
  }

  /** Decrypts in place (m = c + MACBYTES); true when the tag is valid. */
  #authenticates(buf: PacketBuffer, length: number): boolean {
    return sodium().crypto_box_open_easy_afternm(
      buf.payload,
      buf.from(TAG_OFFSET),
      big(length - TAG_OFFSET),
      buf.bytes,
      this.#k,
    ) === 0;
  }

  /** Erases the shared key. Afterwards {@linkcode seal} throws and
   * {@linkcode open} refuses every datagram. Idempotent. */
  close(): void {
    this.#closed = true;
    memzero(this.#k);
  }
}
