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

function readCounter(path: string): number | undefined {
  try {
    const v = Number(Deno.readTextFileSync(path).trim());
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
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
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/self/fd/${entry.name}`));
        if (m) inodes.add(m[1]);
      } catch {
        // The fd closed while we looked.
      }
    }
  } catch {
    // No /proc: nothing to report.
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
  let text: string;
  try {
    text = Deno.readTextFileSync(family === 6 ? "/proc/net/udp6" : "/proc/net/udp");
  } catch {
    return {};
  }
  const drops = udpDropsFrom(text, port, ownSocketInodes());
  return drops === undefined ? {} : { socket_rx_overflow: drops };
}
