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
import { FdWaiter } from "./wait.ts";

/** Constants from <linux/if_tun.h> and <linux/if.h>. */
const TUN = {
  TUNSETIFF: 0x400454can,
  TUNGETIFF: 0x800454d2n,
  IFF_TAP: 0x0002,
  IFF_NO_PI: 0x1000,
  IFF_PERSIST: 0x0800,
  /** struct ifreq: char ifr_name[16]; then a union (ifr_flags: short). */
  IFREQ_BYTES: 40,
  /** IFNAMSIZ − 1: the longest name; the kernel's buffer holds a NUL too. */
  IFNAME_MAX: 15,
} as const;

/**
 * A source and sink of Ethernet frames: the TAP device, or a fake in tests.
 * Close semantics: after {@linkcode close}, {@linkcode readable} resolves
 * and {@linkcode read} / {@linkcode write} throw.
 */
export interface FrameDevice {
  /** Interface name, for messages. */
  readonly name: string;
  /**
   * Reads one frame into `buf.payload` without waiting. Returns its length
   * in bytes, or 0 when no frame is queued. Throws an {@linkcode OsError}
   * when the device fails (e.g. EBADFD once the interface is deleted).
   */
  read(buf: PacketBuffer): number;
  /**
   * Writes the frame `buf.payload[0, length)`. Returns 0 on success or the
   * errno of a frame dropped by the kernel (EIO while the interface is down,
   * EAGAIN, EINVAL for a malformed frame); throws an {@linkcode OsError}
   * when the device itself fails.
   */
  write(buf: PacketBuffer, length: number): number;
  /** Resolves when a frame may be readable, or {@linkcode wake} was called,
   * or the device was closed. At most one wait at a time. */
  readable(): Promise<void>;
  /** Ends a pending {@linkcode readable} wait early. */
  wake(): void;
  /** Releases the device. Safe to call twice, and during a wait. */
  close(): void;
  /** The device's fd, when it has one: then the loop may poll it itself. */
  readonly fd?: number;
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

/** A TAP interface attached with IFF_TAP | IFF_NO_PI: one Ethernet frame per
 * read or write, no packet-information header. */
export class TapDevice implements FrameDevice {
  readonly name: string;
  #fd: number;
  readonly #waiter: FdWaiter;
  #closed = false;

  private constructor(name: string, fd: number) {
    this.name = name;
    this.#fd = fd;
    this.#waiter = new FdWaiter(fd);
  }

  /**
   * Attaches to the existing TAP interface `name`. Throws a one-line
   * {@linkcode UserError} that says what to do when the interface does not
   * exist, is not a TAP, belongs to another user or is already attached, or
   * when /dev/net/tun cannot be opened. No fd stays open on failure.
   */
  static open(name: string): TapDevice {
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
      new DataView(ifr.buffer).setInt16(16, TUN.IFF_TAP | TUN.IFF_NO_PI, true);
      if (c.ioctl(fd, TUN.TUNSETIFF, ifr) < 0) throw attachError(name, errno());
      // Attaching to a name that vanished after the check above would have
      // created a new, non-persistent interface (as root): refuse it.
      const got = new Uint8Array(TUN.IFREQ_BYTES);
      check("ioctl(TUNGETIFF)", c.ioctl(fd, TUN.TUNGETIFF, got));
      const flags = new DataView(got.buffer).getUint16(16, true);
      if ((flags & TUN.IFF_PERSIST) === 0) {
        throw new UserError(`interface ${name} does not exist: create it with '${createHint(name)}'`);
      }
      return new TapDevice(name, fd);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  }

  /** The attached fd, for the loop's poll(); -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  read(buf: PacketBuffer): number {
    const payload = buf.payload;
    const n = libc().read(this.#fd, payload, big(payload.length));
    if (n >= 0) return n;
    const code = errno();
    if (code === Errno.EAGAIN || code === Errno.EINTR) return 0;
    throw this.#failure("read", code);
  }

  write(buf: PacketBuffer, length: number): number {
    const n = libc().write(this.#fd, buf.payload, big(length));
    if (n >= 0) return 0;
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
