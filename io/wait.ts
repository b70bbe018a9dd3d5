/**
 * Waiting for file descriptors.
 *
 * - {@linkcode FdWaiter}: for the async driver, without blocking Deno's
 *   event loop: a `nonblocking` poll() on the fd and a wake pipe, so that a
 *   wait can be cut short. A nonblocking FFI call costs 15 µs to
 *   milliseconds, so this is for waiting only, after a synchronous read
 *   found nothing (EAGAIN).
 * - {@linkcode PollWaiter}: the poll driver's {@linkcode Waiter} over the
 *   TAP's and the socket's fds (tunnel/poll_driver.ts); io/fake.ts has an
 *   fd-less one for tests.
 *
 * @module
 */

import { C, check, closeQuietly, libc } from "../ffi/libc.ts";

/** Waits on one fd, owned by the caller. */
export class FdWaiter {
  // struct pollfd[2] { int fd; short events; short revents; }: the fd and
  // the wake pipe. A field: a nonblocking call must not outlive its buffer.
  readonly #pollfds = new Int32Array(4);
  readonly #pollBytes = new Uint8Array(this.#pollfds.buffer);
  readonly #drain = new Uint8Array(64);
  readonly #one = new Uint8Array(1);
  readonly #wakeRead: number;
  readonly #wakeWrite: number;
  #waiting: Promise<number> | undefined;
  #closed = false;
  #release: (() => void) | undefined;

  /** A waiter for `fd`, with a new wake pipe (closed by {@linkcode close}). */
  constructor(fd: number) {
    const fds = new Int32Array(2);
    check("pipe2", libc().pipe2(new Uint8Array(fds.buffer), C.O_NONBLOCK | C.O_CLOEXEC));
    [this.#wakeRead, this.#wakeWrite] = fds;
    this.#pollfds[0] = fd;
    this.#pollfds[2] = this.#wakeRead;
  }

  /** Resolves when the fd is readable (or in error), when
   * {@linkcode wake} is called, or once closed. One wait at a time. */
  async readable(): Promise<void> {
    if (this.#closed) return;
    if (this.#waiting !== undefined) throw new Error("FdWaiter.readable() is already waiting");
    this.#pollfds[1] = C.POLLIN; // events; clears revents
    this.#pollfds[3] = C.POLLIN;
    this.#waiting = libc().poll(this.#pollBytes, 2n, -1);
    try {
      await this.#waiting;
    } finally {
      this.#waiting = undefined;
    }
    if ((this.#pollfds[3] >>> 16) !== 0) {
      while (libc().read(this.#wakeRead, this.#drain, 64n) > 0) { /* drain */ }
    }
    if (this.#closed) this.#finish();
  }

  /** Ends a pending (or the next) wait early. */
  wake(): void {
    if (!this.#closed || this.#waiting !== undefined) libc().write(this.#wakeWrite, this.#one, 1n);
  }

  /**
   * Closes the wake pipe, then calls `release` (where the owner closes its
   * fd): at once, or when a pending poll() has returned, since the kernel
   * must not see the fd closed under it. Safe to call twice.
   */
  close(release: () => void = () => {}): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release = release;
    if (this.#waiting !== undefined) this.wake();
    else this.#finish();
  }

  #finish(): void {
    const release = this.#release;
    this.#release = undefined;
    closeQuietly(this.#wakeRead);
    closeQuietly(this.#wakeWrite);
    release?.();
  }
}

/**
 * A reusable struct pollfd array for {@linkcode pollNow}: `fds[i]` is the fd
 * of entry i, all waiting for POLLIN.
 */
export class PollSet {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #count: bigint;

  /** A poll set over `fds` (owned by the caller). */
  constructor(fds: readonly number[]) {
    this.#words = new Int32Array(2 * fds.length);
    this.#bytes = new Uint8Array(this.#words.buffer);
    this.#count = BigInt(fds.length);
    fds.forEach((fd, i) => (this.#words[2 * i] = fd));
  }

  /** Replaces the fd of entry `i`; a negative fd is ignored by poll(). */
  setFd(i: number, fd: number): void {
    this.#words[2 * i] = fd;
  }

  /**
   * Blocks the thread until an fd is readable (or in error) or `timeoutMs`
   * pass; for the loop that owns the main thread (tunnel/poll_driver.ts). A signal
   * ends the wait early: poll() returns EINTR and is never restarted, so the
   * signal's handler runs as soon as the caller returns to the event loop.
   * Returns the number of ready fds, 0 on timeout, -1 when a signal (or
   * another error) ended the wait. Allocates nothing.
   */
  wait(timeoutMs: number): number {
    const w = this.#words;
    for (let i = 1; i < w.length; i += 2) w[i] = C.POLLIN;
    const r = libc().poll_now(this.#bytes, this.#count, timeoutMs);
    return r < 0 ? -1 : r;
  }

  /**
   * Waits like {@linkcode wait}, but on another thread (a `nonblocking` FFI
   * call, 15 µs or more of overhead): meanwhile the main thread's event loop
   * has nothing to do, so Deno's runtime parks, and that is when it reads
   * its own I/O, signals included. A call that returns at once (a timeout of
   * 0) does not reliably make it park: a SIGTERM then waited up to 400 ms.
   * Resolves early when an fd is readable; the set must not be used until it
   * has resolved.
   */
  async park(timeoutMs: number): Promise<number> {
    const w = this.#words;
    for (let i = 1; i < w.length; i += 2) w[i] = C.POLLIN;
    const r = await libc().poll(this.#bytes, this.#count, timeoutMs);
    return r < 0 ? -1 : r;
  }
}

/**
 * How the poll driver (tunnel/poll_driver.ts) waits for the TAP device and
 * the socket to become readable. Two entries: the device and the socket.
 */
export interface Waiter {
  /** Whether the device is waited for; while it is not (a server that
   * takes no frames yet), only the socket and the timeout end a wait. */
  watchDevice(on: boolean): void;
  /** Blocks the main thread until the device or the socket is readable (or
   * in error), or `timeoutMs` pass. Returns the number of ready entries, 0
   * on timeout, -1 when a signal (or another error) ended it. Allocates
   * nothing. */
  wait(timeoutMs: number): number;
  /** Waits like {@linkcode wait} but lets the event loop run meanwhile (and
   * Deno's runtime park, which is when it reads signals); resolves early
   * when an entry is readable. No other call until it has resolved. */
  park(timeoutMs: number): Promise<number>;
}

/** The {@linkcode Waiter} over a TAP's fd and a socket's fd (both owned by
 * the caller, who must not close them while a park is pending). */
export class PollWaiter implements Waiter {
  readonly #set: PollSet;
  readonly #deviceFd: number;

  /** A waiter for `deviceFd` (entry 0) and `socketFd` (entry 1). */
  constructor(deviceFd: number, socketFd: number) {
    this.#deviceFd = deviceFd;
    this.#set = new PollSet([deviceFd, socketFd]);
  }

  watchDevice(on: boolean): void {
    this.#set.setFd(0, on ? this.#deviceFd : -1);
  }

  wait(timeoutMs: number): number {
    return this.#set.wait(timeoutMs);
  }

  park(timeoutMs: number): Promise<number> {
    return this.#set.park(timeoutMs);
  }
}
