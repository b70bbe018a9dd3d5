/**
 * The C structures of batched socket I/O (recvmmsg/sendmmsg), laid out by
 * hand in typed arrays: their sizes and field offsets, named once here.
 * x86-64 and aarch64 Linux (LP64: pointers and size_t are 8 bytes).
 *
 * - `struct iovec` (<bits/types/struct_iovec.h>): `void *iov_base` 0,
 *   `size_t iov_len` 8; 16 bytes.
 * - `struct mmsghdr` (<bits/socket.h>): a `struct msghdr` then
 *   `unsigned int msg_len` at 56; 64 bytes. `struct msghdr`: `void
 *   *msg_name` 0, `socklen_t msg_namelen` 8, `struct iovec *msg_iov` 16,
 *   `size_t msg_iovlen` 24, `void *msg_control` 32, `size_t msg_controllen`
 *   40, `int msg_flags` 48.
 * - `struct cmsghdr` (<bits/socket.h>): `size_t cmsg_len` 0, `int
 *   cmsg_level` 8, `int cmsg_type` 12, data at 16 (CMSG_DATA);
 *   CMSG_LEN(n) = 16 + n, CMSG_SPACE(n) = 16 + n rounded up to 8.
 *
 * @module
 */

import type { PacketBuffer } from "../core/packet.ts";
import { SOCKADDR_STORAGE_BYTES } from "./sockaddr.ts";

/** sizeof(struct iovec). */
export const IOV_BYTES = 16;
/** Offset of iov_len in struct iovec. */
export const IOV_LEN = 8;

/** sizeof(struct mmsghdr). */
export const MMSG_BYTES = 64;
/** Offsets in struct mmsghdr (struct msghdr msg_hdr first). */
export const MSG_NAME = 0;
export const MSG_NAMELEN = 8;
export const MSG_IOV = 16;
export const MSG_IOVLEN = 24;
export const MSG_CONTROL = 32;
export const MSG_CONTROLLEN = 40;
export const MSG_FLAGS = 48;
export const MSG_LEN = 56;

/** Offsets in struct cmsghdr, and where its data starts (CMSG_DATA). */
export const CMSG_LEN_AT = 0;
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
export const CMSG_DATA = 16;
/** CMSG_SPACE(n) for n ≤ 8: room for one control message of a u16 (UDP_SEGMENT)
 * or an int (UDP_GRO). */
export const CMSG_SPACE_SMALL = 24;
/** CMSG_LEN(n): the cmsg_len of a control message with n data bytes. */
export function cmsgLen(n: number): number {
  return CMSG_DATA + n;
}

/** The address of a buffer's first byte, as the kernel sees it. The caller
 * keeps `buf` alive as long as the address is in use. */
export function pointerValue(buf: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf));
}

/**
 * An array of `size` struct mmsghdr, one iovec each, over PacketBuffers.
 * Owns its arrays; keeps a reference to every buffer its iovecs point into
 * (in {@linkcode slots}) so none is collected while the kernel may use it.
 */
export class MsgVec {
  /** The mmsghdr array, `size` × 64 bytes, handed to recvmmsg/sendmmsg. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** `bytes` as 32-bit words (offset / 4). */
  readonly u32: Uint32Array;
  /** One sockaddr_storage per entry, unless a shared name was given. */
  readonly names: Uint8Array<ArrayBuffer>;
  /** The iovec array, `size` × 16 bytes. */
  readonly iov: Uint8Array<ArrayBuffer>;
  /** `iov` as 32-bit words (offset / 4). */
  readonly iovU32: Uint32Array;
  /** The buffer each iovec points into, per slot: kept so it stays alive,
   * and so a slot is re-pointed only when its buffer changes. */
  readonly slots: (PacketBuffer | undefined)[];

  /** `size` entries; with `sharedName`, every msg_name points at it (one
   * destination per batch; the caller keeps it alive), else each at its own
   * sockaddr_storage in {@linkcode names}. */
  constructor(readonly size: number, sharedName?: Uint8Array, nameLength = SOCKADDR_STORAGE_BYTES) {
    this.bytes = new Uint8Array(MMSG_BYTES * size);
    this.u32 = new Uint32Array(this.bytes.buffer);
    this.names = new Uint8Array(SOCKADDR_STORAGE_BYTES * size);
    this.iov = new Uint8Array(IOV_BYTES * size);
    this.iovU32 = new Uint32Array(this.iov.buffer);
    this.slots = new Array(size);
    const u64 = new BigUint64Array(this.bytes.buffer);
    const names = pointerValue(this.names);
    const shared = sharedName && pointerValue(sharedName);
    const iov = pointerValue(this.iov);
    for (let i = 0; i < size; i++) {
      const m = i * MMSG_BYTES;
      u64[(m + MSG_NAME) / 8] = shared ?? names + BigInt(i * SOCKADDR_STORAGE_BYTES);
      this.u32[(m + MSG_NAMELEN) / 4] = nameLength;
      u64[(m + MSG_IOV) / 8] = iov + BigInt(i * IOV_BYTES);
      u64[(m + MSG_IOVLEN) / 8] = 1n;
    }
  }

  /** Points iovecs [0, n) at `bufs[from + i].bytes`, full size; only the
   * slots whose buffer changed are touched (a pointer costs ~175 ns). */
  attach(bufs: PacketBuffer[], from: number, n: number): void {
    const slots = this.slots;
    for (let i = 0; i < n; i++) {
      const b = bufs[from + i];
      if (slots[i] === b) continue;
      const u64 = new BigUint64Array(this.iov.buffer, i * IOV_BYTES, 2);
      u64[0] = pointerValue(b.bytes);
      u64[IOV_LEN / 8] = BigInt(b.bytes.length);
      slots[i] = b;
    }
  }

  /** Sets iov_len of entries [0, n) to `lengths[from + i]`. */
  setLengths(lengths: Int32Array, from: number, n: number): void {
    const iov = this.iovU32;
    for (let i = 0; i < n; i++) {
      iov[(i * IOV_BYTES + IOV_LEN) / 4] = lengths[from + i]; // low half
      iov[(i * IOV_BYTES + IOV_LEN) / 4 + 1] = 0;
    }
  }
}
