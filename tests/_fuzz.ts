/** Helpers of the fuzz tests: a seeded PRNG and the mutations of valid inputs. */

/** A small, fast, seeded PRNG (xorshift32), so a failure can be replayed. */
export class Rng {
  #x: number;
  /** A generator from `seed` (any 32-bit value; 0 counts as 1). */
  constructor(seed: number) {
    this.#x = seed >>> 0 || 1;
  }
  /** The next value, 1..2^32 − 1. */
  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x >>> 0;
    return this.#x;
  }
  /** A value 0..n − 1 (n at most 2^32). */
  below(n: number): number {
    return this.next() % n;
  }
  /** Fills `b[from, to)` with random bytes. */
  fill(b: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to; i++) b[i] = this.next() & 0xff;
  }
}

/**
 * One fuzz input in `buf.bytes`, of the returned length: random bytes,
 * a valid datagram cut short, with flipped bits or bytes, replayed, or a
 * valid header with junk after it.
 */
export function mutate(rng: Rng, buf: Uint8Array, valid: Uint8Array[], headers: number[]): number {
  const kind = rng.below(6);
  const base = valid[rng.below(valid.length)];
  switch (kind) {
    case 0: { // random bytes of a random length
      const n = rng.below(rng.below(8) === 0 ? 2000 : 200);
      rng.fill(buf, 0, n);
      return n;
    }
    case 1: { // truncated
      const n = rng.below(base.length);
      buf.set(base.subarray(0, n));
      return n;
    }
    case 2: { // bit flips
      buf.set(base);
      for (let k = 1 + rng.below(3); k > 0; k--) buf[rng.below(base.length)] ^= 1 << rng.below(8);
      return base.length;
    }
    case 3: // exact replay
      buf.set(base);
      return base.length;
    case 4: { // a plausible header, junk after it
      const n = 1 + rng.below(300);
      rng.fill(buf, 0, n);
      buf[0] = headers[rng.below(headers.length)];
      return n;
    }
    default: { // extended with junk
      buf.set(base);
      const n = base.length + rng.below(100);
      rng.fill(buf, base.length, n);
      return n;
    }
  }
}
