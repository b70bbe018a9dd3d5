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
 * @module
 */

import { UserError } from "../errors.ts";
import {
  big,
  C,
  check,
  closeQuietly,
  cString,
  Errno,
  errno,
  ifNameToIndex,
  libc,
  strerror,
} from "../ffi/libc.ts";
import { OsError } from "../errors.ts";
import type { PacketBuffer } from "../core/packet.ts";
import { Arena } from "../core/arena.ts";
import { Coalescer, SUPER_FRAME_BYTES, TsoSplitter, VNET_HDR_LEN } from "./offload.ts";
import { FdWaiter } from "./wait.ts";

/** Constants from <linux/if_tun.h> and <linux/if.h>. */
const TUN = {
  TUNSETIFF: 0x400454can,
  TUNGETIFF: 0x800454d2n,
  IFF_TAP: 0x0002,
  IFF_NO_PI: 0x1000,
  IFF_PERSIST: 0x0800,
  IFF_VNET_HDR: 0x4000,
  TUNSETOFFLOAD: 0x400454d0n,
  TUN_F_CSUM: 0x01,
  TUN_F_TSO4: 0x02,
  TUN_F_TSO6: 0x04,
  /** struct ifreq: char ifr_name[16]; then a union (ifr_flags: short). */
  IFREQ_BYTES: 40,
  /** IFNAMSIZ − 1: the longest name; the kernel's buffer holds a NUL too. */
  IFNAME_MAX: 15,
} as const;

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
  /** Bytes the device needs in front of each frame in a PacketBuffer
   * (`reserve + headroom` at least; see PacketBuffer.front): 10 for a TAP
   * with offloads (its virtio_net_hdr), else 0 or absent. */
  readonly frontBytes?: number;
}

/** Checks an interface name the way the kernel will use it: 1 to 15 bytes,
 * no '/', ':' or whitespace. Never truncates. */
export function checkInterfaceName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0) throw new UserError("the interface name is empty: give the name of a TAP interface");
  if (bytes > TUN.IFNAME_MAX) {
    throw new UserError(
      `interface name "${name}" is ${bytes} bytes long; Linux allows at most 15: choose a shorter name`,
    );
  }
  if (/[\/:\s]/.test(name) || name === "." || name === "..") {
    throw new UserError(`interface name "${name}" is not valid: use letters, digits, '-', '_' or '.'`);
  }
}

function createHint(name: string): string {
  return `ip tuntap add ${name} mode tap user USER && ip link set ${name} up`;
}

/** Options of {@linkcode TapDevice.open}. */
export interface TapOptions {
  /** Where the device's buffers come from: the tunnel's arena (default:
   * buffers of its own; copies between them and the tunnel's allocate). */
  arena?: Arena;
  /** Ask for TCP segmentation offload (IFF_VNET_HDR, TUNSETOFFLOAD): the
   * kernel passes TCP super-frames both ways (see io/offload.ts). */
  offload?: boolean;
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
  readonly #splitter = new TsoSplitter();
  readonly #coalescer: Coalescer | undefined;
  #written = 0;
  /** Super-frames that could not be cut (not TCP over IP), dropped. */
  dropUncuttable = 0;

  private constructor(name: string, fd: number, offload: boolean, arena: Arena | undefined) {
    this.name = name;
    this.#fd = fd;
    this.offload = offload;
    this.frontBytes = offload ? VNET_HDR_LEN : 0;
    this.#waiter = new FdWaiter(fd);
    if (offload) {
      const a = arena ?? new Arena(2 * (VNET_HDR_LEN + SUPER_FRAME_BYTES + 64));
      this.#super = a.alloc(VNET_HDR_LEN + SUPER_FRAME_BYTES);
      this.#superView = new DataView(this.#super.buffer, this.#super.byteOffset, this.#super.byteLength);
      this.#coalescer = new Coalescer((bytes, length, frames) => this.#writeRaw(bytes, length, frames), a);
    }
  }

  readonly frontBytes: number;

  /**
   * Attaches to the existing TAP interface `name`. Throws a one-line
   * {@linkcode UserError} that says what to do when the interface does not
   * exist, is not a TAP, belongs to another user or is already attached, or
   * when /dev/net/tun cannot be opened. No fd stays open on failure. When
   * offloads are asked for but refused, the device works without them.
   */
  static open(name: string, options: TapOptions = {}): TapDevice {
    checkInterfaceName(name);
    const c = libc();
    if (ifNameToIndex(name) === 0) {
      throw new UserError(`interface ${name} does not exist: create it with '${createHint(name)}'`);
    }
    const fd = c.open(cString("/dev/net/tun"), C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
    if (fd < 0) throw tunOpenError(errno());
    try {
      const ifr = new Uint8Array(TUN.IFREQ_BYTES);
      ifr.set(new TextEncoder().encode(name));
      const vnet = options.offload ? TUN.IFF_VNET_HDR : 0;
      new DataView(ifr.buffer).setInt16(16, TUN.IFF_TAP | TUN.IFF_NO_PI | vnet, true);
      if (c.ioctl(fd, TUN.TUNSETIFF, ifr) < 0) throw attachError(name, errno());
      // Attaching to a name that vanished after the check above would have
      // created a new, non-persistent interface (as root): refuse it.
      const got = new Uint8Array(TUN.IFREQ_BYTES);
      check("ioctl(TUNGETIFF)", c.ioctl(fd, TUN.TUNGETIFF, got));
      const flags = new DataView(got.buffer).getUint16(16, true);
      if ((flags & TUN.IFF_PERSIST) === 0) {
        throw new UserError(`interface ${name} does not exist: create it with '${createHint(name)}'`);
      }
      let offload = false;
      if (options.offload) {
        const features = BigInt(TUN.TUN_F_CSUM | TUN.TUN_F_TSO4 | TUN.TUN_F_TSO6);
        offload = c.ioctl_arg(fd, TUN.TUNSETOFFLOAD, features) === 0;
        if (!offload) {
          // Without TSO the vnet header is only in the way: attach again without it.
          closeQuietly(fd);
          return TapDevice.open(name, { ...options, offload: false });
        }
      }
      return new TapDevice(name, fd, offload, options.arena);
    } catch (e) {
      closeQuietly(fd);
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
      if (!splitter.load(src, view, 0, 0, r)) this.dropUncuttable++;
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
    if (!this.offload) {
      for (let i = 0; i < count; i++) {
        const e = this.#writeRaw(bufs[i].payload, lengths[i], 1);
        if (e !== 0) onRefused(e, lengths[i]);
      }
      return this.#written;
    }
    const co = this.#coalescer!;
    co.onRefused = onRefused;
    for (let i = 0; i < count; i++) {
      const b = bufs[i];
      co.add(b.front(VNET_HDR_LEN), b.view, b.payloadAt, lengths[i]);
    }
    co.flush();
    return this.#written;
  }

  /** Frames the writer joined into super-frames, for counters. */
  get joined(): number {
    return this.#coalescer?.joined ?? 0;
  }

  /** Writes one frame (or a super-frame standing for `frames`); returns 0,
   * or the errno of a frame the kernel refused. */
  #writeRaw(bytes: Uint8Array, length: number, frames: number): number {
    const n = libc().write(this.#fd, bytes, big(length));
    if (n >= 0) {
      this.#written += frames;
      return 0;
    }
    const code = errno();
    if (code === Errno.EIO || code === Errno.EAGAIN || code === Errno.EINVAL || code === Errno.EINTR) {
      return code;
    }
    throw this.#failure("write", code);
  }

  readable(): Promise<void> {
    return this.#waiter.readable();
  }

  wake(): void {
    this.#waiter.wake();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close(() => {
      closeQuietly(this.#fd);
      this.#fd = -1;
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
      return new OsError(`${op}(${this.name})`, code, "device closed");
    }
    return new OsError(`${op}(${this.name})`, code, strerror(code));
  }
}

function tunOpenError(code: number): UserError {
  if (code === Errno.ENOENT || code === Errno.ENODEV) {
    return new UserError(
      "/dev/net/tun does not exist: load the tun module (modprobe tun) or create the device (mknod /dev/net/tun c 10 200)",
    );
  }
  if (code === Errno.EACCES || code === Errno.EPERM) {
    return new UserError(
      "/dev/net/tun cannot be opened (permission denied): give it its usual mode with 'chmod 0666 /dev/net/tun'",
    );
  }
  return new UserError(`/dev/net/tun cannot be opened: ${strerror(code)}`);
}

function attachError(name: string, code: number): UserError {
  switch (code) {
    case Errno.EPERM:
      return new UserError(
        `not permitted to attach to ${name}: it belongs to another user; recreate it for this user with 'ip tuntap del ${name} mode tap && ${
          createHint(name)
        }'`,
      );
    case Errno.EBUSY:
      return new UserError(
        `interface ${name} is already attached by another process (another tappet?): stop that process or use another interface`,
      );
    case Errno.EINVAL:
      return new UserError(
        `interface ${name} is not a TAP interface (a TUN, or another kind of device): create a TAP with '${
          createHint(name)
        }'`,
      );
    default:
      return new UserError(`cannot attach to interface ${name}: ${strerror(code)}`);
  }
}
