/**
 * The {@linkcode Transport} over a UDP socket of tappet's own, through FFI:
 * datagrams move in batches with recvmmsg() and sendmmsg(), one system call
 * per batch, into and out of preallocated buffers.
 *
 * - The socket is blocking for sends (a full send buffer holds the sender
 *   back, as in the 2014 program) and receives with MSG_DONTWAIT.
 * - Its buffers are large (4 MiB each way, SO_*BUFFORCE when permitted), so
 *   bursts are absorbed rather than dropped.
 * - DF is set (IP_PMTUDISC_DO): a datagram too big for the path fails with
 *   EMSGSIZE.
 * - It also offers {@linkcode SyncTransport}: the loop that owns the main
 *   thread polls its fd directly.
 *
 * Layouts (x86-64 and aarch64 Linux, LP64): struct iovec is 16 bytes,
 * struct mmsghdr 64 (msghdr: name 0, namelen 8, iov 16, iovlen 24,
 * control 32, controllen 40, flags 48; msg_len 56).
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { formatHostPort } from "../core/address.ts";
import { PacketBuffer } from "../core/packet.ts";
import { C, closeQuietly, Errno, errno, libc, strerror } from "../ffi/libc.ts";
import { OsError } from "../errors.ts";
import { setDontFragment, sockaddr } from "./sockopt.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, SyncTransport, Transport } from "./transport.ts";
import { FdWaiter } from "./wait.ts";
import { type Arena, copyBytes } from "../core/arena.ts";

const MMSG = 64;
const IOV = 16;
const NAME = 128; // struct sockaddr_storage

/** UDP generic segmentation (<linux/udp.h>): one sendmsg of up to this
 * many equal datagrams, which the kernel cuts at the last moment. */
const GSO_MAX_SEGMENTS = 64;
const GSO_MAX_BYTES = 65000;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const UDP_GRO = 104;
/** Messages received per recvmmsg when the kernel joins datagrams (GRO). */
const LANDING = 16;
/** CMSG_SPACE(sizeof(uint16_t)) on LP64: a 16-byte header, padded data. */
const CMSG_SPACE_U16 = 24;

/** Socket buffer size asked for, each way, bytes. */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Errno).map(([name, code]) => [code, name]),
);

/** What {@linkcode FfiUdpTransport.bind} found out about the socket. */
export interface FfiBindInfo {
  /** The socket's fd. */
  readonly fd: number;
  /** Why DF could not be set, if it could not. */
  readonly dfError?: string;
  /** The receive buffer size the kernel granted, bytes. */
  readonly rcvbuf: number;
  /** The send buffer size the kernel granted, bytes. */
  readonly sndbuf: number;
}

function pointerValue(buf: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf));
}

/** A batch of mmsghdr entries over a fixed array of PacketBuffers. */
class MsgVec {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly u32: Uint32Array;
  readonly names: Uint8Array<ArrayBuffer>;
  readonly iov: Uint8Array<ArrayBuffer>;
  readonly iovU32: Uint32Array;
  /** The buffers the iovecs point into, per slot: kept here so they stay
   * alive, and so a slot is re-pointed only when its buffer changes. */
  readonly slots: (PacketBuffer | undefined)[];

  /** `size` entries; with `sharedName`, every msg_name points at it (one
   * destination per batch), else each at its own 128-byte slot. */
  constructor(readonly size: number, sharedName?: Uint8Array, nameLength = NAME) {
    this.bytes = new Uint8Array(MMSG * size);
    this.u32 = new Uint32Array(this.bytes.buffer);
    this.names = new Uint8Array(NAME * size);
    this.iov = new Uint8Array(IOV * size);
    this.iovU32 = new Uint32Array(this.iov.buffer);
    this.slots = new Array(size);
    const u64 = new BigUint64Array(this.bytes.buffer);
    const names = pointerValue(this.names);
    const shared = sharedName && pointerValue(sharedName);
    const iov = pointerValue(this.iov);
    for (let i = 0; i < size; i++) {
      u64[(i * MMSG) / 8] = shared ?? names + BigInt(i * NAME); // msg_name
      this.u32[(i * MMSG + 8) / 4] = nameLength; // msg_namelen
      u64[(i * MMSG + 16) / 8] = iov + BigInt(i * IOV); // msg_iov
      u64[(i * MMSG + 24) / 8] = 1n; // msg_iovlen
    }
  }

  /** Points the first `n` iovecs at `bufs[0, n)`, full size; only the
   * slots whose buffer changed are touched (a pointer costs ~175 ns). */
  attach(bufs: PacketBuffer[], n: number): void {
    const slots = this.slots;
    for (let i = 0; i < n; i++) {
      const b = bufs[i];
      if (slots[i] === b) continue;
      const u64 = new BigUint64Array(this.iov.buffer, i * IOV, 2);
      u64[0] = pointerValue(b.bytes);
      u64[1] = BigInt(b.bytes.length);
      slots[i] = b;
    }
  }
}

/** A UDP socket driven through FFI, in batches. */
export class FfiUdpTransport implements Transport, SyncTransport {
  readonly local: Endpoint;
  readonly batch: number;
  /** What binding found out about the socket. */
  readonly info: FfiBindInfo;
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #rx: MsgVec;
  readonly #tx: MsgVec;
  /** With UDP GSO: one mmsghdr per group of equal datagrams, its iovecs a
   * run of the tx iovecs, its cmsg giving the segment size. */
  readonly #gso: ReturnType<typeof gsoVec>;
  #gsoOn = true;
  // UDP GRO: the kernel may join datagrams of one flow into one message of
  // up to 64 KiB, with their size in a cmsg. Such messages land in buffers
  // of the transport's own and are cut into the caller's buffers.
  readonly #gro: boolean;
  readonly #land: PacketBuffer[];
  readonly #landVec: MsgVec | undefined;
  readonly #landCtrl: Uint8Array;
  readonly #landCtrlView: DataView;
  #landCount = 0;
  #landIndex = 0;
  #segOffset = 0;
  #segSize = 0;
  #segEnd = 0;
  /** The landed message being cut is an empty datagram, not yet handed out. */
  #segEmpty = false;
  #segFrom: Endpoint | undefined;

  // [datagrams sent in GSO groups, datagrams that arrived joined by GRO]:
  // typed, so that counting past 2^30 allocates nothing.
  readonly #counts = new Float64Array(2);
  readonly #waiter: FdWaiter;
  // The last source decoded, and its raw sockaddr: most datagrams come from
  // the same peer, and reusing the Endpoint allocates nothing.
  #lastFrom: Endpoint | undefined;
  readonly #lastFromRaw = new Uint8Array(28);
  #lastTo: Endpoint | undefined;
  /** The destination of every datagram sent: all tx msg_name point here. */
  readonly #toName = new Uint8Array(28);
  #closed = false;

  private constructor(
    fd: number,
    family: 4 | 6,
    local: Endpoint,
    batch: number,
    info: FfiBindInfo,
    gro: boolean,
    arena: Arena | undefined,
  ) {
    this.#fd = fd;
    this.#family = family;
    this.local = local;
    this.batch = batch;
    this.info = info;
    this.#rx = new MsgVec(batch);
    this.#tx = new MsgVec(batch, this.#toName, family === 6 ? 28 : 16);
    this.#gso = gsoVec(this.#tx, this.#toName, family === 6 ? 28 : 16);
    this.#gro = gro;
    this.#land = gro ? Array.from({ length: LANDING }, () => new PacketBuffer(0, { arena })) : [];
    this.#landCtrl = new Uint8Array(CMSG_SPACE_U16 * LANDING);
    this.#landCtrlView = new DataView(this.#landCtrl.buffer);
    if (gro) {
      const v = new MsgVec(LANDING);
      v.attach(this.#land, LANDING);
      const ctrl = pointerValue(this.#landCtrl);
      const u64 = new BigUint64Array(v.bytes.buffer);
      for (let i = 0; i < LANDING; i++) u64[(i * MMSG + 32) / 8] = ctrl + BigInt(i * CMSG_SPACE_U16);
      this.#landVec = v;
    }
    this.#waiter = new FdWaiter(fd);
  }

  /**
   * Makes a UDP socket of address family `family` bound to `hostname:port`
   * (port 0: any free port), with large buffers and DF. Throws a one-line
   * {@linkcode UserError} naming the address when binding fails; no fd stays
   * open then. The GRO landing buffers come from `arena` (the tunnel's, so
   * that cutting them into the caller's buffers allocates nothing).
   */
  static bind(hostname: string, port: number, family: 4 | 6, batch = 64, arena?: Arena): FfiUdpTransport {
    const c = libc();
    const fd = c.socket(family === 6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new UserError(`cannot make a UDP socket: ${strerror(errno())}`);
    try {
      const int = new Int32Array(1);
      const intBytes = new Uint8Array(int.buffer);
      if (family === 6) {
        int[0] = 1;
        c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, intBytes, 4);
      }
      for (const [force, plain] of [[C.SO_RCVBUFFORCE, C.SO_RCVBUF], [C.SO_SNDBUFFORCE, C.SO_SNDBUF]]) {
        int[0] = SOCKET_BUFFER_BYTES;
        if (c.setsockopt(fd, C.SOL_SOCKET, force, intBytes, 4) < 0) {
          c.setsockopt(fd, C.SOL_SOCKET, plain, intBytes, 4); // capped by net.core.[rw]mem_max
        }
      }
      const sa = sockaddr({ hostname, port }, family);
      if (c.bind(fd, sa, sa.length) < 0) throw bindError(errno(), formatHostPort({ hostname, port }), port);
      const bound = new Uint8Array(NAME);
      const len = new Uint32Array([NAME]);
      c.getsockname(fd, bound, new Uint8Array(len.buffer));
      const local = decodeSockaddr(bound) ?? { hostname, port };
      const dfError = setDontFragment(fd, family);
      const get = (opt: number) => {
        const l = new Uint32Array([4]);
        c.getsockopt(fd, C.SOL_SOCKET, opt, intBytes, new Uint8Array(l.buffer));
        return int[0];
      };
      const info = { fd, dfError, rcvbuf: get(C.SO_RCVBUF), sndbuf: get(C.SO_SNDBUF) };
      int[0] = 1;
      const gro = c.setsockopt(fd, SOL_UDP, UDP_GRO, intBytes, 4) === 0;
      return new FfiUdpTransport(fd, family, local, batch, info, gro, arena);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  }

  get fd(): number {
    return this.#fd;
  }

  /** Datagrams sent in UDP GSO groups so far. */
  get gsoDatagrams(): number {
    return this.#counts[0];
  }

  /** Datagrams that arrived joined by UDP GRO so far. */
  get groDatagrams(): number {
    return this.#counts[1];
  }

  get sync(): SyncTransport {
    return this;
  }

  receiveNow(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): number {
    if (this.#closed) return 0;
    if (this.#gro) return this.#receiveJoined(bufs, lengths, from);
    const rx = this.#rx;
    const n = Math.min(bufs.length, rx.size);
    rx.attach(bufs, n);
    const u32 = rx.u32;
    for (let i = 0; i < n; i++) {
      u32[(i * MMSG + 8) / 4] = NAME; // msg_namelen, in and out
      u32[(i * MMSG + 48) / 4] = 0; // msg_flags
    }
    const r = libc().recvmmsg(this.#fd, rx.bytes, n, C.MSG_DONTWAIT, null);
    if (r < 0) {
      const code = errno();
      if (code === Errno.EAGAIN || code === Errno.EINTR) return 0;
      throw new OsError("recvmmsg", code, strerror(code));
    }
    for (let i = 0; i < r; i++) {
      const truncated = (u32[(i * MMSG + 48) / 4] & C.MSG_TRUNC) !== 0;
      lengths[i] = truncated ? bufs[i].bytes.length : u32[(i * MMSG + 56) / 4];
      from[i] = this.#source(rx.names, i * NAME);
    }
    return r;
  }

  /** receiveNow with UDP GRO: cut the landed messages into datagrams. */
  #receiveJoined(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): number {
    const max = bufs.length;
    let n = 0;
    while (n < max) {
      if (this.#segEmpty) {
        // An empty datagram is handed out too: the engine counts it.
        this.#segEmpty = false;
        lengths[n] = 0;
        from[n++] = this.#segFrom!;
        continue;
      }
      if (this.#segOffset < this.#segEnd) {
        const land = this.#land[this.#landIndex - 1].bytes;
        const len = Math.min(this.#segSize, this.#segEnd - this.#segOffset);
        copyBytes(bufs[n].bytes, 0, land, this.#segOffset, this.#segOffset + len);
        lengths[n] = len;
        from[n++] = this.#segFrom!;
        this.#segOffset += len;
        continue;
      }
      if (this.#landIndex < this.#landCount) {
        this.#nextLanded();
        continue;
      }
      if (n > 0) break; // a syscall only when nothing is left to hand out
      if (!this.#land_()) break;
    }
    return n;
  }

  /** Receives into the landing buffers; false when nothing is queued. */
  #land_(): boolean {
    const v = this.#landVec!;
    const u32 = v.u32;
    for (let i = 0; i < LANDING; i++) {
      u32[(i * MMSG + 8) / 4] = NAME; // msg_namelen
      u32[(i * MMSG + 40) / 4] = CMSG_SPACE_U16; // msg_controllen, low half
      u32[(i * MMSG + 44) / 4] = 0;
      u32[(i * MMSG + 48) / 4] = 0; // msg_flags
    }
    const r = libc().recvmmsg(this.#fd, v.bytes, LANDING, C.MSG_DONTWAIT, null);
    if (r < 0) {
      const code = errno();
      if (code === Errno.EAGAIN || code === Errno.EINTR) return false;
      throw new OsError("recvmmsg", code, strerror(code));
    }
    this.#landCount = r;
    this.#landIndex = 0;
    return r > 0;
  }

  /** Starts cutting the next landed message. */
  #nextLanded(): void {
    const i = this.#landIndex++;
    const u32 = this.#landVec!.u32;
    const total = u32[(i * MMSG + 56) / 4];
    const truncated = (u32[(i * MMSG + 48) / 4] & C.MSG_TRUNC) !== 0;
    let size = total;
    if (u32[(i * MMSG + 40) / 4] >= 20) {
      const c = this.#landCtrlView;
      const at = i * CMSG_SPACE_U16;
      if (c.getInt32(at + 8, true) === SOL_UDP && c.getInt32(at + 12, true) === UDP_GRO) {
        const gso = c.getInt32(at + 16, true);
        if (gso > 0 && gso < total) {
          size = gso;
          this.#counts[1] += Math.ceil(total / gso);
        }
      }
    }
    this.#segOffset = 0;
    this.#segEmpty = total === 0 && !truncated;
    this.#segEnd = truncated ? this.#land[i].bytes.length : total;
    this.#segSize = truncated ? this.#segEnd : size;
    this.#segFrom = this.#source(this.#landVec!.names, i * NAME);
  }

  /** The Endpoint of the sockaddr at names[offset], reused when unchanged. */
  #source(names: Uint8Array, offset: number): Endpoint {
    const len = names[offset] === C.AF_INET6 ? 24 : 8; // family, port, address
    const last = this.#lastFromRaw;
    let same = this.#lastFrom !== undefined;
    for (let i = 0; same && i < len; i++) same = names[offset + i] === last[i];
    if (same) return this.#lastFrom!;
    for (let i = 0; i < len; i++) last[i] = names[offset + i];
    this.#lastFrom = decodeSockaddr(names.subarray(offset, offset + NAME)) ?? { hostname: "?", port: 0 };
    return this.#lastFrom;
  }

  async receive(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): Promise<number> {
    for (;;) {
      if (this.#closed) return 0;
      const n = this.receiveNow(bufs, lengths, from);
      if (n > 0) return n;
      await this.#waiter.readable();
    }
  }

  sendNow(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (failure: SendFailure) => void,
  ): void {
    if (this.#closed || count === 0) return;
    const tx = this.#tx;
    const n = Math.min(count, tx.size);
    tx.attach(bufs, n);
    if (to !== this.#lastTo) {
      this.#toName.set(sockaddr(to, this.#family));
      this.#lastTo = to;
    }
    const iov = tx.iovU32;
    for (let i = 0; i < n; i++) {
      iov[(i * IOV + 8) / 4] = lengths[i]; // iov_len, low half
      iov[(i * IOV + 12) / 4] = 0;
    }
    if (this.#gsoOn && n > 1 && this.#sendGso(lengths, n, to, onFailure)) return;
    this.#sendEach(0, n, lengths, to, onFailure);
  }

  /** sendmmsg of tx entries [from, to), one datagram each. */
  #sendEach(from: number, n: number, lengths: Int32Array, to: Endpoint, onFailure: (f: SendFailure) => void) {
    const tx = this.#tx;
    let done = from;
    while (done < n) {
      const vec = done === 0 ? tx.bytes : tx.bytes.subarray(done * MMSG);
      const r = libc().sendmmsg(this.#fd, vec, n - done, 0);
      if (r > 0) {
        done += r;
        continue;
      }
      const code = errno();
      if (code === Errno.EINTR) continue;
      // The datagram at `done` was refused: report it, go on with the next.
      onFailure({
        code: ERRNO_NAMES[code] ?? `errno ${code}`,
        length: lengths[done],
        to,
        message: strerror(code),
      });
      done++;
    }
  }

  /**
   * Sends runs of equal-length datagrams (the last of a run may be shorter,
   * but not empty: the kernel would send nothing for it) as one UDP GSO
   * message each. Returns false, having sent nothing, when
   * the kernel turns GSO down; it is then not tried again.
   */
  #sendGso(lengths: Int32Array, n: number, to: Endpoint, onFailure: (f: SendFailure) => void): boolean {
    const g = this.#gso;
    let groups = 0;
    const starts = this.#groupStarts;
    for (let i = 0; i < n;) {
      const size = lengths[i];
      let j = i + 1;
      let total = size;
      while (
        j < n && j - i < GSO_MAX_SEGMENTS && lengths[j] <= size && lengths[j] > 0 &&
        total + lengths[j] <= GSO_MAX_BYTES && lengths[j - 1] === size
      ) {
        total += lengths[j];
        j++;
      }
      const m = groups * MMSG;
      g.u64[m / 8 + 2] = g.iovPtr[i]; // msg_iov
      g.u32[(m + 24) / 4] = j - i; // msg_iovlen, low half
      g.u32[(m + 28) / 4] = 0;
      g.u32[(m + 40) / 4] = j - i > 1 ? CMSG_SPACE_U16 : 0; // msg_controllen
      g.cv.setUint16(groups * CMSG_SPACE_U16 + 16, size, true);
      starts[groups++] = i;
      i = j;
    }
    starts[groups] = n;
    let done = 0;
    while (done < groups) {
      const r = libc().sendmmsg(
        this.#fd,
        done === 0 ? g.msgs : g.msgs.subarray(done * MMSG),
        groups - done,
        0,
      );
      if (r > 0) {
        for (let k = done; k < done + r; k++) {
          if (starts[k + 1] - starts[k] > 1) this.#counts[0] += starts[k + 1] - starts[k];
        }
        done += r;
        continue;
      }
      const code = errno();
      if (code === Errno.EINTR) continue;
      const first = starts[done];
      const last = starts[done + 1];
      if (
        done === 0 && this.gsoDatagrams === 0 && (code === Errno.EINVAL || code === Errno.EIO || code === 92)
      ) {
        this.#gsoOn = false; // ENOPROTOOPT (92), or a kernel without UDP GSO
        return false;
      }
      for (let i = first; i < last; i++) {
        onFailure({
          code: ERRNO_NAMES[code] ?? `errno ${code}`,
          length: lengths[i],
          to,
          message: strerror(code),
        });
      }
      done++;
    }
    return true;
  }

  readonly #groupStarts = new Int32Array(GSO_MAX_SEGMENTS * 2 + 1);

  send(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (failure: SendFailure) => void,
  ): Promise<void> {
    this.sendNow(bufs, lengths, count, to, onFailure);
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close(() => closeQuietly(this.#fd));
  }
}

/** The mmsghdr array for UDP GSO over `tx`'s iovecs (see #sendGso). */
function gsoVec(tx: MsgVec, name: Uint8Array, nameLength: number) {
  const size = tx.size;
  const msgs = new Uint8Array(MMSG * size);
  const u32 = new Uint32Array(msgs.buffer);
  const u64 = new BigUint64Array(msgs.buffer);
  const ctrl = new Uint8Array(CMSG_SPACE_U16 * size);
  const cv = new DataView(ctrl.buffer);
  const namePtr = pointerValue(name);
  const ctrlPtr = pointerValue(ctrl);
  const iovBase = pointerValue(tx.iov);
  const iovPtr: bigint[] = [];
  for (let i = 0; i < size; i++) {
    iovPtr.push(iovBase + BigInt(i * IOV));
    u64[(i * MMSG) / 8] = namePtr;
    u32[(i * MMSG + 8) / 4] = nameLength;
    u64[(i * MMSG + 32) / 8] = ctrlPtr + BigInt(i * CMSG_SPACE_U16); // msg_control
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } + u16
    cv.setBigUint64(i * CMSG_SPACE_U16, 18n, true); // CMSG_LEN(2)
    cv.setInt32(i * CMSG_SPACE_U16 + 8, SOL_UDP, true);
    cv.setInt32(i * CMSG_SPACE_U16 + 12, UDP_SEGMENT, true);
  }
  return { msgs, u32, u64, ctrl, cv, iovPtr };
}

/** The endpoint in a struct sockaddr_in or sockaddr_in6, or undefined. */
export function decodeSockaddr(sa: Uint8Array): Endpoint | undefined {
  const family = sa[0] | (sa[1] << 8);
  const port = (sa[2] << 8) | sa[3];
  if (family === C.AF_INET) return { hostname: `${sa[4]}.${sa[5]}.${sa[6]}.${sa[7]}`, port };
  if (family !== C.AF_INET6) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((sa[8 + 2 * i] << 8) | sa[9 + 2 * i]).toString(16));
  // The canonical text form (RFC 5952), as the URL parser writes it.
  return { hostname: new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1), port };
}

function bindError(code: number, where: string, port: number): UserError {
  switch (code) {
    case Errno.EADDRINUSE:
      return new UserError(
        `UDP ${where} is already in use (another tappet?): stop that process or choose another port`,
      );
    case Errno.EADDRNOTAVAIL:
      return new UserError(
        `cannot listen on ${where}: the address is not on any interface of this host; give a local address`,
      );
    case Errno.EACCES:
      return new UserError(
        port < 1024
          ? `cannot listen on ${where}: ports below 1024 need privileges; use a port of 1024 or above, or give deno the capability cap_net_bind_service`
          : `cannot listen on ${where}: permission denied`,
      );
    default:
      return new UserError(`cannot listen on ${where}: ${strerror(code)}`);
  }
}
