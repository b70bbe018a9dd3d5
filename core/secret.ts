/**
 * Buffers that hold secrets: keys, chaining keys, DH outputs, the PSK and
 * their HMAC inputs. Every such buffer in the current format is allocated
 * here, so that a test can list them all and check that each is zero after
 * the owner's `close()` or `erase()` (issue 10, Low 4). Tracking is off
 * unless a test turns it on; then the list holds strong references, so it is
 * for tests only.
 *
 * Allocation happens only at handshakes and start-up, never per frame.
 *
 * @module
 */

let tracked: Uint8Array[] | undefined;

/** A new zero-filled secret buffer of `length` bytes; the caller owns it
 * and must memzero it when done. */
export function secretBytes(length: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(length);
  tracked?.push(b);
  return b;
}

/** A secret copy of `source`. */
export function secretCopy(source: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = secretBytes(source.length);
  b.set(source);
  return b;
}

/**
 * For tests: from now on, remembers every buffer {@linkcode secretBytes}
 * makes, and returns the list (it grows as buffers are made). Call
 * {@linkcode stopTrackingSecrets} when done.
 */
export function trackSecrets(): readonly Uint8Array[] {
  tracked = [];
  return tracked;
}

/** Stops remembering secret buffers and drops the list. */
export function stopTrackingSecrets(): void {
  tracked = undefined;
}

/** True when every byte of `b` is zero. */
export function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i];
  return d === 0;
}
