/**
 * Where the default control sockets are: `/run/tappet/IFACE.sock` in the
 * host's network namespace, a directory of their own in another one.
 *
 * @module
 */

import { cString, libc } from "../ffi/libc.ts";

/** The directory of the default control sockets. */
export const CONTROL_DIR = "/run/tappet";

/** The inode of this process's network namespace, from the link
 * `/proc/self/ns/net` (`net:[INODE]`), read through libc: Deno refuses that
 * path without --allow-all. Undefined without the FFI permission. */
function ownNetnsInode(): number | undefined {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  const buf = new Uint8Array(64);
  const n = libc().readlink(cString("/proc/self/ns/net"), buf, BigInt(buf.length));
  const m = n < 0 ? null : /^net:\[(\d+)\]$/.exec(new TextDecoder().decode(buf.subarray(0, n)));
  return m === null ? undefined : Number(m[1]);
}

/** The inode of a named namespace's file `/run/netns/NAME`, or undefined. */
function nsInode(path: string): number | undefined {
  try {
    return Deno.statSync(path).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The directory of the default control sockets in this process's network
 * namespace. Interface names are per network namespace, while /run is
 * shared (`ip netns exec` keeps it), so two tunnels on `tp0` in two
 * namespaces need two sockets: `CONTROL_DIR/netns-NAME` in a namespace
 * named by `ip netns` (the entry of /run/netns that is this process's
 * namespace), {@linkcode CONTROL_DIR} elsewhere, and without Deno's FFI
 * permission (which finding the namespace needs).
 */
export function controlDir(): string {
  const self = ownNetnsInode();
  if (self === undefined) return CONTROL_DIR;
  try {
    for (const e of Deno.readDirSync("/run/netns")) {
      if (nsInode(`/run/netns/${e.name}`) === self) return `${CONTROL_DIR}/netns-${e.name}`;
    }
  } catch {
    // No named namespaces, or not readable.
  }
  return CONTROL_DIR;
}

/** The default control socket of interface `iface`: `IFACE.sock` in
 * {@linkcode controlDir}. */
export function defaultControlPath(iface: string): string {
  return `${controlDir()}/${iface}.sock`;
}
