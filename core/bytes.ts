/**
 * Joining byte arrays, for the few places that build one message from
 * parts: Noise handshake messages and hash inputs, and the control socket's
 * answer read in chunks. Not for the data path (it allocates).
 *
 * @module
 */

/** The concatenation of `parts`, in a new buffer of exactly their total
 * length made by `alloc` (a plain `Uint8Array` unless given: a secret
 * buffer's allocator when the parts hold key material). The caller owns
 * the result; `parts` are not changed. */
export function concatBytes(
  parts: readonly Uint8Array[],
  alloc: (length: number) => Uint8Array<ArrayBuffer> = (length) => new Uint8Array(length),
): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = alloc(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
