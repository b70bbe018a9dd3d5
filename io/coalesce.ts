/**
 * GRO towards a TAP with offloads: {@linkcode Coalescer} joins consecutive
 * TCP segments (and UDP datagrams) of one flow from a batch of received
 * frames into super-frames, so the TCP stack behind the TAP sees a few large
 * packets instead of many small ones. Pure, apart from the write callback;
 * tested without a kernel.
 *
 * @module
 */

import { type OnesSum, onesSum } from "../core/checksum.ts";
import { type Arena, copyBytes } from "../core/arena.ts";
// Bytes before the counted IP length: Ethernet; Ethernet and the IPv6
// header (whose payload length leaves it out).
import { ETH_HLEN, IPV6_HLEN } from "../core/mss.ts";
import { Errno } from "../ffi/libc.ts";
import {
  ETH_IPV4,
  ETH_IPV6,
  pseudoSum,
  SUPER_FRAME_BYTES,
  TCP,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  UDP,
  Vnet,
  VNET_HDR_LEN,
} from "./vnet.ts";

/** The most datagrams the kernel cuts from one USO super-frame
 * (UDP_MAX_SEGMENTS of <linux/udp.h> up to Linux 6.10). */
const UDP_MAX_SEGMENTS = 64;
/** Where a frame starts after its vnet header. */
const F = VNET_HDR_LEN;
/** The largest IPv4 total length and IPv6 payload length: their 16-bit
 * length fields (RFC 791, RFC 8200). A join must not pass it, or the length
 * wraps and the kernel discards the super-frame. */
const IP_LENGTH_MAX = 65535;

/**
 * Joins consecutive segments of one flow from a batch of received frames
 * into super-frames for a TAP with IFF_VNET_HDR, and writes everything else
 * as it comes, in order.
 *
 * - TCP segments are joined when the kernel's GRO would join them: same
 *   Ethernet, IP and TCP headers but for lengths, IDs and checksums,
 *   consecutive sequence numbers, only ACK (PSH on the last), equal sizes
 *   but for a shorter last one, a valid checksum each, 64 KiB at most.
 * - UDP datagrams of one flow with equal payloads (the last may be
 *   shorter) are joined into a UDP_L4 super-frame (USO) of at most 64
 *   datagrams, which the kernel cuts again before delivering them. A kernel
 *   that refuses USO (EINVAL) gets the datagrams one by one from then on.
 */
export class Coalescer {
  readonly #buf: Uint8Array<ArrayBuffer>;
  readonly #view: DataView;
  readonly #write: (bytes: Uint8Array, length: number, frames: number) => number;
  /** Checks the segments' checksums: the arena's (WebAssembly), else onesSum. */
  readonly #sum: OnesSum;
  #open = false;
  #udp = false; // the group is UDP, else TCP
  #len = 0; // frame bytes in #buf after the vnet header
  #count = 0;
  #ipv6 = false;
  #l4 = 0; // TCP or UDP header offset in the frame
  #hdr = 0; // Ethernet + IP + TCP/UDP header length
  #mss = 0;
  /** The sequence number the next segment must have, a uint32; -0 (a
   * double) to start with, for the reason TsoSplitter's `#seq0` is. */
  #nextSeq = -0;
  #closed = false; // the last segment was short or had PSH: no more
  // The frames of a UDP group, kept (where they lie) until the super-frame
  // is accepted: if USO is refused they are written one by one.
  readonly #members: Uint8Array[] = new Array(UDP_MAX_SEGMENTS);
  readonly #memberLengths = new Int32Array(UDP_MAX_SEGMENTS);
  #usoRefused = false;
  /** Called with the errno and the frame bytes of a frame the TAP refused
   * (a refused super-frame: all its frames' bytes with the first, 0 with
   * the others). */
  onRefused: (errno: number, bytes: number) => void = () => {};

  /**
   * `write(bytes, length, frames)` puts `bytes[0, length)` (a vnet header and
   * a frame that stands for `frames` frames) to the TAP and returns 0 or the
   * errno of a refusal; the bytes are reused once it returns. The
   * super-frame buffer comes from `arena` (the tunnel's, so that copies into
   * it from received buffers allocate nothing).
   */
  constructor(write: (bytes: Uint8Array, length: number, frames: number) => number, arena?: Arena) {
    this.#write = write;
    this.#buf = arena?.alloc(VNET_HDR_LEN + SUPER_FRAME_BYTES) ??
      new Uint8Array(VNET_HDR_LEN + SUPER_FRAME_BYTES);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
    this.#sum = arena?.onesSum ?? onesSum;
  }

  /** Frames joined into super-frames so far (for counters). */
  joined = 0;

  #put(bytes: Uint8Array, length: number, frames: number): void {
    const e = this.#write(bytes, length, frames);
    if (e !== 0) this.onRefused(e, length - VNET_HDR_LEN);
  }

  /**
   * Takes the frame of `length` bytes that starts 10 bytes into `vnet` (the
   * room for its vnet header; see PacketBuffer.front), at view offset
   * `frameBase`. A frame that is not joined is written from where it lies,
   * with a zeroed header. `vnet` must stay unchanged until {@linkcode flush}.
   */
  add(vnet: Uint8Array, view: DataView, frameBase: number, length: number): void {
    if (this.#open && this.#appends(vnet, view, frameBase, length)) return;
    this.flush();
    if (this.#starts(vnet, view, frameBase, length)) return;
    vnet.fill(0, 0, VNET_HDR_LEN);
    this.#put(vnet, VNET_HDR_LEN + length, 1);
  }

  /** Writes the super-frame being built, if any. Call after each batch. */
  flush(): void {
    if (!this.#open) return;
    this.#open = false;
    const b = this.#buf;
    const v = this.#view;
    const f = VNET_HDR_LEN;
    if (this.#count === 1) {
      b.fill(0, 0, VNET_HDR_LEN);
      this.#put(b, f + this.#len, 1);
      return;
    }
    const ip = f + 14;
    const l4 = f + this.#l4;
    const l4Total = this.#len - this.#l4;
    if (this.#ipv6) {
      v.setUint16(ip + 4, this.#len - 14 - 40);
    } else {
      const ihl = (b[ip] & 0x0f) * 4;
      v.setUint16(ip + 2, this.#len - 14);
      v.setUint16(ip + 10, 0);
      v.setUint16(ip + 10, ~onesSum(v, ip, ip + ihl) & 0xffff);
    }
    // CHECKSUM_PARTIAL: the checksum field holds the pseudo-header sum; the
    // kernel (or whoever cuts the super-frame again) completes it.
    const proto = this.#udp ? UDP : TCP;
    if (this.#udp) v.setUint16(l4 + 4, l4Total);
    v.setUint16(l4 + (this.#udp ? 6 : 16), pseudoSum(v, ip, this.#ipv6, l4Total, proto));
    b[0] = Vnet.F_NEEDS_CSUM;
    b[1] = this.#udp ? Vnet.GSO_UDP_L4 : this.#ipv6 ? Vnet.GSO_TCPV6 : Vnet.GSO_TCPV4;
    v.setUint16(2, this.#hdr, true);
    v.setUint16(4, this.#mss, true);
    v.setUint16(6, this.#l4, true);
    v.setUint16(8, this.#udp ? 6 : 16, true);
    const e = this.#write(b, f + this.#len, this.#count);
    if (e === 0) {
      this.joined += this.#count;
    } else if (this.#udp && e === Errno.EINVAL) {
      this.#usoRefused = true; // a kernel without USO on TAP writes
      for (let i = 0; i < this.#count; i++) {
        const m = this.#members[i];
        m.fill(0, 0, VNET_HDR_LEN);
        this.#put(m, VNET_HDR_LEN + this.#memberLengths[i], 1);
      }
    } else {
      const bytes = this.#len + (this.#count - 1) * this.#hdr; // each frame has the headers
      for (let i = 0; i < this.#count; i++) this.onRefused(e, i === 0 ? bytes : 0);
    }
  }

  /**
   * The layer-4 header offset if the frame is a TCP segment or a UDP
   * datagram with data that may be joined, with a valid checksum, else 0.
   * Sets #candidateUdp.
   */
  #candidate(vnet: Uint8Array, view: DataView, base: number, length: number): number {
    if (length < 14 + 20 + 8) return 0;
    const type = view.getUint16(base + 12);
    let l4: number;
    let ipLen: number;
    let proto: number;
    if (type === ETH_IPV4) {
      if (vnet[F + 14] !== 0x45) return 0; // no IP options
      if ((view.getUint16(base + 14 + 6) & 0x3fff) !== 0) return 0; // MF or a fragment offset
      proto = vnet[F + 14 + 9];
      ipLen = view.getUint16(base + 14 + 2);
      l4 = 34;
    } else if (type === ETH_IPV6) {
      proto = vnet[F + 14 + 6]; // no extension headers
      ipLen = 40 + view.getUint16(base + 14 + 4);
      l4 = 54;
    } else {
      return 0;
    }
    if (14 + ipLen !== length) return 0;
    const ipv6 = type === ETH_IPV6;
    if (proto === UDP) {
      if (this.#usoRefused || view.getUint16(base + l4 + 4) !== length - l4 || length - l4 <= 8) return 0;
      if (!ipv6 && view.getUint16(base + l4 + 6) === 0) {
        this.#candidateUdp = true; // IPv4 UDP without a checksum
        return l4;
      }
      const pseudo = pseudoSum(view, base + 14, ipv6, length - l4, UDP);
      if (this.#sum(view, base + l4, base + length, pseudo) !== 0xffff) return 0;
      this.#candidateUdp = true;
      return l4;
    }
    if (proto !== TCP) return 0;
    const tcpLen = (vnet[F + l4 + 12] >> 4) * 4;
    if (tcpLen < 20 || l4 + tcpLen >= length) return 0; // no data
    const flags = vnet[F + l4 + 13];
    if ((flags & (TCP_SYN | TCP_RST | TCP_FIN | TCP_URG | TCP_CWR)) !== 0 || (flags & TCP_ACK) === 0) {
      return 0;
    }
    if ((flags & TCP_ECE) !== 0) return 0;
    const pseudo = pseudoSum(view, base + 14, ipv6, length - l4, TCP);
    if (this.#sum(view, base + l4, base + length, pseudo) !== 0xffff) return 0;
    this.#candidateUdp = false;
    return l4;
  }

  #candidateUdp = false;

  #starts(vnet: Uint8Array, view: DataView, base: number, length: number): boolean {
    const l4 = this.#candidate(vnet, view, base, length);
    if (l4 === 0 || length > SUPER_FRAME_BYTES) return false;
    copyBytes(this.#buf, VNET_HDR_LEN, vnet, F, F + length);
    this.#open = true;
    this.#udp = this.#candidateUdp;
    this.#len = length;
    this.#count = 1;
    this.#ipv6 = view.getUint16(base + 12) === ETH_IPV6;
    this.#l4 = l4;
    if (this.#udp) {
      this.#hdr = l4 + 8;
      this.#closed = false;
      this.#members[0] = vnet;
      this.#memberLengths[0] = length;
    } else {
      this.#hdr = l4 + (vnet[F + l4 + 12] >> 4) * 4;
      this.#nextSeq = (view.getUint32(base + l4 + 4) + length - this.#hdr) >>> 0;
      this.#closed = (vnet[F + l4 + 13] & TCP_PSH) !== 0;
    }
    this.#mss = length - this.#hdr;
    return true;
  }

  #appends(vnet: Uint8Array, view: DataView, base: number, length: number): boolean {
    if (this.#closed) return false;
    const l4 = this.#l4;
    const hdr = this.#hdr;
    const seg = length - hdr;
    const counted = this.#len + seg - ETH_HLEN - (this.#ipv6 ? IPV6_HLEN : 0);
    if (seg <= 0 || seg > this.#mss || counted > IP_LENGTH_MAX || this.#len + seg > SUPER_FRAME_BYTES) {
      return false;
    }
    if (this.#udp && this.#count >= UDP_MAX_SEGMENTS) return false;
    if (this.#candidate(vnet, view, base, length) !== l4 || this.#candidateUdp !== this.#udp) return false;
    if (!this.#udp && view.getUint32(base + l4 + 4) !== this.#nextSeq) return false;
    const b = this.#buf;
    const f = VNET_HDR_LEN;
    // Headers equal but for the fields that differ between segments: IP
    // length, ID and checksum; TCP sequence, flags and checksum; UDP length
    // and checksum.
    for (let i = 0; i < hdr; i++) {
      if (vnet[F + i] === b[f + i]) continue;
      const ipField = this.#ipv6 ? i >= 18 && i < 20 : (i >= 16 && i < 20) || (i >= 24 && i < 26);
      const l4Field = this.#udp
        ? i >= l4 + 4 && i < l4 + 8
        : (i >= l4 + 4 && i < l4 + 8) || i === l4 + 13 || (i >= l4 + 16 && i < l4 + 18);
      if (!ipField && !l4Field) return false;
    }
    if (!this.#udp) {
      const flags = vnet[F + l4 + 13];
      if ((flags & ~TCP_PSH) !== (b[f + l4 + 13] & ~TCP_PSH)) return false;
      if ((flags & TCP_PSH) !== 0) {
        b[f + l4 + 13] |= TCP_PSH;
        this.#closed = true;
      }
      this.#nextSeq = (this.#nextSeq + seg) >>> 0;
    } else {
      this.#members[this.#count] = vnet;
      this.#memberLengths[this.#count] = length;
    }
    copyBytes(b, f + this.#len, vnet, F + hdr, F + length);
    this.#len += seg;
    this.#count++;
    if (seg < this.#mss) this.#closed = true;
    return true;
  }
}
