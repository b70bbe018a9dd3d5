/**
 * UDP generic receive offload (GRO, Linux 5.0): with the UDP_GRO socket
 * option on, the kernel may join datagrams of one flow, all of one size but
 * the last, into one message of up to 64 KiB, and say that size in a
 * UDP_GRO control message. {@linkcode groSegmentSize} reads it and
 * {@linkcode GroCutter} cuts the message back into datagrams (both pure);
 * {@linkcode GroLanding} receives such messages into buffers of its own.
 *
 * @module
 */

import type { Arena } from "../core/arena.ts";
import { C, libc } from "../ffi/libc.ts";
import { PacketBuffer } from "../core/packet.ts";
import {
  CMSG_DATA,
  CMSG_LEVEL,
  CMSG_SPACE_SMALL,
  CMSG_TYPE,
  cmsgLen,
  MMSG_BYTES,
  MSG_CONTROL,
  MSG_CONTROLLEN,
  MSG_FLAGS,
  MSG_LEN,
  MSG_NAMELEN,
  MsgVec,
  pointerValue,
} from "./msghdr.ts";
import { SOCKADDR_STORAGE_BYTES } from "./sockaddr.ts";

/**
 * The size of the datagrams joined in a message of `total` bytes, from its
 * control data: `ctrl` (a DataView) at offset `at`, `controllen` bytes as
 * the kernel reported them. The UDP_GRO cmsg holds an int (CMSG_LEN(4) = 20
 * bytes). Returns `total` (one datagram) when there is no such message or
 * its size does not cut `total`.
 */
export function groSegmentSize(ctrl: DataView, at: number, controllen: number, total: number): number {
  if (controllen < cmsgLen(4)) return total;
  if (ctrl.getInt32(at + CMSG_LEVEL, true) !== C.SOL_UDP) return total;
  if (ctrl.getInt32(at + CMSG_TYPE, true) !== C.UDP_GRO) return total;
  const size = ctrl.getInt32(at + CMSG_DATA, true);
  return size > 0 && size < total ? size : total;
}

/**
 * Cuts one received message into its datagrams: load it, then take
 * {@linkcode next} until it returns -1. Each datagram is
 * `[start, start + length)` of the message.
 */
export class GroCutter {
  #offset = 0;
  #end = 0;
  #size = 0;
  /** The message is an empty datagram, not yet handed out. */
  #empty = false;
  #start = 0;

  /**
   * Loads a message of `total` bytes joined from datagrams of `segmentSize`
   * bytes (the last may be shorter). A `truncated` message (MSG_TRUNC) fills
   * its buffer of `capacity` bytes and comes out as one datagram of that
   * length, which the caller recognises as too long. An empty message is
   * one empty datagram. Returns the number of datagrams it holds.
   */
  load(total: number, segmentSize: number, truncated: boolean, capacity: number): number {
    this.#offset = 0;
    this.#empty = total === 0 && !truncated;
    this.#end = truncated ? capacity : total;
    this.#size = truncated ? capacity : segmentSize;
    return this.#empty ? 1 : this.#end === 0 ? 0 : Math.ceil(this.#end / this.#size);
  }

  /** True while {@linkcode next} has a datagram to return. */
  get pending(): boolean {
    return this.#empty || this.#offset < this.#end;
  }

  /** Where the datagram {@linkcode next} returned last starts. */
  get start(): number {
    return this.#start;
  }

  /** The length of the next datagram (at {@linkcode start}), or -1 when the
   * message is used up. */
  next(): number {
    if (this.#empty) {
      this.#empty = false;
      this.#start = 0;
      return 0;
    }
    if (this.#offset >= this.#end) return -1;
    const len = Math.min(this.#size, this.#end - this.#offset);
    this.#start = this.#offset;
    this.#offset += len;
    return len;
  }
}

/** Messages received per recvmmsg when the kernel joins datagrams. */
export const LANDING = 16;

/**
 * Where joined messages land: {@linkcode LANDING} full-size buffers of its
 * own, their mmsghdr array (one control area each for the UDP_GRO cmsg),
 * and the cutter of the message being handed out. Messages are taken in
 * order: {@linkcode receive}, then {@linkcode nextMessage} while
 * {@linkcode index} < {@linkcode count}, taking datagrams from
 * {@linkcode cutter} after each.
 */
export class GroLanding {
  /** The landing buffers: from the tunnel's arena when given (so copies out
   * of them allocate nothing), else of their own. */
  readonly buffers: PacketBuffer[];
  /** Their mmsghdr array; `vec.names` holds each message's source. */
  readonly vec = new MsgVec(LANDING);
  readonly #ctrl = new Uint8Array(CMSG_SPACE_SMALL * LANDING);
  readonly #ctrlView = new DataView(this.#ctrl.buffer);
  /** Cuts the message taken last. */
  readonly cutter = new GroCutter();
  /** Messages received by the last {@linkcode receive}. */
  count = 0;
  /** Messages taken so far of those. */
  index = 0;

  constructor(arena?: Arena) {
    this.buffers = Array.from({ length: LANDING }, () => new PacketBuffer(0, { arena }));
    this.vec.attach(this.buffers, 0, LANDING);
    const ctrl = pointerValue(this.#ctrl);
    const u64 = new BigUint64Array(this.vec.bytes.buffer);
    for (let i = 0; i < LANDING; i++) {
      u64[(i * MMSG_BYTES + MSG_CONTROL) / 8] = ctrl + BigInt(i * CMSG_SPACE_SMALL);
    }
  }

  /** recvmmsg(MSG_DONTWAIT) on `fd` into the landing buffers: the number of
   * messages, or −1 with errno set (read it at once). */
  receive(fd: number): number {
    const u32 = this.vec.u32;
    for (let i = 0; i < LANDING; i++) {
      const m = i * MMSG_BYTES;
      u32[(m + MSG_NAMELEN) / 4] = SOCKADDR_STORAGE_BYTES;
      u32[(m + MSG_CONTROLLEN) / 4] = CMSG_SPACE_SMALL; // low half
      u32[(m + MSG_CONTROLLEN) / 4 + 1] = 0;
      u32[(m + MSG_FLAGS) / 4] = 0;
    }
    const r = libc().recvmmsg(fd, this.vec.bytes, LANDING, C.MSG_DONTWAIT, null);
    this.count = r < 0 ? 0 : r;
    this.index = 0;
    return r;
  }

  /** Loads message {@linkcode index} into the cutter and moves on; returns
   * how many datagrams the kernel joined into it (1 when not joined). */
  nextMessage(): number {
    const m = this.index++ * MMSG_BYTES;
    const u32 = this.vec.u32;
    const total = u32[(m + MSG_LEN) / 4];
    const truncated = (u32[(m + MSG_FLAGS) / 4] & C.MSG_TRUNC) !== 0;
    const controllen = u32[(m + MSG_CONTROLLEN) / 4];
    const at = (this.index - 1) * CMSG_SPACE_SMALL;
    const size = groSegmentSize(this.#ctrlView, at, controllen, total);
    return this.cutter.load(total, size, truncated, this.buffers[this.index - 1].bytes.length);
  }

  /** The buffer of the message taken last. */
  get current(): Uint8Array {
    return this.buffers[this.index - 1].bytes;
  }
}
