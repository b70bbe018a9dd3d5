/**
 * UDP generic segmentation offload (GSO, Linux 4.18): one sendmsg carries a
 * run of datagrams of one size in several iovecs, with a UDP_SEGMENT control
 * message giving that size, and the kernel cuts it into datagrams at the
 * last moment. {@linkcode gsoGroups} decides the runs (pure);
 * {@linkcode GsoVec} lays out the mmsghdr array that sends them.
 *
 * @module
 */

import { C } from "../ffi/libc.ts";
import {
  CMSG_DATA,
  CMSG_LEVEL,
  CMSG_SPACE_SMALL,
  CMSG_TYPE,
  cmsgLen,
  IOV_BYTES,
  MMSG_BYTES,
  MSG_CONTROL,
  MSG_CONTROLLEN,
  MSG_IOV,
  MSG_IOVLEN,
  MSG_NAME,
  MSG_NAMELEN,
  pointerValue,
} from "./msghdr.ts";

/** The most datagrams in one GSO send: UDP_MAX_SEGMENTS of <linux/udp.h>
 * (1 << 6 up to Linux 6.10, 1 << 7 since: the smaller works on every kernel). */
export const GSO_MAX_SEGMENTS = 64;

/** The most payload bytes in one GSO send: the kernel refuses a message whose
 * datagrams together exceed one IP datagram's 65535 bytes less headers (IPv6:
 * 40 + 8), so this leaves room for either family. */
export const GSO_MAX_BYTES = 65000;

/**
 * Splits the datagrams `[from, to)` of lengths `lengths` into the groups one
 * GSO message each can carry, in order: a run of equal lengths, of which the
 * last may be shorter but not empty (the kernel would send nothing for an
 * empty one), at most {@linkcode GSO_MAX_SEGMENTS} datagrams and
 * {@linkcode GSO_MAX_BYTES} bytes. A group of one is a plain datagram.
 *
 * Group k is `[starts[k], starts[k + 1])`; `starts[groups]` is `to`.
 * Returns the number of groups. `starts` needs `to - from + 1` slots.
 * Pure; allocates nothing.
 */
export function gsoGroups(lengths: Int32Array, from: number, to: number, starts: Int32Array): number {
  let groups = 0;
  for (let i = from; i < to;) {
    const size = lengths[i];
    let total = size;
    let j = i + 1;
    while (
      j < to && j - i < GSO_MAX_SEGMENTS && lengths[j - 1] === size && lengths[j] > 0 && lengths[j] <= size &&
      total + lengths[j] <= GSO_MAX_BYTES
    ) {
      total += lengths[j];
      j++;
    }
    starts[groups++] = i;
    i = j;
  }
  starts[groups] = to;
  return groups;
}

/**
 * The mmsghdr array of GSO sends over another MsgVec's iovecs: message k's
 * msg_iov points at a run of those iovecs, and its control message (present
 * when the run has more than one datagram) is UDP_SEGMENT with the run's
 * segment size. Every msg_name points at one shared destination.
 */
export class GsoVec {
  /** The mmsghdr array, `size` × 64 bytes. */
  readonly msgs: Uint8Array<ArrayBuffer>;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  /** One CMSG_SPACE_SMALL control area per message. */
  readonly #ctrl: Uint8Array<ArrayBuffer>;
  readonly #cv: DataView;
  /** The address of iovec i of the underlying array. */
  readonly #iovPtr: bigint[] = [];

  /**
   * `size` messages; `iov` is the iovec array they point into, `name` the
   * destination sockaddr of `nameLength` bytes. The caller keeps `iov` and
   * `name` alive as long as this object.
   */
  constructor(readonly size: number, iov: Uint8Array, name: Uint8Array, nameLength: number) {
    this.msgs = new Uint8Array(MMSG_BYTES * size);
    this.#u32 = new Uint32Array(this.msgs.buffer);
    this.#u64 = new BigUint64Array(this.msgs.buffer);
    this.#ctrl = new Uint8Array(CMSG_SPACE_SMALL * size);
    this.#cv = new DataView(this.#ctrl.buffer);
    const namePtr = pointerValue(name);
    const ctrlPtr = pointerValue(this.#ctrl);
    const iovBase = pointerValue(iov);
    for (let i = 0; i < size; i++) {
      this.#iovPtr.push(iovBase + BigInt(i * IOV_BYTES));
      const m = i * MMSG_BYTES;
      this.#u64[(m + MSG_NAME) / 8] = namePtr;
      this.#u32[(m + MSG_NAMELEN) / 4] = nameLength;
      this.#u64[(m + MSG_CONTROL) / 8] = ctrlPtr + BigInt(i * CMSG_SPACE_SMALL);
      const c = i * CMSG_SPACE_SMALL;
      this.#cv.setBigUint64(c, BigInt(cmsgLen(2)), true); // cmsg_len: the u16 gso_size
      this.#cv.setInt32(c + CMSG_LEVEL, C.SOL_UDP, true);
      this.#cv.setInt32(c + CMSG_TYPE, C.UDP_SEGMENT, true);
    }
  }

  /**
   * Lays out message k for group k of {@linkcode gsoGroups}`(lengths, from,
   * …, starts)`, for k < `groups`; iovec i of the underlying array holds
   * datagram `from + i`.
   */
  fill(lengths: Int32Array, from: number, starts: Int32Array, groups: number): void {
    const u32 = this.#u32;
    for (let k = 0; k < groups; k++) {
      const m = k * MMSG_BYTES;
      const first = starts[k];
      const count = starts[k + 1] - first;
      this.#u64[(m + MSG_IOV) / 8] = this.#iovPtr[first - from];
      u32[(m + MSG_IOVLEN) / 4] = count; // low half
      u32[(m + MSG_IOVLEN) / 4 + 1] = 0;
      u32[(m + MSG_CONTROLLEN) / 4] = count > 1 ? CMSG_SPACE_SMALL : 0; // low half
      u32[(m + MSG_CONTROLLEN) / 4 + 1] = 0;
      this.#cv.setUint16(k * CMSG_SPACE_SMALL + CMSG_DATA, lengths[first], true);
    }
  }
}
