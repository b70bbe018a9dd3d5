/**
 * A Linux TAP interface, attached through `/dev/net/tun` with FFI.
 *
 * tappet attaches to an interface the user created (`ip tuntap add NAME mode
 * tap user USER`) and never creates one: as root, TUNSETIFF would silently
 * make a new, non-persistent interface, so tappet checks that the interface
 * exists first and that what it attached to is persistent.
 *
 * The fd is non-blocking. Frames are read and written with synchronous FFI
 * calls (tens of ns each); only waiting for the next frame uses a
 * `nonblocking` poll(), together with a wake pipe so that close() can end
 * the wait.
 *
 * The TAP is left as it was found: TUNSETOFFLOAD and IFF_VNET_HDR stay set
 * on a persistent TAP after its last fd closes, and a program attached
 * without a vnet header (the 2014 tappet) would then be handed TCP
 * super-frames with partial checksums. So {@linkcode TapDevice.open} clears
 * offloads a previous program left (one killed with SIGKILL), and
 * {@linkcode TapDevice.close} turns them off and attaches once more without a
 * vnet header, as `ip tuntap add` made the TAP.
 *
 * @module
 */

import { OsError, UserError } from "../errors.ts";
import {
  big,
  closeQuietly,
  Errno,
  errno,
  errnoName,
  ifNameToIndex,
  libc,
  osError,
  strerror,
} from "../ffi/libc.ts";
import type { PacketBuffer } from "../core/packet.ts";
import { Arena } from "../core/arena.ts";
import { SUPER_FRAME_BYTES, VNET_HDR_LEN } from "./vnet.ts";
import { TsoSplitter } from "./tso.ts";
import { Coalescer } from "./coalesce.ts";
import { DROP_UNCUTTABLE, Stats, TAP_JOINED, tapRefusalSlot, TSO_SUPER_FRAMES } from "./counters.ts";
import { FdWaiter } from "./wait.ts";
import { attach, checkInterfaceName, createHint, resetTap, TUN } from "./tun.ts";

export { checkInterfaceName, resetTap } from "./tun.ts";

/**
 * A source and sink of Ethernet frames: the TAP device, or a fake in tests.
 * Close semantics: after {@linkcode close}, {@linkcode readable} resolves
 * and reading or writing throws.
 */
export interface FrameDevice {
  /** Interface name, for messages. */
  readonly name: string;
  /**
   * Reads up to `max` frames without waiting: frame i into
   * `bufs[i].payload[0, lengths[i])`. Returns how many, 0 when none is
   * queued. (With offloads one read may yield several frames: a TCP
   * super-frame is cut into segments.) Throws an {@linkcode OsError} when the
   * device fails (e.g. EBADFD once the interface is deleted).
   */
  readFrames(bufs: PacketBuffer[], lengths: Int32Array, max: number): number;
  /**
   * Writes the frames `bufs[i].payload[0, lengths[i])` for i < `count`, in
   * order (with offloads, consecutive TCP segments may be joined). A frame
   * the kernel refuses (EIO while the interface is down, EINVAL for a
   * malformed one) is reported to `onRefused` with its errno and its bytes
   * (a refused super-frame: all its frames' bytes with the first, 0 with
   * the others); returns how many were written. Throws an
   * {@linkcode OsError} when the device itself fails.
   */
  writeFrames(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    onRefused: (errno: number, bytes: number) => void,
  ): number;
  /** Resolves when a frame may be readable, or {@linkcode wake} was called,
   * or the device was closed. At most one wait at a time. */
  readable(): Promise<void>;
  /** Ends a pending {@linkcode readable} wait early. */
  wake(): void;
  /** Releases the device. Safe to call twice, and during a wait. */
  close(): void;
  /** The device's fd, when it has one: then the loop may poll it itself. */
  readonly fd?: number;
  /** Bytes the device needs in front of each frame in a PacketBuffer: 10
   * for a TAP with offloads (its virtio_net_hdr), else 0 or absent. */
  readonly frontBytes?: number;
}

/** Options of {@linkcode TapDevice.open}. */
export interface TapOptions {
  /** Where the device's buffers come from: the tunnel's arena (default:
   * buffers of its own; copies between them and the tunnel's allocate). */
  arena?: Arena;
  /** Ask for TCP segmentation offload (IFF_VNET_HDR, TUNSETOFFLOAD): the
   * kernel passes TCP super-frames both ways (see io/offload.ts). */
  offload?: boolean;
  /** The tunnel's counters, which the device adds its own to (see
   * io/counters.ts); a private object when absent. */
  stats?: Stats;
  /** The TUN_F_* bits asked for with `offload` (default TUN_F_CSUM |
   * TUN_F_TSO4 | TUN_F_TSO6). For tests: a bit the kernel does not know
   * makes it refuse, which exercises the fallback. */
  offloadFeatures?: bigint;
}

/** A TAP interface attached with IFF_TAP | IFF_NO_PI: one Ethernet frame per
 * read or write, no packet-information header; with offloads, a
 * virtio_net_hdr in front of each. */
export class TapDevice implements FrameDevice {
  readonly name: string;
  /** True when the kernel passes TCP super-frames (offloads on). */
  readonly offload: boolean;
  #fd: number;
  readonly #waiter: FdWaiter;
  #closed = false;
  // Offloads: the super-frame being cut, and the writer that joins.
  readonly #super: Uint8Array<ArrayBuffer> | undefined;
  readonly #superView: DataView | undefined;
  readonly #splitter: TsoSplitter;
  readonly #coalescer: Coalescer | undefined;
  #written = 0;
  /** The counters this device adds to. */
  readonly stats: Stats;
  readonly #counts: Float64Array;
  /** The caller's refusal callback of the writeFrames call under way. */
  #onRefused: (errno: number, bytes: number) => void = () => {};
  /** Counts a refused frame, then tells the caller: made once. */
  readonly #refused = (code: number, bytes: number) => {
    this.#counts[tapRefusalSlot(code)]++;
    this.#onRefused(code, bytes);
  };
  /** Bytes in front of each frame that the device writes: its vnet header. */
  readonly frontBytes: number;

  private constructor(name: string, fd: number, offload: boolean, stats: Stats, arena: Arena | undefined) {
    this.name = name;
    this.#fd = fd;
    this.offload = offload;
    this.frontBytes = offload ? VNET_HDR_LEN : 0;
    this.stats = stats;
    this.#counts = stats.values;
    this.#waiter = new FdWaiter(fd);
    // The segments are cut into the caller's buffers: the tunnel's arena.
    this.#splitter = new TsoSplitter(arena?.onesSum);
    if (offload) {
      const a = arena ?? new Arena(2 * (VNET_HDR_LEN + SUPER_FRAME_BYTES + 64));
      this.#super = a.alloc(VNET_HDR_LEN + SUPER_FRAME_BYTES);
      this.#superView = new DataView(this.#super.buffer, this.#super.byteOffset, this.#super.byteLength);
      this.#coalescer = new Coalescer((bytes, length, frames) => this.#writeRaw(bytes, length, frames), a);
      this.#coalescer.onRefused = this.#refused;
    }
  }

  /** The largest frame a TCP super-frame read from the TAP is cut into,
   * bytes (see TsoSplitter.maxFrame); Infinity by default. */
  get maxFrame(): number {
    return this.#splitter.maxFrame;
  }
  set maxFrame(bytes: number) {
    this.#splitter.maxFrame = bytes;
  }

  /** Super-frames that could not be cut (not TCP over IP), dropped. */
  get dropUncuttable(): number {
    return this.#counts[DROP_UNCUTTABLE];
  }

  /**
   * Attaches to the existing TAP interface `name`. Throws a one-line
   * {@linkcode UserError} that says what to do when the interface does not
   * exist, is not a TAP, belongs to another user or is already attached, or
   * when /dev/net/tun cannot be opened. No fd stays open on failure. When
   * offloads are asked for but refused, the device works without them
   * (attached again, without a vnet header). Without offloads, it clears
   * any a previous program left on the TAP.
   */
  static open(name: string, options: TapOptions = {}): TapDevice {
    checkInterfaceName(name);
    if (ifNameToIndex(name) === 0) {
      throw new UserError(`interface ${name} does not exist: create it with '${createHint(name)}'`);
    }
    const stats = options.stats ?? new Stats();
    const c = libc();
    let fd = attach(name, options.offload === true);
    if (options.offload) {
      const features = options.offloadFeatures ?? TUN.OFFLOADS;
      if (c.ioctl_arg(fd, TUN.TUNSETOFFLOAD, features) === 0) {
        return TapDevice.#make(name, fd, true, stats, options.arena);
      }
      // Refused: without TSO the vnet header is only in the way. The first
      // fd is closed before the second is opened, and only once.
      closeQuietly(fd);
      fd = attach(name, false);
    }
    // Clear offloads a previous program left on (one killed with SIGKILL):
    // without a vnet header they would hand us partially checksummed
    // super-frames.
    c.ioctl_arg(fd, TUN.TUNSETOFFLOAD, TUN.NO_OFFLOADS);
    return TapDevice.#make(name, fd, false, stats, options.arena);
  }

  /** The device over the attached `fd`; closes it (and resets the TAP) if
   * the device cannot be made. */
  static #make(
    name: string,
    fd: number,
    offload: boolean,
    stats: Stats,
    arena: Arena | undefined,
  ): TapDevice {
    try {
      return new TapDevice(name, fd, offload, stats, arena);
    } catch (e) {
      libc().ioctl_arg(fd, TUN.TUNSETOFFLOAD, TUN.NO_OFFLOADS);
      closeQuietly(fd);
      if (offload) resetTap(name);
      throw e;
    }
  }

  /** The attached fd, for the loop's poll(); -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  readFrames(bufs: PacketBuffer[], lengths: Int32Array, max: number): number {
    const c = libc();
    let n = 0;
    if (!this.offload) {
      while (n < max) {
        const payload = bufs[n].payload;
        const r = c.read(this.#fd, payload, big(payload.length));
        if (r > 0) {
          lengths[n++] = r;
          continue;
        }
        if (r < 0) this.#readFailed();
        break;
      }
      return n;
    }
    const src = this.#super!;
    const view = this.#superView!;
    const splitter = this.#splitter;
    while (n < max) {
      if (splitter.remaining > 0) {
        const b = bufs[n];
        lengths[n++] = splitter.next(b.payload, b.view, b.payloadAt);
        continue;
      }
      const r = c.read(this.#fd, src, big(src.length));
      if (r <= 0) {
        if (r < 0) this.#readFailed();
        break;
      }
      if (!splitter.load(src, view, 0, 0, r)) this.#counts[DROP_UNCUTTABLE]++;
      else if (splitter.superFrame) this.#counts[TSO_SUPER_FRAMES]++;
    }
    return n;
  }

  /** Turns a failed read's errno into "nothing queued" or an error. */
  #readFailed(): void {
    const code = errno();
    if (code === Errno.EAGAIN || code === Errno.EINTR) return;
    throw this.#failure("read", code);
  }

  writeFrames(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    onRefused: (errno: number, bytes: number) => void,
  ): number {
    this.#written = 0;
    this.#onRefused = onRefused;
    if (!this.offload) {
      for (let i = 0; i < count; i++) {
        const e = this.#writeRaw(bufs[i].payload, lengths[i], 1);
        if (e !== 0) this.#refused(e, lengths[i]);
      }
      return this.#written;
    }
    const co = this.#coalescer!;
    const before = co.joined;
    for (let i = 0; i < count; i++) {
      const b = bufs[i];
      co.add(b.front(VNET_HDR_LEN), b.view, b.payloadAt, lengths[i]);
    }
    co.flush();
    this.#counts[TAP_JOINED] += co.joined - before;
    return this.#written;
  }

  /** Frames the writer joined into super-frames, for counters. */
  get joined(): number {
    return this.#counts[TAP_JOINED];
  }

  /** Writes one frame (or a super-frame standing for `frames`); returns 0,
   * or the errno of a frame the kernel refused. */
  #writeRaw(bytes: Uint8Array, length: number, frames: number): number {
    for (;;) {
      const n = libc().write(this.#fd, bytes, big(length));
      if (n >= 0) {
        this.#written += frames;
        return 0;
      }
      const code = errno();
      if (code === Errno.EINTR) continue;
      if (code === Errno.EIO || code === Errno.EAGAIN || code === Errno.EINVAL) return code;
      throw this.#failure("write", code);
    }
  }

  readable(): Promise<void> {
    return this.#waiter.readable();
  }

  wake(): void {
    this.#waiter.wake();
  }

  /**
   * Releases the device, and leaves the TAP as `ip tuntap add` made it:
   * offloads off (before the fd is closed), then, if the vnet header was on,
   * a short attach without it ({@linkcode resetTap}). Safe to call twice,
   * and during a wait (the fd is closed once the wait has ended).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close(() => {
      libc().ioctl_arg(this.#fd, TUN.TUNSETOFFLOAD, TUN.NO_OFFLOADS);
      closeQuietly(this.#fd);
      this.#fd = -1;
      if (this.offload) resetTap(this.name);
    });
  }

  #failure(op: string, code: number): Error {
    if (code === Errno.EBADFD || code === Errno.ENODEV) {
      return new UserError(
        `interface ${this.name} went away (${
          strerror(code)
        }); it was deleted while tappet ran: recreate it with '${createHint(this.name)}' and restart tappet`,
      );
    }
    if (this.#closed || code === Errno.EBADF) {
      return new OsError(`${op}(${this.name})`, code, "device closed", errnoName(code));
    }
    return osError(`${op}(${this.name})`, code);
  }
}
