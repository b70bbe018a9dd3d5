/**
 * TAI64N timestamps (12 bytes: big-endian u64 seconds + 2^62 + 10, then
 * big-endian u32 nanoseconds), as WireGuard carries in its handshake
 * initiation: the responder accepts an initiation only if its timestamp is
 * above the last one it accepted from that peer, so a recorded initiation
 * cannot be replayed to reset a session.
 *
 * Pure: the caller supplies the wall-clock time.
 *
 * @module
 */

/** Length of a TAI64N timestamp in bytes. */
export const TAI64N_BYTES = 12;

/** The TAI64 label: 2^62, plus 10 s (TAI − UTC in 1972), as WireGuard uses. */
const BASE_HIGH = 0x40000000;
const BASE_LOW = 10;

/**
 * Writes the TAI64N timestamp of `unixMs` (milliseconds since the Unix
 * epoch; sub-millisecond precision is dropped on purpose, so the timestamp
 * says little about the sender's clock) into `out[0, 12)`.
 */
export function writeTai64n(out: Uint8Array, unixMs: number): void {
  const seconds = Math.floor(unixMs / 1000);
  const nanos = Math.floor(unixMs - seconds * 1000) * 1e6;
  const view = new DataView(out.buffer, out.byteOffset, TAI64N_BYTES);
  const low = seconds + BASE_LOW;
  view.setUint32(0, BASE_HIGH + Math.floor(low / 2 ** 32));
  view.setUint32(4, low >>> 0);
  view.setUint32(8, nanos);
}

/** True when timestamp `a` is strictly later than `b` (both 12 bytes). */
export function isLater(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_BYTES; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
