/**
 * An RFC 6479 sliding-window anti-replay check for 48-bit packet counters.
 *
 * The window is a ring bitmap of {@linkcode RING_WORDS} 32-bit words, one bit
 * a counter. The word holding the highest accepted counter is always live,
 * so the window proper is the other 255 words: (256 − 1) × 32 =
 * {@linkcode ReplayWindow.SIZE} = 8160 counters. A counter is accepted once,
 * if it is above the highest accepted counter or less than `SIZE` below it;
 * moving forward zeroes the words skipped over (all of them, at most, for a
 * jump beyond the ring), never more than 256 words.
 *
 * Counters are integers 0..2^48 − 1 held in JS numbers (no BigInt): exact,
 * since 2^48 < 2^53. Nothing is allocated per call.
 *
 * @module
 */

/** Words in the ring; a power of two. */
export const RING_WORDS = 256;
/** The largest counter: 2^48 − 1. */
export const MAX_COUNTER: number = 2 ** 48 - 1;

const BITS = 32;
const INDEX_MASK = RING_WORDS - 1;

/** The anti-replay state of one receiving key. */
export class ReplayWindow {
  /** How far below the highest accepted counter a counter may be and still
   * be accepted, exclusive: `highest − SIZE` is too old, `highest − SIZE + 1`
   * is in the window. 8160. */
  static readonly SIZE: number = (RING_WORDS - 1) * BITS;

  readonly #ring = new Uint32Array(RING_WORDS);
  // -1 before the first accepted counter, so that 0 is a valid first counter.
  #highest = -1;

  /** The highest accepted counter, or -1 when none has been accepted. */
  get highest(): number {
    return this.#highest;
  }

  /**
   * True when {@linkcode accept} would accept `counter`: an integer
   * 0..{@linkcode MAX_COUNTER} that is above the highest accepted counter,
   * or within `SIZE` below it and not yet accepted. Changes nothing.
   */
  check(counter: number): boolean {
    if (!(counter >= 0 && counter <= MAX_COUNTER) || Math.floor(counter) !== counter) return false;
    if (counter > this.#highest) return true;
    if (this.#highest - counter >= ReplayWindow.SIZE) return false;
    const block = Math.floor(counter / BITS);
    return (this.#ring[block & INDEX_MASK] & (1 << (counter - block * BITS))) === 0;
  }

  /**
   * Accepts and records `counter` when {@linkcode check} would; returns
   * false, changing nothing, for a duplicate, a counter too old (`SIZE` or
   * more below the highest) or one that is not an integer 0..2^48 − 1.
   * Call only after the packet authenticated.
   */
  accept(counter: number): boolean {
    if (!(counter >= 0 && counter <= MAX_COUNTER) || Math.floor(counter) !== counter) return false;
    const ring = this.#ring;
    const block = Math.floor(counter / BITS);
    if (counter > this.#highest) {
      // Zero the words between the current highest's word and the new one.
      // Both blocks are below 2^43, so the differences and `& INDEX_MASK`
      // (which keeps the low bits of an integer below 2^53) are exact.
      const current = Math.floor(this.#highest / BITS); // -1 before the first counter
      const steps = Math.min(block - current, RING_WORDS);
      for (let i = 1; i <= steps; i++) ring[(current + i) & INDEX_MASK] = 0;
      this.#highest = counter;
    } else if (this.#highest - counter >= ReplayWindow.SIZE) {
      return false;
    }
    const index = block & INDEX_MASK;
    const bit = 1 << (counter - block * BITS);
    if ((ring[index] & bit) !== 0) return false;
    ring[index] |= bit;
    return true;
  }

  /** Forgets every counter: back to the initial state. */
  reset(): void {
    this.#ring.fill(0);
    this.#highest = -1;
  }
}
