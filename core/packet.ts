/**
 * Preallocated packet buffers, sealed and opened in place.
 *
 * A frame read from the TAP device lands at offset `headroom`, where the
 * wire format's header and tag go in front of it; sealing writes the header
 * and encrypts in place, so the datagram is `bytes[0, headroom + length)`
 * with no copy. Opening works the same way backwards: the frame of a
 * received datagram ends up at `payload`.
 *
 * @module
 */

/** The largest UDP payload tappet accepts or sends: 64 KiB − 1 bytes. */
export const MAX_DATAGRAM = 65535;

import { allocBytes } from "./arena.ts";

/** Bytes reserved in front of every PacketBuffer's `bytes`: room for a
 * 10-byte virtio_net_hdr in front of a frame when the format's headroom is
 * smaller (the current format's is 8). */
export const RESERVE = 16;

/** One datagram-sized buffer and its fixed views. Created once and reused
 * for every packet; never shared between two packets in flight. */
export class PacketBuffer {
  /** The datagram: {@linkcode MAX_DATAGRAM} bytes + 1, so that a datagram
   * that fills it can be recognised as too large. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** `bytes` from `headroom`: where the frame is read to and opened to. */
  readonly payload: Uint8Array<ArrayBuffer>;
  /** A DataView over the buffer, reserve included: `view` offset
   * `RESERVE + i` is `bytes[i]`. */
  readonly view: DataView<ArrayBuffer>;
  /** Bytes in front of the frame: the format's header and tag. */
  readonly headroom: number;
  /** Extra views a wire format caches on this buffer (e.g. where its
   * ciphertext starts), made once on first use. */
  readonly views: Uint8Array<ArrayBuffer>[] = [];
  /** The 10 bytes in front of the frame and the frame: where a TAP with
   * IFF_VNET_HDR reads and writes (see io/offload.ts). */
  readonly vnetFrame: Uint8Array<ArrayBuffer>;

  /** A zeroed buffer of `size` bytes whose frames start at `headroom`. */
  constructor(headroom: number, size: number = MAX_DATAGRAM + 1) {
    const raw = allocBytes(RESERVE + size);
    this.bytes = raw.subarray(RESERVE);
    this.headroom = headroom;
    this.payload = this.bytes.subarray(headroom);
    this.view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    this.vnetFrame = raw.subarray(RESERVE + headroom - 10);
  }

  /** The cached view of `bytes` from `offset` (one per distinct offset a
   * format uses; in practice one or two). */
  from(offset: number): Uint8Array<ArrayBuffer> {
    const views = this.views;
    for (let i = 0; i < views.length; i++) {
      if (views[i].byteOffset === this.bytes.byteOffset + offset) return views[i];
    }
    const v = this.bytes.subarray(offset);
    views.push(v);
    return v;
  }
}
