/**
 * IPv4 fragmentation of Ethernet frames, as a router does it (RFC 791
 * §3.2, "an example fragmentation procedure"): a packet without DF that is
 * too big for the tunnel is cut into fragments whose data is a multiple of
 * 8 bytes, each a frame of its own with the original Ethernet header (and
 * VLAN tags), the IP header with MF, the fragment offset, the total length
 * and the header checksum set, and, after the first, only the options whose
 * "copied" flag is set. Pure: copies between given buffers, no allocation.
 *
 * @module
 */

import { copyBytes } from "./arena.ts";
import { inetSum } from "./icmp.ts";

/** IP_MF and IP_OFFSET of the IPv4 flags/fragment-offset word (RFC 791). */
const IP_MF = 0x2000;
const IP_OFFSET = 0x1fff;
/** Option types (RFC 791): end of list, no-operation; bit 7 is "copied". */
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_COPIED = 0x80;

/** Where fragments are written: buffer i is `bytes[i]` (its view `views[i]`
 * with `bytes[i][0]` at view offset `bases[i]`), and `lengths[i]` receives
 * the fragment frame's length. */
export interface FragmentSink {
  readonly bytes: Uint8Array[];
  readonly views: DataView[];
  readonly bases: Int32Array;
  readonly lengths: Int32Array;
}

/**
 * Cuts the IPv4 packet of frame `src[0, length)` (IP header at `ip`; `v`
 * its view, `src[0]` at view offset `base`) into frames of at most
 * `maxFrame` bytes, written to `sink` buffers `[at, at + max)`. Returns how
 * many, or 0 when they do not fit in `max` buffers or `maxFrame` leaves no
 * room for 8 bytes of data. Bytes of the frame after the IP packet's total
 * length (Ethernet padding) are left out.
 */
export function fragmentIpv4(
  src: Uint8Array,
  v: DataView,
  base: number,
  length: number,
  ip: number,
  maxFrame: number,
  sink: FragmentSink,
  at: number,
  max: number,
): number {
  const ihl = (src[ip] & 0x0f) * 4;
  const total = Math.min(v.getUint16(base + ip + 2), length - ip);
  const flags = v.getUint16(base + ip + 6);
  const offset0 = (flags & IP_OFFSET) * 8;
  const lastMf = flags & IP_MF;
  const data = total - ihl;
  // Options of the later fragments: the copied ones, padded to 4 bytes.
  const firstHdr = ip + ihl;
  const copiedLen = copiedOptionsLength(src, ip + 20, firstHdr);
  const laterIhl = 20 + ((copiedLen + 3) & ~3);
  const firstRoom = (maxFrame - firstHdr) & ~7;
  const laterRoom = (maxFrame - ip - laterIhl) & ~7;
  if (firstRoom < 8 || laterRoom < 8 || data <= 0) return 0;
  const count = data <= firstRoom ? 1 : 1 + Math.ceil((data - firstRoom) / laterRoom);
  if (count > max) return 0;
  let done = 0;
  for (let k = 0; k < count; k++) {
    const i = at + k;
    const dst = sink.bytes[i];
    const dv = sink.views[i];
    const d = sink.bases[i];
    const hl = k === 0 ? ihl : laterIhl;
    const room = k === 0 ? firstRoom : laterRoom;
    const n = Math.min(room, data - done);
    copyBytes(dst, 0, src, 0, ip + 20); // Ethernet and the fixed IP header
    if (k === 0) {
      copyBytes(dst, ip + 20, src, ip + 20, firstHdr);
    } else {
      copyCopiedOptions(src, ip + 20, firstHdr, dst, ip + 20);
      dst.fill(OPT_EOL, ip + 20 + copiedLen, ip + hl);
    }
    copyBytes(dst, ip + hl, src, firstHdr + done, firstHdr + done + n);
    const last = done + n === data;
    dv.setUint8(d + ip, 0x40 | (hl >> 2));
    dv.setUint16(d + ip + 2, hl + n);
    const mf = last ? lastMf : IP_MF;
    dv.setUint16(d + ip + 6, (flags & ~(IP_MF | IP_OFFSET)) | mf | ((offset0 + done) >> 3));
    dv.setUint16(d + ip + 10, 0);
    dv.setUint16(d + ip + 10, ~inetSum(dv, d + ip, d + ip + hl) & 0xffff);
    sink.lengths[i] = ip + hl + n;
    done += n;
  }
  return count;
}

/** Calls `each(o, len)` for every option in `b[from, to)` whose copied flag
 * is set, in order: `o` is where it starts, `len` its length in bytes. Stops
 * at an end-of-list option or a length that is under 2 or runs past `to`. */
function eachCopiedOption(
  b: Uint8Array,
  from: number,
  to: number,
  each: (o: number, len: number) => void,
): void {
  for (let o = from; o < to;) {
    const type = b[o];
    if (type === OPT_EOL) break;
    if (type === OPT_NOP) {
      o++;
      continue;
    }
    const len = o + 1 < to ? b[o + 1] : 0;
    if (len < 2 || o + len > to) break;
    if ((type & OPT_COPIED) !== 0) each(o, len);
    o += len;
  }
}

/** Bytes of the options in `b[from, to)` whose copied flag is set. */
function copiedOptionsLength(b: Uint8Array, from: number, to: number): number {
  let n = 0;
  eachCopiedOption(b, from, to, (_o, len) => {
    n += len;
  });
  return n;
}

/** Copies the options of `b[from, to)` whose copied flag is set to `dst`
 * at `at`, in order. */
function copyCopiedOptions(b: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): void {
  eachCopiedOption(b, from, to, (o, len) => {
    copyBytes(dst, at, b, o, o + len);
    at += len;
  });
}
