/**
 * The Internet checksum (RFC 1071): the ones' complement sum of 16-bit
 * big-endian words. Pure; allocates nothing.
 *
 * @module
 */

/**
 * The ones' complement sum of the bytes at view offsets `[start, end)`, read
 * as big-endian 16-bit words (an odd last byte is padded with zero), added
 * to `initial` and folded to 16 bits. Not complemented: `~sum & 0xffff` is
 * the checksum to store, and a packet whose checksum is right sums to
 * 0xffff.
 */
export function onesSum(view: DataView, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  // 32 bits at a time (a 64 KiB packet sums to well below 2^53); a 32-bit
  // word adds its two 16-bit halves, since 2^16 ≡ 1 (mod 2^16 − 1).
  for (; i + 4 <= end; i += 4) sum += view.getUint32(i);
  if (i + 2 <= end) {
    sum += view.getUint16(i);
    i += 2;
  }
  if (i < end) sum += view.getUint8(i) * 256;
  return fold(sum);
}

/** Folds a sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 65536) + Math.floor(sum / 65536);
  return sum;
}
