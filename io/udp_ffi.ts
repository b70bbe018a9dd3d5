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
 * - Sends group runs of equal datagrams with UDP GSO (io/gso.ts), and
 *   receives let the kernel join datagrams with UDP GRO (io/gro.ts).
 * - It also offers {@linkcode SyncTransport}: the loop that owns the main
 *   thread polls its fd directly.
 *
 * The C structures are laid out in io/msghdr.ts, the addresses in
 * io/sockaddr.ts.
 *
 * @module
 */

import { PacketBuffer } from "../core/packet.ts";
import { C, closeQuietly, Errno, errno, errnoName, libc, osError, strerror } from "../ffi/libc.ts";
import {
  decodeSockaddr,
  sockaddr,
  SOCKADDR_STORAGE_BYTES,
  sockaddrBytes,
  sockaddrKeyBytes,
} from "./sockaddr.ts";
import { MMSG_BYTES, MSG_FLAGS, MSG_LEN, MSG_NAMELEN, MsgVec } from "./msghdr.ts";
import { GroLanding } from "./gro.ts";
import { gsoGroups, GsoVec } from "./gso.ts";
import { GRO_DATAGRAMS, GSO_DATAGRAMS, sendFailureSlot, Stats } from "./counters.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, SyncTransport, Transport } from "./transport.ts";
import { FdWaiter } from "./wait.ts";
import { type Arena, copyBytes } from "../core/arena.ts";

import { bindUdpSocket, type FfiBindInfo } from "./udp_socket.ts";

// Re-exported for mod.ts, which exports them from here.
export { decodeSockaddr } from "./sockaddr.ts";
export { type FfiBindInfo, SOCKET_BUFFER_BYTES } from "./udp_socket.ts";

/** The datagrams one sendmmsg takes by default, and the most one receive returns. */
export const DEFAULT_SOCKET_BATCH = 64;

/** Options of {@linkcode FfiUdpTransport.bind}. */
export interface FfiBindOptions {
  /** Datagrams per system call (default {@linkcode DEFAULT_SOCKET_BATCH}). */
  readonly batch?: number;
  /** The tunnel's counters, which the socket adds its own to (see
   * io/counters.ts); a private object when absent. */
  readonly stats?: Stats;
  /** Where the GRO landing buffers come from: the tunnel's arena (so that
   * copies out of them allocate nothing); default buffers of their own. */
  readonly arena?: Arena;
}

/** A UDP socket driven through FFI, in batches. */
export class FfiUdpTransport implements Transport, SyncTransport {
  readonly local: Endpoint;
  readonly batch: number;
  /** What binding found out about the socket. */
  readonly info: FfiBindInfo;
  /** The counters this socket adds to. */
  readonly stats: Stats;
  readonly #counts: Float64Array;
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #rx: MsgVec;
  readonly #tx: MsgVec;
  /** With UDP GSO: one mmsghdr per group of equal datagrams (io/gso.ts). */
  readonly #gso: GsoVec;
  readonly #groupStarts: Int32Array;
  #gsoOn = true;
  #gsoSent = false;
  /** With UDP GRO: where joined messages land before they are cut. */
  readonly #landing: GroLanding | undefined;
  #cutFrom: Endpoint | undefined;
  readonly #waiter: FdWaiter;
  // The last source decoded, and its raw sockaddr: most datagrams come from
  // the same peer, and reusing the Endpoint allocates nothing.
  #lastFrom: Endpoint | undefined;
  readonly #lastFromRaw = new Uint8Array(SOCKADDR_STORAGE_BYTES);
  #lastTo: Endpoint | undefined;
  /** The destination of every datagram sent: all tx msg_name point here. */
  readonly #toName = new Uint8Array(SOCKADDR_STORAGE_BYTES);
  #closed = false;

  private constructor(
    fd: number,
    family: 4 | 6,
    local: Endpoint,
    info: FfiBindInfo,
    gro: boolean,
    o: FfiBindOptions,
  ) {
    this.#fd = fd;
    this.#family = family;
    this.local = local;
    this.batch = o.batch ?? DEFAULT_SOCKET_BATCH;
    this.info = info;
    this.stats = o.stats ?? new Stats();
    this.#counts = this.stats.values;
    this.#rx = new MsgVec(this.batch);
    this.#tx = new MsgVec(this.batch, this.#toName, sockaddrBytes(family));
    this.#gso = new GsoVec(this.batch, this.#tx.iov, this.#toName, sockaddrBytes(family));
    this.#groupStarts = new Int32Array(this.batch + 1);
    this.#landing = gro ? new GroLanding(o.arena) : undefined;
    this.#waiter = new FdWaiter(fd);
  }

  /**
   * Makes a UDP socket of address family `family` bound to `hostname:port`
   * (port 0: any free port), with large buffers, DF and GRO
   * (io/udp_socket.ts). Throws a one-line UserError naming the
   * address when binding fails; no fd stays open then.
   */
  static bind(hostname: string, port: number, family: 4 | 6, options: FfiBindOptions = {}): FfiUdpTransport {
    const s = bindUdpSocket(hostname, port, family);
    return new FfiUdpTransport(s.fd, family, s.local, s.info, s.gro, options);
  }

  get fd(): number {
    return this.#fd;
  }

  /** Datagrams sent in UDP GSO groups so far. */
  get gsoDatagrams(): number {
    return this.#counts[GSO_DATAGRAMS];
  }

  /** Datagrams that arrived joined by UDP GRO so far. */
  get groDatagrams(): number {
    return this.#counts[GRO_DATAGRAMS];
  }

  get sync(): SyncTransport {
    return this;
  }

  receiveNow(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): number {
    if (this.#closed) return 0;
    if (this.#landing) return this.#receiveJoined(this.#landing, bufs, lengths, from);
    const rx = this.#rx;
    const n = Math.min(bufs.length, rx.size);
    rx.attach(bufs, 0, n);
    const u32 = rx.u32;
    for (let i = 0; i < n; i++) {
      u32[(i * MMSG_BYTES + MSG_NAMELEN) / 4] = SOCKADDR_STORAGE_BYTES; // in and out
      u32[(i * MMSG_BYTES + MSG_FLAGS) / 4] = 0;
    }
    const r = libc().recvmmsg(this.#fd, rx.bytes, n, C.MSG_DONTWAIT, null);
    if (r < 0) return this.#receiveFailed();
    for (let i = 0; i < r; i++) {
      const truncated = (u32[(i * MMSG_BYTES + MSG_FLAGS) / 4] & C.MSG_TRUNC) !== 0;
      lengths[i] = truncated ? bufs[i].bytes.length : u32[(i * MMSG_BYTES + MSG_LEN) / 4];
      from[i] = this.#source(rx.names, i * SOCKADDR_STORAGE_BYTES);
    }
    return r;
  }

  /** A failed recvmmsg: 0 for "nothing queued", else throws. */
  #receiveFailed(): number {
    const code = errno();
    if (code === Errno.EAGAIN || code === Errno.EINTR) return 0;
    throw osError("recvmmsg", code);
  }

  /** receiveNow with UDP GRO: cut the landed messages into datagrams. */
  #receiveJoined(land: GroLanding, bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): number {
    const max = bufs.length;
    const cutter = land.cutter;
    let n = 0;
    while (n < max) {
      if (cutter.pending) {
        const len = cutter.next();
        const at = cutter.start;
        copyBytes(bufs[n].bytes, 0, land.current, at, at + len);
        lengths[n] = len;
        from[n++] = this.#cutFrom!;
        continue;
      }
      if (land.index < land.count) {
        const count = land.nextMessage();
        if (count > 1) this.#counts[GRO_DATAGRAMS] += count;
        this.#cutFrom = this.#source(land.vec.names, (land.index - 1) * SOCKADDR_STORAGE_BYTES);
        continue;
      }
      if (n > 0) break; // a syscall only when nothing is left to hand out
      const r = land.receive(this.#fd);
      if (r < 0) return this.#receiveFailed();
      if (r === 0) break;
    }
    return n;
  }

  /** The Endpoint of the sockaddr at names[offset], reused when unchanged. */
  #source(names: Uint8Array, offset: number): Endpoint {
    const len = sockaddrKeyBytes(names, offset);
    const last = this.#lastFromRaw;
    let same = this.#lastFrom !== undefined;
    for (let i = 0; same && i < len; i++) same = names[offset + i] === last[i];
    if (same) return this.#lastFrom!;
    for (let i = 0; i < len; i++) last[i] = names[offset + i];
    const raw = names.subarray(offset, offset + SOCKADDR_STORAGE_BYTES);
    this.#lastFrom = decodeSockaddr(raw) ?? { hostname: "?", port: 0 };
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

  /** Sends all `count` datagrams, in chunks of {@linkcode batch}. */
  sendNow(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (failure: SendFailure) => void,
  ): void {
    if (this.#closed || count === 0) return;
    if (to !== this.#lastTo) {
      this.#toName.set(sockaddr(to, this.#family));
      this.#lastTo = to;
    }
    const tx = this.#tx;
    for (let from = 0; from < count; from += tx.size) {
      const n = Math.min(count - from, tx.size);
      tx.attach(bufs, from, n);
      tx.setLengths(lengths, from, n);
      if (!(this.#gsoOn && n > 1 && this.#sendGso(lengths, from, n, to, onFailure))) {
        this.#sendEach(from, n, lengths, to, onFailure);
      }
    }
  }

  /** Reports datagram `i` as refused with errno `code`, and counts it. */
  #refused(code: number, lengths: Int32Array, i: number, to: Endpoint, onFailure: (f: SendFailure) => void) {
    const name = errnoName(code);
    this.#counts[sendFailureSlot(name)]++;
    onFailure({ code: name, length: lengths[i], to, message: strerror(code) });
  }

  /** sendmmsg of the n tx entries that hold datagrams [from, from + n),
   * one datagram each. */
  #sendEach(from: number, n: number, lengths: Int32Array, to: Endpoint, onFailure: (f: SendFailure) => void) {
    const tx = this.#tx;
    let done = 0;
    while (done < n) {
      const vec = done === 0 ? tx.bytes : tx.bytes.subarray(done * MMSG_BYTES);
      const r = libc().sendmmsg(this.#fd, vec, n - done, 0);
      if (r > 0) {
        done += r;
        continue;
      }
      const code = errno();
      if (code === Errno.EINTR) continue;
      // The datagram at `done` was refused: report it, go on with the next.
      this.#refused(code, lengths, from + done, to, onFailure);
      done++;
    }
  }

  /**
   * Sends datagrams [from, from + n) in GSO groups (io/gso.ts), one message
   * per group. Returns false, having sent nothing, when the kernel turns GSO
   * down on its first use; it is then not tried again.
   */
  #sendGso(
    lengths: Int32Array,
    from: number,
    n: number,
    to: Endpoint,
    onFailure: (f: SendFailure) => void,
  ): boolean {
    const g = this.#gso;
    const starts = this.#groupStarts;
    const groups = gsoGroups(lengths, from, from + n, starts);
    g.fill(lengths, from, starts, groups);
    let done = 0;
    while (done < groups) {
      const r = libc().sendmmsg(
        this.#fd,
        done === 0 ? g.msgs : g.msgs.subarray(done * MMSG_BYTES),
        groups - done,
        0,
      );
      if (r > 0) {
        for (let k = done; k < done + r; k++) {
          const size = starts[k + 1] - starts[k];
          if (size > 1) {
            this.#counts[GSO_DATAGRAMS] += size;
            this.#gsoSent = true; // the kernel does GSO: a later EINVAL is the datagram's
          }
        }
        done += r;
        continue;
      }
      const code = errno();
      if (code === Errno.EINTR) continue;
      if (done === 0 && !this.#gsoSent && gsoRefused(code)) {
        this.#gsoOn = false;
        return false;
      }
      for (let i = starts[done]; i < starts[done + 1]; i++) this.#refused(code, lengths, i, to, onFailure);
      done++;
    }
    return true;
  }

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

/** The errnos of a kernel without UDP GSO (or a route that cannot do it):
 * ENOPROTOOPT for an unknown cmsg, EINVAL or EIO from the segmentation. */
function gsoRefused(code: number): boolean {
  return code === Errno.ENOPROTOOPT || code === Errno.EINVAL || code === Errno.EIO;
}
