/**
 * glibc through `Deno.dlopen`: the system calls tappet makes itself (the TAP
 * device, poll, socket options, clock).
 *
 * Every symbol of libc that tappet uses is declared here, once, with its C
 * prototype, and the library is opened on first use, not at import time (a
 * failure is a {@linkcode LibraryLoadError}). Most callers use the typed
 * wrappers below; the batched socket (io/udp_ffi.ts, io/msghdr.ts) does
 * handle raw pointers: it writes buffer addresses into `struct mmsghdr` and
 * `struct iovec` arrays, and keeps those buffers alive itself.
 *
 * Failures: {@linkcode lastError} (or {@linkcode check}) turns errno into an
 * {@linkcode OsError} right after the call; {@linkcode errnoName} names an
 * errno for counters and messages.
 *
 * Conventions that keep the per-packet path cheap (measured; see
 * ../shared/STYLE.md, "Deno facts that shape the data path"):
 * - `read`/`write`/`recvmmsg`/`sendmmsg` results are declared `i32`: an
 *   `isize` result always comes back as a BigInt.
 * - `size_t` parameters are `usize` and take a BigInt; `big()` (./big.ts) gives
 *   cached BigInts for lengths, so the hot path allocates nothing.
 * - errno is read right after a synchronous call, on the same thread. It is
 *   meaningless after a `nonblocking` call, which runs on another thread.
 *
 * @module
 */

import { OsError } from "../errors.ts";
import { LibraryLoadError } from "./load.ts";
export { big } from "./big.ts";

const SYMBOLS = {
  /** int open(const char *path, int flags, mode_t mode) */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t count) */
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t count) */
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *arg): variadic in C; this
   * fixed signature is correct on x86-64 and aarch64 Linux. */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, unsigned long arg): the form
   * whose argument is a value, not a pointer (TUNSETOFFLOAD) */
  ioctl_arg: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  /** int fcntl(int fd, int cmd, int arg) */
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** ssize_t readlink(const char *path, char *buf, size_t size) */
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  /** int pipe2(int fds[2], int flags) */
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout_ms), run on a
   * worker thread: used only to wait, never per packet. */
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /** int poll(...), synchronous: it blocks the calling (main) thread for up
   * to timeout_ms, so the event loop stands still meanwhile (io/wait.ts). */
  poll_now: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
  },
  /** int *__errno_location(void): the calling thread's errno. */
  __errno_location: { parameters: [], result: "pointer" },
  /** char *strerror(int errnum) */
  strerror: { parameters: ["i32"], result: "pointer" },
  /** int clock_gettime(clockid_t clk, struct timespec *ts) */
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  /** unsigned int if_nametoindex(const char *ifname) */
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  /** DIR *opendir(const char *path) */
  opendir: { parameters: ["buffer"], result: "pointer" },
  /** struct dirent *readdir(DIR *dir): NULL at the end (glibc's 64-bit
   * layout: d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name) */
  readdir: { parameters: ["pointer"], result: "pointer" },
  /** int closedir(DIR *dir) */
  closedir: { parameters: ["pointer"], result: "i32" },
  /** int sched_setscheduler(pid_t tid, int policy, const struct sched_param *p):
   * on Linux it sets one thread's policy */
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  /** uid_t geteuid(void) */
  geteuid: { parameters: [], result: "u32" },
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len) */
  /** int bind(int fd, const struct sockaddr *addr, socklen_t len) */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int getsockname(int fd, struct sockaddr *addr, socklen_t *len) */
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int setsockopt(int fd, int level, int name, const void *val, socklen_t len) */
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  /** int getsockopt(int fd, int level, int name, void *val, socklen_t *len) */
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  /** int recvmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags,
   *   struct timespec *timeout): the number of messages received */
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  /** int sendmmsg(int fd, struct mmsghdr *msgvec, unsigned int vlen, int flags):
   * the number of messages sent */
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Constants from the Linux UAPI and glibc headers named beside each. */
export const C = {
  // <asm-generic/fcntl.h>
  O_RDWR: 0o2,
  O_NONBLOCK: 0o4000,
  O_CLOEXEC: 0o2000000,
  F_GETFD: 1,
  // <poll.h>
  POLLIN: 0x1,
  POLLOUT: 0x4,
  POLLERR: 0x8,
  POLLHUP: 0x10,
  POLLNVAL: 0x20,
  // <linux/sched.h>
  SCHED_BATCH: 3,
  // <linux/time.h> (glibc <bits/time.h>): the clock of every timer, boot
  // time: monotonic, and it goes on counting while the system is suspended
  // (CLOCK_MONOTONIC stops), as WireGuard's timers do.
  CLOCK_BOOTTIME: 7,
  // <sys/socket.h>, <netinet/in.h>
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_TYPE: 3,
  IPPROTO_IP: 0,
  IPPROTO_IPV6: 41,
  // <linux/in.h>, <linux/in6.h>
  IP_MTU_DISCOVER: 10,
  IP_PMTUDISC_DO: 2,
  IPV6_MTU_DISCOVER: 23,
  IPV6_PMTUDISC_DO: 2,
  // <linux/in.h> IP_PMTUDISC_PROBE, <linux/in6.h> IPV6_PMTUDISC_PROBE: DF
  // set, the route's cached path MTU (which ICMP can lower) not used.
  IP_PMTUDISC_PROBE: 3,
  IPV6_PMTUDISC_PROBE: 3,
  // ... IP_PMTUDISC_DONT, IPV6_PMTUDISC_DONT: DF off, the kernel fragments.
  IP_PMTUDISC_DONT: 0,
  IPV6_PMTUDISC_DONT: 0,
  // <linux/sockios.h>: set an interface's MTU (needs CAP_NET_ADMIN).
  SIOCSIFMTU: 0x8922,
  IPV6_V6ONLY: 26,
  SOCK_NONBLOCK: 0o4000,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_SNDBUFFORCE: 32,
  SO_RCVBUFFORCE: 33,
  // <netinet/udp.h> (SOL_UDP = IPPROTO_UDP), <linux/udp.h>
  SOL_UDP: 17,
  UDP_SEGMENT: 103,
  UDP_GRO: 104,
  // <bits/socket.h>
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
} as const;

/** errno values (<asm-generic/errno-base.h>, <asm-generic/errno.h>; the same
 * on x86-64 and aarch64). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  ENODEV: 19,
  EEXIST: 17,
  EINVAL: 22,
  EBADFD: 77,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
} as const;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Errno).map(([name, code]) => [code, name]),
);

/** The symbolic name of an errno value ("EMSGSIZE"), or "errno N" for one
 * tappet does not name. Allocates nothing for the named ones. */
export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}

/** The soname opened: `libc.so` is a linker script on glibc, not a library. */
export const LIBC = "libc.so.6";

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Lib | undefined;
let errnoView: Int32Array | undefined;

/** Opens glibc on first use; later calls return the same symbols. */
export function libc(): Lib {
  if (lib === undefined) {
    try {
      lib = Deno.dlopen(LIBC, SYMBOLS).symbols;
    } catch (cause) {
      const advice = cause instanceof Deno.errors.NotCapable
        ? "run deno with --allow-ffi"
        : "tappet needs Linux with glibc";
      throw new LibraryLoadError("libc", [LIBC], cause, { advice });
    }
    const p = lib.__errno_location();
    errnoView = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p!, 4));
  }
  return lib;
}

/** The main thread's errno, valid right after a synchronous libc call. */
export function errno(): number {
  return errnoView![0];
}

/** The C library's text for an errno value ("No such device"). */
export function strerror(code: number): string {
  const p = libc().strerror(code);
  return p === null ? `errno ${code}` : Deno.UnsafePointerView.getCString(p);
}

/** The {@linkcode OsError} of the libc call `syscall` that just failed:
 * errno, its name and its text, read at once on this thread. */
export function lastError(syscall: string): OsError {
  return osError(syscall, errno());
}

/** The {@linkcode OsError} of `syscall` failing with errno `code`. */
export function osError(syscall: string, code: number): OsError {
  return new OsError(syscall, code, strerror(code), errnoName(code));
}

/** Throws {@linkcode lastError}(`syscall`) when `result` is negative;
 * returns `result` otherwise. */
export function check(syscall: string, result: number): number {
  if (result < 0) throw lastError(syscall);
  return result;
}

/** A NUL-terminated copy of `s` for a `const char *` parameter. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Closes `fd`, ignoring errors: for cleanup paths, where the first error is
 * the one worth reporting. A negative fd is ignored. */
export function closeQuietly(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

/**
 * The open fds of this process below `limit`, each with what it refers to
 * (`/dev/net/tun`, `socket:[…]`, `anon_inode:[eventpoll]`). Found with
 * fcntl(F_GETFD) and readlink of /proc/self/fd through libc, because Deno
 * lets only --allow-all programs read /proc/self. For diagnostics, not for
 * the packet path.
 */
export function openFds(limit = 4096): Map<number, string> {
  const c = libc();
  const out = new Map<number, string>();
  const buf = new Uint8Array(4096);
  for (let fd = 0; fd < limit; fd++) {
    if (c.fcntl(fd, C.F_GETFD, 0) < 0) continue;
    const n = c.readlink(cString(`/proc/self/fd/${fd}`), buf, BigInt(buf.length));
    out.set(fd, n < 0 ? "?" : new TextDecoder().decode(buf.subarray(0, n)));
  }
  return out;
}

/** The effective user id of this process. */
export function geteuid(): number {
  return libc().geteuid();
}

/** The index of network interface `name` in this network namespace, or 0
 * when there is none. */
export function ifNameToIndex(name: string): number {
  return libc().if_nametoindex(cString(name));
}

// struct timespec { int64 tv_sec; int64 tv_nsec; }, read as 32-bit halves
// (little-endian hosts) so that no BigInt is made.
const ts = new Int32Array(4);
const tsBytes = new Uint8Array(ts.buffer);

/**
 * The timers' clock: CLOCK_BOOTTIME in nanoseconds, as a double. Monotonic,
 * and it includes time spent suspended, so key lifetimes count real time.
 * Exact below 2^53 ns (104 days since boot); above that it is rounded to a
 * few nanoseconds, which callers that need strict order must allow for.
 * Allocates nothing.
 */
export function monotonicNs(): number {
  libc().clock_gettime(C.CLOCK_BOOTTIME, tsBytes);
  return ((ts[0] >>> 0) + ts[1] * 4294967296) * 1e9 + ts[2];
}
