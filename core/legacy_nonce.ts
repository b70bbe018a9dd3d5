/**
 * The legacy format's nonce source (`PROTOCOL.md` §1 "Nonce").
 *
 *     bytes 0..3    prefix, big-endian u32, from the nonce file, fixed for the run
 *     bytes 4..15   12 random bytes, drawn once at start-up
 *     bytes 16..23  big-endian u64: CLOCK_MONOTONIC in nanoseconds
 *
 * The 2014 program copies the clock into the last 8 bytes for every datagram.
 * When two datagrams are sealed within one clock tick, that repeats a nonce
 * under the one shared key. This source never does: the counter is the clock
 * or the last counter + 1, whichever is larger, so it strictly increases for
 * the whole run whatever the clock does.
 *
 * Pure: the caller supplies the random bytes and the time.
 *
 * @module
 */

/** Length of a legacy nonce in bytes (crypto_box_NONCEBYTES). */
export const NONCE_BYTES = 24;

const TWO_32 = 4294967296;

/** A strictly increasing 24-byte nonce for one run under one prefix. */
export class LegacyNonce {
  /** The current nonce. Owned by this object: rewritten by each
   * {@linkcode next}, so callers copy it if they keep it. */
  readonly bytes: Uint8Array<ArrayBuffer> = new Uint8Array(NONCE_BYTES);
  readonly #view = new DataView(this.bytes.buffer);
  // The 64-bit counter as two u32 halves: exact at any size, no BigInt, and
  // stored in a typed array so that no heap number is allocated per nonce.
  readonly #counter = new Uint32Array(2);
  #used = false;

  /**
   * A nonce source for one run.
   *
   * @param prefix the nonce-file value for this run, 1..2^32-1.
   * @param random 12 bytes drawn once at start-up (copied).
   */
  constructor(prefix: number, random: Uint8Array) {
    if (!Number.isInteger(prefix) || prefix < 1 || prefix >= TWO_32) {
      throw new RangeError(`nonce prefix must be 1..2^32-1, got ${prefix}`);
    }
    if (random.length !== 12) throw new RangeError("nonce needs 12 random bytes");
    this.#view.setUint32(0, prefix);
    this.bytes.set(random, 4);
  }

  /**
   * True when `nonce` (its first 16 bytes) has this run's prefix and random
   * bytes: a nonce of ours, so the datagram is our own, reflected. A peer's
   * nonce matches by chance with probability 2^-96. Allocates nothing.
   */
  isOwn(nonce: Uint8Array): boolean {
    const own = this.bytes;
    for (let i = 0; i < 16; i++) if (nonce[i] !== own[i]) return false;
    return true;
  }

  /**
   * Advances to the nonce for the next datagram and returns
   * {@linkcode bytes}. `nowNs` is CLOCK_MONOTONIC in nanoseconds (a double;
   * precision lost above 2^53 only makes the +1 rule apply more often).
   * Allocates nothing.
   */
  next(nowNs: number): Uint8Array<ArrayBuffer> {
    let hi = Math.floor(nowNs / TWO_32);
    let lo = nowNs - hi * TWO_32;
    const c = this.#counter;
    if (this.#used && (hi < c[0] || (hi === c[0] && lo <= c[1]))) {
      hi = c[0];
      lo = c[1] + 1;
      if (lo === TWO_32) {
        lo = 0;
        hi += 1;
      }
    }
    if (hi >= TWO_32) {
      // 2^64 ns is 584 years: unreachable, but never wrap silently.
      throw new RangeError("legacy nonce counter exhausted");
    }
    c[0] = hi;
    c[1] = lo;
    this.#used = true;
    this.#view.setUint32(16, hi);
    this.#view.setUint32(20, lo);
    return this.bytes;
  }
}
