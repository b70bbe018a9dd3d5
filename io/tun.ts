/**
 * `/dev/net/tun`: attaching an fd to an existing persistent TAP interface,
 * and putting a TAP back as `ip tuntap add` made it. The constants of
 * <linux/if_tun.h> and <linux/if.h>, and the one-line errors a user can act
 * on.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import {
  C,
  closeQuietly,
  cString,
  Errno,
  errno,
  ifNameToIndex,
  lastError,
  libc,
  strerror,
} from "../ffi/libc.ts";

/** Constants from <linux/if_tun.h> and <linux/if.h>. */
export const TUN = {
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
  /** TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6: what tappet asks for. */
  OFFLOADS: 0x07n,
  /** No offloads: the state of a TAP that `ip tuntap add` made. */
  NO_OFFLOADS: 0n,
  /** struct ifreq: char ifr_name[16]; then a union (ifr_flags: short). */
  IFREQ_BYTES: 40,
  /** IFNAMSIZ − 1: the longest name; the kernel's buffer holds a NUL too. */
  IFNAME_MAX: 15,
} as const;

/** Offset of ifr_flags (a short) in struct ifreq, after char ifr_name[16]. */
const IFR_FLAGS = 16;

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

/** The commands that make `name` a TAP for user USER and bring it up. */
export function createHint(name: string): string {
  return `ip tuntap add ${name} mode tap user USER && ip link set ${name} up`;
}

/** Attaches a new fd to the existing persistent TAP `name` with
 * IFF_TAP | IFF_NO_PI (| IFF_VNET_HDR with `vnet`). Throws a UserError;
 * no fd stays open then. */
export function attach(name: string, vnet: boolean): number {
  const c = libc();
  const fd = c.open(cString("/dev/net/tun"), C.O_RDWR | C.O_NONBLOCK | C.O_CLOEXEC, 0);
  if (fd < 0) throw tunOpenError(errno());
  try {
    const ifr = new Uint8Array(TUN.IFREQ_BYTES);
    ifr.set(new TextEncoder().encode(name));
    const flags = TUN.IFF_TAP | TUN.IFF_NO_PI | (vnet ? TUN.IFF_VNET_HDR : 0);
    new DataView(ifr.buffer).setInt16(IFR_FLAGS, flags, true);
    if (c.ioctl(fd, TUN.TUNSETIFF, ifr) < 0) throw attachError(name, errno());
    // Attaching to a name that vanished after the caller's check would have
    // created a new, non-persistent interface (as root): refuse it.
    const got = new Uint8Array(TUN.IFREQ_BYTES);
    if (c.ioctl(fd, TUN.TUNGETIFF, got) < 0) throw lastError("ioctl(TUNGETIFF)");
    if ((new DataView(got.buffer).getUint16(IFR_FLAGS, true) & TUN.IFF_PERSIST) === 0) {
      throw new UserError(`interface ${name} does not exist: create it with '${createHint(name)}'`);
    }
    return fd;
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

/**
 * Puts the persistent TAP `name` back as `ip tuntap add` made it: no
 * offloads, no vnet header. A TAP's offloads (TUNSETOFFLOAD) and its
 * IFF_VNET_HDR flag outlive the fd that set them; attaching sets the flag
 * anew, so a short attach without it, with offloads cleared, resets both.
 * Errors are ignored (the TAP may be gone, or attached by another program,
 * which then set its own flags).
 */
export function resetTap(name: string): void {
  if (ifNameToIndex(name) === 0) return;
  let fd = -1;
  try {
    fd = attach(name, false);
    libc().ioctl_arg(fd, TUN.TUNSETOFFLOAD, TUN.NO_OFFLOADS);
  } catch { /* gone, or attached elsewhere */ }
  closeQuietly(fd);
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

/**
 * Sets interface `name`'s MTU to `mtu` bytes (SIOCSIFMTU, <linux/sockios.h>,
 * through an AF_INET datagram socket opened and closed here). Needs
 * CAP_NET_ADMIN in the interface's network namespace (root, or a process
 * that kept the capability: `--set-mtu` is the one reason tappet keeps it).
 * Returns undefined on success, else the error text (EPERM without the
 * capability, EINVAL for an MTU the device refuses).
 */
export function setInterfaceMtu(name: string, mtu: number): string | undefined {
  const c = libc();
  const fd = c.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) return strerror(errno());
  try {
    // struct ifreq: char ifr_name[16], then int ifr_mtu at byte 16; 40 bytes.
    const ifr = new Uint8Array(40);
    ifr.set(cString(name).subarray(0, 15));
    new DataView(ifr.buffer).setInt32(16, mtu, true);
    return c.ioctl(fd, BigInt(C.SIOCSIFMTU), ifr) < 0 ? strerror(errno()) : undefined;
  } finally {
    closeQuietly(fd);
  }
}
