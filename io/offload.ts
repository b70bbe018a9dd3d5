/**
 * TAP offloads, as wireguard-go does them for TUN: with IFF_VNET_HDR and
 * TUNSETOFFLOAD the kernel hands tappet TCP super-frames of up to 64 KiB
 * (TSO) instead of one frame per segment, and takes such super-frames back,
 * so each TCP stack sees a few large packets instead of many small ones.
 *
 * - {@linkcode TsoSplitter} cuts a super-frame read from the TAP into the
 *   Ethernet frames that cross the tunnel, each with correct lengths,
 *   sequence numbers and checksums: the wire carries plain frames, so a peer
 *   without offloads (the 2014 tappet) reads them as usual.
 * - {@linkcode Coalescer} joins consecutive TCP segments of one flow from a
 *   batch of received frames into one super-frame for the TAP (GRO).
 *
 * Every frame to or from such a TAP is preceded by a 10-byte
 * `struct virtio_net_hdr` (<linux/virtio_net.h>), in host byte order:
 * flags (1), gso_type (1), hdr_len (2), gso_size (2), csum_start (2),
 * csum_offset (2).
 *
 * Pure, apart from the write callback: tested without a kernel.
 *
 * @module
 */

import { fold, onesSum } from "./checksum.ts";
import { type Arena, copyBytes } from "../core/arena.ts";

/** Size of struct virtio_net_hdr without num_buffers. */
export const VNET_HDR_LEN = 10;

/** Values from <linux/virtio_net.h>. */
export const Vnet = {
  F_NEEDS_CSUM: 1,
  GSO_NONE: 0,
  GSO_TCPV4: 1,
  GSO_TCPV6: 4,
  GSO_UDP_L4: 5,
  GSO_ECN: 0x80,
} as const;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const TCP = 6;
const UDP = 17;
const EINVAL = 22;
/** The most datagrams the kernel cuts from one USO super-frame. */
const UDP_MAX_SEGMENTS = 64;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_URG = 0x20;
const TCP_CWR = 0x80;
/** Where a frame starts after its vnet header. */
const F = 10;

/** The largest super-frame: 14 bytes of Ethernet, 64 KiB of IP, slack. */
export const SUPER_FRAME_BYTES = 14 + 65535 + 64;

/**
 * Cuts one frame read from a TAP with IFF_VNET_HDR into plain frames. Load
 * it with a frame, then take segments with {@linkcode next} until it
 * returns 0. A frame that is not a super-frame comes out whole (with its
 * checksum completed if the kernel left it partial).
 */
export class TsoSplitter {
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
  #seq0 = 0;
  #id0 = 0;

  /** Segments still to come from the loaded frame. */
  get remaining(): number {
    return this.#segments - this.#k;
  }

  /**
   * Loads the vnet header and frame at `src[offset, offset + length)`
   * (`view` is a DataView over the same buffer, offset 0 = `src[0]`'s
   * buffer start at `viewBase`). Returns false for a super-frame it cannot
   * cut (not TCP over IPv4/IPv6 on plain Ethernet), which is then dropped.
   * The buffer must not change until the last segment is taken.
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
        const sum = onesSum(view, viewBase + at, viewBase + this.#end);
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
    this.#mss = gsoSize;
    this.#segments = Math.ceil(payload / gsoSize);
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
    v.setUint16(l4 + 16, ~onesSum(v, l4, l4 + tcpTotal, pseudo) & 0xffff);
    return hdr + segLen;
  }
}

/** The pseudo-header sum of a TCP (or UDP) segment of `length` bytes. */
function pseudoSum(v: DataView, ip: number, ipv6: boolean, length: number, proto = TCP): number {
  const addresses = ipv6 ? onesSum(v, ip + 8, ip + 40) : onesSum(v, ip + 12, ip + 20);
  return fold(addresses + proto + length);
}

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
  #open = false;
  #udp = false; // the group is UDP, else TCP
  #len = 0; // frame bytes in #buf after the vnet header
  #count = 0;
  #ipv6 = false;
  #l4 = 0; // TCP or UDP header offset in the frame
  #hdr = 0; // Ethernet + IP + TCP/UDP header length
  #mss = 0;
  #nextSeq = 0;
  #closed = false; // the last segment was short or had PSH: no more
  // The frames of a UDP group, kept (where they lie) until the super-frame
  // is accepted: if USO is refused they are written one by one.
  readonly #members: Uint8Array[] = new Array(64);
  readonly #memberLengths = new Int32Array(64);
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
    } else if (this.#udp && e === EINVAL) {
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
      if (onesSum(view, base + l4, base + length, pseudo) !== 0xffff) return 0;
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
    if ((flags & 0x40) !== 0) return 0; // ECE
    const pseudo = pseudoSum(view, base + 14, ipv6, length - l4, TCP);
    if (onesSum(view, base + l4, base + length, pseudo) !== 0xffff) return 0;
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
    if (seg <= 0 || seg > this.#mss || this.#len + seg > SUPER_FRAME_BYTES) return false;
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
