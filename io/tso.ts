/**
 * TCP segmentation of super-frames read from a TAP with offloads (TSO on
 * the TAP, as wireguard-go does it for TUN): {@linkcode TsoSplitter} cuts a
 * super-frame of up to 64 KiB into the Ethernet frames that cross the
 * tunnel, each with correct lengths, sequence numbers and checksums, so a
 * peer without offloads (the 2014 tappet) reads them as usual. Pure; tested
 * without a kernel.
 *
 * @module
 */

import { type OnesSum, onesSum } from "../core/checksum.ts";
import { copyBytes } from "../core/arena.ts";
import {
  ETH_IPV4,
  ETH_IPV6,
  ETH_VLAN,
  pseudoSum,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  Vnet,
  VNET_HDR_LEN,
} from "./vnet.ts";

/**
 * Cuts one frame read from a TAP with IFF_VNET_HDR into plain frames. Load
 * it with a frame, then take segments with {@linkcode next} until it
 * returns 0. A frame that is not a super-frame comes out whole (with its
 * checksum completed if the kernel left it partial).
 */
export class TsoSplitter {
  readonly #sum: OnesSum;
  #src: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #start = 0; // frame start in #src (after the vnet header)
  #end = 0;
  #gso = false;
  #ipv6 = false;
  #ipOff = 0;
  #l4Off = 0;
  #hdrLen = 0;
  #mss = 0;
  #segments = 0;
  #k = 0;
  /** The super-frame's first sequence number, a uint32. Starts as -0, a
   * double: V8 keeps a field that first held a small integer (a Smi, below
   * 2^30) as one, and the first larger number would change the class of
   * every splitter and deoptimize the code that uses them
   * (tests/jit_shapes_test.ts). */
  #seq0 = -0;
  #id0 = 0;
  /** The largest frame a cut segment may be, bytes (Ethernet header
   * included): a super-frame's gso_size is lowered so that its segments fit
   * the path (issue 14); Infinity (the default) keeps gso_size. */
  maxFrame = Infinity;

  /** A splitter that sums payloads with `sum` (the arena's, which is
   * faster for frames in it; default {@linkcode onesSum}). */
  constructor(sum: OnesSum = onesSum) {
    this.#sum = sum;
  }

  /** True when the loaded frame is a TCP super-frame (GSO), not a plain one. */
  get superFrame(): boolean {
    return this.#gso;
  }

  /** Segments still to come from the loaded frame. */
  get remaining(): number {
    return this.#segments - this.#k;
  }

  /**
   * Loads the vnet header and frame at `src[offset, offset + length)`.
   * `view` is a DataView over the same memory as `src`, in which `src[0]`
   * lies at view offset `viewBase`. Returns false for a super-frame it
   * cannot cut (not TCP over IPv4/IPv6 on Ethernet, with at most one 802.1Q
   * tag), which the caller drops and counts. The buffer must not change
   * until the last segment is taken.
   */
  load(src: Uint8Array, view: DataView, viewBase: number, offset: number, length: number): boolean {
    this.#src = src;
    this.#view = view;
    const v = viewBase + offset;
    const flags = src[offset];
    const gsoType = src[offset + 1] & ~Vnet.GSO_ECN;
    const gsoSize = view.getUint16(v + 4, true);
    const csumStart = view.getUint16(v + 6, true);
    const csumOffset = view.getUint16(v + 8, true);
    this.#start = offset + VNET_HDR_LEN;
    this.#end = offset + length;
    this.#k = 0;
    if (gsoType === Vnet.GSO_NONE) {
      this.#gso = false;
      this.#segments = 1;
      if ((flags & Vnet.F_NEEDS_CSUM) !== 0) {
        const at = this.#start + csumStart;
        const sum = this.#sum(view, viewBase + at, viewBase + this.#end);
        view.setUint16(viewBase + at + csumOffset, ~sum & 0xffff);
      }
      return true;
    }
    if ((gsoType !== Vnet.GSO_TCPV4 && gsoType !== Vnet.GSO_TCPV6) || gsoSize === 0) return false;
    const f = viewBase + this.#start;
    // Plain Ethernet, or one 802.1Q tag.
    const vlan = view.getUint16(f + 12) === ETH_VLAN;
    const type = view.getUint16(f + (vlan ? 16 : 12));
    if (type !== ETH_IPV4 && type !== ETH_IPV6) return false;
    this.#ipv6 = type === ETH_IPV6;
    this.#ipOff = vlan ? 18 : 14;
    this.#l4Off = csumStart;
    const tcpLen = (src[this.#start + this.#l4Off + 12] >> 4) * 4;
    this.#hdrLen = this.#l4Off + tcpLen;
    const payload = this.#end - this.#start - this.#hdrLen;
    if (payload <= 0 || tcpLen < 20) return false;
    this.#gso = true;
    const room = this.maxFrame - this.#hdrLen;
    this.#mss = room >= 8 && room < gsoSize ? room : gsoSize;
    this.#segments = Math.ceil(payload / this.#mss);
    this.#seq0 = view.getUint32(f + this.#l4Off + 4);
    this.#id0 = this.#ipv6 ? 0 : view.getUint16(f + this.#ipOff + 4);
    return true;
  }

  /**
   * Writes the next plain frame into `dst[0, n)` (`dstView` over the same
   * buffer, `dstBase` the view offset of `dst[0]`); returns n, or 0 when the
   * loaded frame is used up.
   */
  next(dst: Uint8Array, dstView: DataView, dstBase: number): number {
    if (this.#k >= this.#segments) return 0;
    const src = this.#src;
    if (!this.#gso) {
      this.#k++;
      copyBytes(dst, 0, src, this.#start, this.#end);
      return this.#end - this.#start;
    }
    const k = this.#k++;
    const last = this.#k === this.#segments;
    const hdr = this.#hdrLen;
    const from = this.#start + hdr + k * this.#mss;
    const segLen = last ? this.#end - from : this.#mss;
    copyBytes(dst, 0, src, this.#start, this.#start + hdr);
    copyBytes(dst, hdr, src, from, from + segLen);
    const ip = dstBase + this.#ipOff;
    const l4 = dstBase + this.#l4Off;
    const v = dstView;
    if (this.#ipv6) {
      v.setUint16(ip + 4, hdr - this.#ipOff - 40 + segLen);
    } else {
      const ihl = (v.getUint8(ip) & 0x0f) * 4;
      v.setUint16(ip + 2, hdr - this.#ipOff + segLen);
      v.setUint16(ip + 4, (this.#id0 + k) & 0xffff);
      v.setUint16(ip + 10, 0);
      v.setUint16(ip + 10, ~onesSum(v, ip, ip + ihl) & 0xffff);
    }
    v.setUint32(l4 + 4, (this.#seq0 + k * this.#mss) >>> 0);
    let tcpFlags = v.getUint8(l4 + 13);
    if (!last) tcpFlags &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) tcpFlags &= ~TCP_CWR;
    v.setUint8(l4 + 13, tcpFlags);
    const tcpTotal = hdr - this.#l4Off + segLen;
    v.setUint16(l4 + 16, 0);
    const pseudo = pseudoSum(v, ip, this.#ipv6, tcpTotal);
    v.setUint16(l4 + 16, ~this.#sum(v, l4, l4 + tcpTotal, pseudo) & 0xffff);
    return hdr + segLen;
  }
}
