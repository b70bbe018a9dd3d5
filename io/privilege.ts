/**
 * Giving up root: `--user NAME` (issue 13). tappet starts as root, opens
 * everything it needs (TAP, socket, control socket, key files, nonce file),
 * then calls {@linkcode dropPrivileges} once, before it handles any datagram.
 *
 * The user is looked up with {@linkcode lookupUser} first, before anything is
 * opened, so that a misspelt name costs nothing. The drop clears the
 * supplementary groups, then sets the real, effective and saved gid, then the
 * uid (glibc applies each to every thread of the process), and checks
 * afterwards that `setuid(0)` fails. No capability survives unless named in
 * {@linkcode DropOptions.keepCapabilities}.
 *
 * @module
 */

import { OsError, UserError } from "../errors.ts";
import { cString, Errno, errno, geteuid, strerror } from "../ffi/libc.ts";
import { libcUser, U } from "../ffi/libc_user.ts";

/** A user account as the system's NSS (passwd) gives it. */
export interface Account {
  readonly name: string;
  readonly uid: number;
  /** The account's primary group. */
  readonly gid: number;
  readonly home: string;
}

/** Capabilities that may be kept across the drop (<linux/capability.h>).
 * CAP_NET_BIND_SERVICE is not needed once the socket is bound; CAP_NET_ADMIN
 * is for work done later on the TAP (setting its MTU). */
export const Capability = {
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_ADMIN: 12,
} as const;

/** The name of a capability {@linkcode dropPrivileges} can keep. */
export type CapabilityName = keyof typeof Capability;

/** Options for {@linkcode dropPrivileges}. */
export interface DropOptions {
  /**
   * Capabilities to keep, effective and permitted, on the calling thread only
   * (capabilities belong to a thread: Deno's other threads keep none). tappet
   * makes its FFI calls that need one synchronously on the main thread, which
   * is the thread that must call this. Not inherited by a program tappet
   * would execute (none is set ambient). Default: none.
   */
  readonly keepCapabilities?: readonly CapabilityName[];
}

const errnoNames = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

function fail(syscall: string, code = errno()): never {
  const name = errnoNames.get(code);
  throw new OsError(syscall, code, name ? `${strerror(code)} (${name})` : strerror(code));
}

// getpwnam_r's string buffer: glibc's sysconf(_SC_GETPW_R_SIZE_MAX) is 1024;
// grown on ERANGE up to this bound.
const PW_BUFFER_MAX = 1 << 20;
const ERANGE = 34; // <asm-generic/errno-base.h>

/**
 * Looks `name` up with getpwnam_r (so /etc/passwd, LDAP or whatever NSS is
 * set up for). Throws a {@linkcode UserError} (exit 1) when there is no such
 * user, an {@linkcode OsError} when the lookup itself fails.
 */
export function lookupUser(name: string): Account {
  if (name === "" || name.includes("\0")) {
    throw new UserError(
      `--user '${name}' is not a user name; give the name of an existing user, e.g. tappet`,
    );
  }
  const c = libcUser();
  const pwd = new Uint8Array(U.PASSWD_SIZE);
  const result = new BigUint64Array(1);
  for (let size = 1024;; size *= 2) {
    const buf = new Uint8Array(size);
    const rc = c.getpwnam_r(cString(name), pwd, buf, BigInt(size), new Uint8Array(result.buffer));
    if (rc === ERANGE && size < PW_BUFFER_MAX) continue;
    if (rc !== 0) fail(`getpwnam_r(${name})`, rc);
    if (result[0] === 0n) {
      throw new UserError(
        `no user '${name}' for --user on this system; create it (useradd --system ${name}) or name an existing user`,
      );
    }
    const view = new DataView(pwd.buffer);
    const dirPtr = Deno.UnsafePointer.create(view.getBigUint64(U.PW_DIR_OFFSET, true));
    return {
      name,
      uid: view.getUint32(U.PW_UID_OFFSET, true),
      gid: view.getUint32(U.PW_GID_OFFSET, true),
      home: dirPtr === null ? "" : Deno.UnsafePointerView.getCString(dirPtr),
    };
  }
}

/**
 * Makes `account`'s uid and gid this process's real, effective and saved ids,
 * with no supplementary group, and keeps only `options.keepCapabilities`.
 * Call it once, from the main thread, after every privileged open. Throws an
 * {@linkcode OsError} naming the call and errno when a step fails (the
 * process must then exit: it may be half-dropped), and a
 * {@linkcode UserError} when not root and not already `account`. Already
 * running as `account` (systemd's `User=`), it changes nothing.
 */
export function dropPrivileges(account: Account, options: DropOptions = {}): void {
  const c = libcUser();
  const keep = options.keepCapabilities ?? [];
  if (geteuid() !== 0) {
    if (c.getuid() === account.uid && geteuid() === account.uid && keep.length === 0) return;
    throw new UserError(
      `--user ${account.name} needs tappet to be started as root; start it as root or drop --user`,
    );
  }
  if (keep.length > 0 && c.prctl(U.PR_SET_KEEPCAPS, 1n, 0n, 0n, 0n) < 0) fail("prctl(PR_SET_KEEPCAPS)");
  if (c.setgroups(0n, null) < 0) fail("setgroups(0)");
  if (c.setgid(account.gid) < 0) fail(`setgid(${account.gid})`);
  if (c.setuid(account.uid) < 0) fail(`setuid(${account.uid})`);
  if (keep.length > 0) {
    setCapabilities(keep.map((n) => Capability[n]));
    if (c.prctl(U.PR_SET_KEEPCAPS, 0n, 0n, 0n, 0n) < 0) fail("prctl(PR_SET_KEEPCAPS, 0)");
  }
  verifyDropped(account);
}

// struct __user_cap_header_struct { __u32 version; int pid; } and, for
// version 3, two struct __user_cap_data_struct { __u32 effective, permitted,
// inheritable; } (capabilities 0-31, then 32-63).
function setCapabilities(caps: readonly number[]): void {
  const header = new Uint32Array([U.LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  for (const cap of caps) {
    const word = cap >> 5, bit = (1 << (cap & 31)) >>> 0;
    data[word * 3] |= bit; // effective
    data[word * 3 + 1] |= bit; // permitted
  }
  const rc = libcUser().capset(new Uint8Array(header.buffer), new Uint8Array(data.buffer));
  if (rc < 0) fail("capset");
}

function verifyDropped(account: Account): void {
  const c = libcUser();
  const ids = [c.getuid(), geteuid(), c.getgid(), c.getegid()];
  const want = [account.uid, account.uid, account.gid, account.gid];
  if (ids.some((v, i) => v !== want[i])) {
    throw new OsError(`setuid(${account.uid})`, Errno.EPERM, `ids are ${ids.join("/")} afterwards`);
  }
  if (c.setuid(0) === 0) {
    throw new OsError("setuid(0)", 0, "succeeded after the drop: root could be regained");
  }
}
