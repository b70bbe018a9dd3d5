/**
 * Preallocated packet buffers, sealed and opened in place.
 *
 * A frame read from the TAP device lands at offset `headroom`, where the
 * wire format's header and tag go in front of it; sealing writes the header
 * and encrypts in place, so the datagram is `bytes[0, headroom + length)`
 * with no copy. Opening works the same way backwards: the frame of a
 * received datagram ends up at `payload`.
 *
 * In front of `bytes` a buffer may keep `reserve` more bytes, for a header
 * the device puts before a frame (the TAP's virtio_net_hdr with offloads):
 * the device says how many it needs, and reaches them with
 * {@linkcode PacketBuffer.front}. The buffer knows nothing of that header.
 *
 * @module
 */

import type { Arena } from "./arena.ts";

/** The largest UDP payload tappet accepts or sends: 64 KiB − 1 bytes. */
export const MAX_DATAGRAM = 65535;

/** How a {@linkcode PacketBuffer} is made. */
export interface PacketBufferOptions {
  /** Where its bytes come from; default a new ArrayBuffer of its own
   * (tests, tools). The packet path passes the tunnel's arena, so that
   * copies between buffers allocate nothing. */
  readonly arena?: Arena;
  /** Bytes kept in front of `bytes` for a device header; default 0. */
  readonly reserve?: number;
  /** Bytes of `bytes`; default {@linkcode MAX_DATAGRAM} + 1. */
  readonly size?: number;
}

/** One datagram-sized buffer and its fixed views. Created once and reused
 * for every packet; never shared between two packets in flight. */
export class PacketBuffer {
  /** The datagram: {@linkcode MAX_DATAGRAM} bytes + 1 by default, so that a
   * datagram that fills it can be recognised as too large. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** `bytes` from `headroom`: where the frame is read to and opened to. */
  readonly payload: Uint8Array<ArrayBuffer>;
  /** A DataView over the whole buffer, reserve included: `view` offset
   * `reserve + i` is `bytes[i]`. */
  readonly view: DataView<ArrayBuffer>;
  /** Bytes in front of the frame: the format's header and tag. */
  readonly headroom: number;
  /** Bytes in front of `bytes`, kept for a device header. */
  readonly reserve: number;
  /** The `view` offset of `payload[0]`: `reserve + headroom`. */
  readonly payloadAt: number;
  /** Extra views a wire format or a device caches on this buffer (e.g.
   * where its ciphertext starts), made once on first use. */
  readonly views: Uint8Array<ArrayBuffer>[] = [];
  readonly #raw: Uint8Array<ArrayBuffer>;
  // The last front(n), kept: a device asks for the same n every frame.
  #frontN = -1;
  #front: Uint8Array<ArrayBuffer> | undefined;

  /** A zeroed buffer whose frames start at `headroom` in `bytes`. */
  constructor(headroom: number, options: PacketBufferOptions = {}) {
    const reserve = options.reserve ?? 0;
    const size = options.size ?? MAX_DATAGRAM + 1;
    const raw = options.arena?.alloc(reserve + size) ?? new Uint8Array(reserve + size);
    this.#raw = raw;
    this.bytes = raw.subarray(reserve);
    this.headroom = headroom;
    this.reserve = reserve;
    this.payloadAt = reserve + headroom;
    this.payload = this.bytes.subarray(headroom);
    this.view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  /** The cached view of `bytes` from `offset` (one per distinct offset a
   * format uses; in practice one or two). */
  from(offset: number): Uint8Array<ArrayBuffer> {
    const start = this.bytes.byteOffset + offset;
    const views = this.views;
    for (let i = 0; i < views.length; i++) {
      if (views[i].byteOffset === start) return views[i];
    }
    const v = this.#raw.subarray(this.reserve + offset);
    views.push(v);
    return v;
  }

  /** The cached view that starts `n` bytes before `payload` (the room for a
   * device header; `n` at most `reserve + headroom`): the header at
   * `[0, n)`, the frame from `n`. Throws a RangeError when `n` is larger. */
  front(n: number): Uint8Array<ArrayBuffer> {
    if (n === this.#frontN) return this.#front!;
    if (n > this.payloadAt || n < 0) {
      throw new RangeError(`PacketBuffer: ${n} bytes in front of the frame, only ${this.payloadAt} kept`);
    }
    this.#front = this.from(this.headroom - n);
    this.#frontN = n;
    return this.#front;
  }
}
