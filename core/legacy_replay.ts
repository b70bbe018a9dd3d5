/**
 * The legacy format's replay rule (`PROTOCOL.md` §1 "Receiving"): accept an
 * authenticated datagram only if its 24-byte nonce sorts byte-wise (like
 * memcmp) strictly above the last accepted one, then remember it.
 *
 * This drops every reordered datagram and forgets everything on restart; the
 * current format's sliding window exists because of that.
 *
 * @module
 */

import { NONCE_BYTES } from "./legacy_nonce.ts";

/** The last accepted nonce from the peer. */
export class LegacyReplay {
  readonly #last = new Uint8Array(NONCE_BYTES);
  #any = false;

  /** True when `nonce` (24 bytes from offset 0 of the view) sorts strictly
   * above the last accepted nonce. Does not record it. */
  isFresh(nonce: Uint8Array): boolean {
    if (!this.#any) return true;
    const last = this.#last;
    for (let i = 0; i < NONCE_BYTES; i++) {
      const d = nonce[i] - last[i];
      if (d !== 0) return d > 0;
    }
    return false;
  }

  /** Records `nonce` as the last accepted one. Call only after the datagram
   * authenticated and {@linkcode isFresh} returned true. */
  accept(nonce: Uint8Array): void {
    const last = this.#last;
    for (let i = 0; i < NONCE_BYTES; i++) last[i] = nonce[i];
    this.#any = true;
  }
}
