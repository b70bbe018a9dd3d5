/**
 * Drops the kernel counts for tappet's TAP interface and UDP socket, which
 * the engine cannot see: frames the TAP queue overflowed on, and datagrams
 * the socket's receive buffer had no room for. Read from /sys and /proc on
 * each call (a few small file reads): call it per status request, never per
 * packet.
 *
 * Reasons, as `status` and the metrics name them:
 * - `tap_kernel_tx_dropped`: frames the host sent into the TAP that the
 *   kernel dropped before tappet read them (the TAP's queue was full):
 *   `/sys/class/net/IFACE/statistics/tx_dropped`;
 * - `tap_kernel_rx_dropped`: frames tappet wrote that the kernel dropped:
 *   `/sys/class/net/IFACE/statistics/rx_dropped`;
 * - `socket_rx_overflow`: datagrams for tappet's socket dropped by the kernel
 *   (receive buffer full, or a bad UDP checksum): the `drops` column of
 *   `/proc/net/udp` or `/proc/net/udp6` for the socket this process owns on
 *   the bound port.
 *
 * @module
 */

import { C, closeQuietly, cString, libc, openFds } from "../ffi/libc.ts";

/** O_RDONLY (<fcntl.h>). */
const O_RDONLY = 0;
/** The most a kernel file read here may hold, bytes. */
const MAX_KERNEL_TEXT = 1 << 20;

/**
 * The text of a /proc or /sys file, read through libc: Deno refuses those
 * paths without --allow-all, even with --allow-read. Undefined when it
 * cannot be read, or without Deno's FFI permission.
 */
export function readKernelText(path: string): string | undefined {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  const c = libc();
  const fd = c.open(cString(path), O_RDONLY | C.O_CLOEXEC, 0);
  if (fd < 0) return undefined;
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    while (total < MAX_KERNEL_TEXT) {
      const buf = new Uint8Array(65536);
      const n = c.read(fd, buf, BigInt(buf.length));
      if (n < 0) return undefined;
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const ch of chunks) {
      all.set(ch, off);
      off += ch.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    closeQuietly(fd);
  }
}

function readCounter(path: string): number | undefined {
  const text = readKernelText(path);
  if (text === undefined) return undefined;
  const v = Number(text.trim());
  return text.trim() !== "" && Number.isFinite(v) ? v : undefined;
}

/** The target of a /proc link (such as /proc/self/fd/N), through libc. */
function readKernelLink(path: string): string | undefined {
  const buf = new Uint8Array(256);
  const n = libc().readlink(cString(path), buf, BigInt(buf.length));
  return n < 0 ? undefined : new TextDecoder().decode(buf.subarray(0, n));
}

/** The kernel's drop counters of TAP interface `iface`; a counter that
 * cannot be read (the interface is gone) is left out. */
export function tapKernelDrops(iface: string): Record<string, number> {
  if (!/^[^\/\s]{1,15}$/.test(iface) || iface === "." || iface === "..") return {};
  const out: Record<string, number> = {};
  const base = `/sys/class/net/${iface}/statistics`;
  const tx = readCounter(`${base}/tx_dropped`);
  const rx = readCounter(`${base}/rx_dropped`);
  if (tx !== undefined) out.tap_kernel_tx_dropped = tx;
  if (rx !== undefined) out.tap_kernel_rx_dropped = rx;
  return out;
}

/** The inodes of the sockets this process has open (from /proc/self/fd). */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return inodes;
  for (const [fd] of openFds()) {
    const m = /^socket:\[(\d+)\]$/.exec(readKernelLink(`/proc/self/fd/${fd}`) ?? "");
    if (m) inodes.add(m[1]);
  }
  return inodes;
}

/**
 * Parses the text of /proc/net/udp or /proc/net/udp6: the `drops` column of
 * the row bound to `port` whose inode is in `inodes`, or undefined.
 * Columns (net/ipv4/udp.c udp4_format_sock): sl, local_address (hex
 * address:hex port), rem_address, st, tx_queue:rx_queue, tr:tm->when,
 * retrnsmt, uid, timeout, inode, ref, pointer, drops.
 */
export function udpDropsFrom(text: string, port: number, inodes: ReadonlySet<string>): number | undefined {
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const local = f[1].split(":");
    if (parseInt(local[local.length - 1], 16) !== port) continue;
    if (!inodes.has(f[9])) continue;
    const drops = Number(f[12]);
    return Number.isFinite(drops) ? drops : undefined;
  }
  return undefined;
}

/** The kernel's drop counter of this process's UDP socket bound to `port`
 * (address family `family`), as `{ socket_rx_overflow: n }`, or `{}` when
 * it cannot be read. */
export function udpSocketDrops(port: number, family: 4 | 6): Record<string, number> {
  const text = readKernelText(family === 6 ? "/proc/net/udp6" : "/proc/net/udp");
  if (text === undefined) return {};
  const drops = udpDropsFrom(text, port, ownSocketInodes());
  return drops === undefined ? {} : { socket_rx_overflow: drops };
}
