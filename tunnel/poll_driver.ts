/**
 * The poll driver: the default path (TAP + FFI socket). Both directions in
 * one synchronous loop on the main thread (see tunnel/forwarder.ts for the
 * flow): no promise and no thread hop per packet, a frame is forwarded as
 * soon as the wait returns.
 *
 * When to leave the loop for Deno's event loop (signal handlers, the
 * runner's timers) is the delicate part, measured with the benchmark:
 *
 * - never between a frame and its answer: a frame that just woke the loop
 *   is forwarded first, and the answer too (the loop goes round again);
 * - under continuous load, about once a millisecond ({@linkcode YIELD_NS});
 * - when idle, only to park (a wait on another thread,
 *   {@linkcode Waiter.park}), every {@linkcode IDLE_POLL_MS}: Deno's
 *   runtime reads its I/O driver, where signals arrive, only when it parks
 *   or every 61 scheduler ticks, so a SIGTERM is handled within that time,
 *   and so are the runner's timers, the control socket and the metrics. A
 *   wait that a signal or its timeout ended is followed by a park at once.
 *   Sparse traffic (a ping every 10 ms) thus costs no event-loop visit per
 *   frame: one before each wait cost about 17% of the CPU time per ping and
 *   10% of its round trip (measured; README, "Performance");
 * - a park that falls due waits first for {@linkcode QUIET_MS} without
 *   traffic (a synchronous wait, which a frame ends at once): a park holds
 *   the main thread for a millisecond or more, and a frame that comes
 *   meanwhile waits for a hand-over between threads, so a park started
 *   right after a frame went out caught its answer (a ping's reply) about
 *   once in five pings at 100 a second. Traffic that never leaves
 *   {@linkcode QUIET_MS} free still parks once {@linkcode PARK_OVERDUE_MS}
 *   have passed since the last park, the bound on how late a signal, a
 *   timer of the runner or a control request is handled.
 *
 * The waiting itself is injected ({@linkcode Waiter}: a PollWaiter over
 * the fds, or a fake in tests), and so is the clock.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { SyncTransport } from "../io/transport.ts";
import type { Waiter } from "../io/wait.ts";
import type { Forwarder } from "./forwarder.ts";

/** The longest the loop blocks in one wait, and the longest it goes
 * between parks while not under continuous load, ms: the bound on how late
 * a signal that the wait did not see, a timer of the runner or a control
 * request is handled (see the module doc). */
export const IDLE_POLL_MS = 50;

/** How long the loop waits without traffic before a park that is due, ms
 * (see the module doc): longer than the answer to a frame takes to come on
 * a local link, short beside {@linkcode IDLE_POLL_MS}. */
export const QUIET_MS = 2;

/** A park this late (ms since the last) is made at once, quiet or not. */
export const PARK_OVERDUE_MS = 2 * IDLE_POLL_MS;

/** Under load the loop returns to the event loop at least this often, ns. */
export const YIELD_NS = 1e6;

/** How long the loop lets Deno's runtime park, ms; it ends early when a
 * frame or a datagram arrives. A park of 0 ms does not reliably make the
 * runtime park (a SIGTERM then waited up to 400 ms). */
export const PARK_MS = 1;

/** Returns to the event loop (timers, signals, I/O) and back: ~4 µs.
 * `setTimeout(0)` would cost milliseconds once timers nest. */
export const yieldToEventLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs a {@linkcode Forwarder} over a synchronous socket. */
export class PollDriver {
  readonly #fw: Forwarder;
  readonly #socket: SyncTransport;
  readonly #waiter: Waiter;
  readonly #clock: () => number;
  #stopping = false;
  #running = false;

  /** A driver for `fw` over `socket`, waiting with `waiter`; `clock` is
   * CLOCK_MONOTONIC in ns. Owns none of them. */
  constructor(fw: Forwarder, socket: SyncTransport, waiter: Waiter, clock: () => number) {
    this.#fw = fw;
    this.#socket = socket;
    this.#waiter = waiter;
    this.#clock = clock;
  }

  /** True from {@linkcode run} until the loop has ended: meanwhile a park
   * may have a wait on the socket pending on another thread, so the socket
   * must not be closed. */
  get running(): boolean {
    return this.#running;
  }

  /** Asks the loop to end; it does at its next visit of the event loop (a
   * signal handler or a timer can only run then). Idempotent. */
  stop(): void {
    this.#stopping = true;
  }

  /** Forwards until {@linkcode stop}; rejects when the device fails. The
   * socket and the device are left open: the caller closes them once this
   * has settled. */
  async run(): Promise<void> {
    this.#running = true;
    try {
      await this.#loop();
    } finally {
      this.#running = false;
    }
  }

  async #loop(): Promise<void> {
    const fw = this.#fw;
    const engine = fw.engine;
    const socket = this.#socket;
    const waiter = this.#waiter;
    const clock = this.#clock;
    const { tx, rx } = fw;
    // When the loop last parked the runtime, ns; busySince: when it last
    // woke or came back from the event loop, so that only continuous work
    // counts as load.
    let lastPark = 0;
    let busySince = 0;
    // Whole ms from `at` to the next timer, at most `cap`; 0 when it is due.
    const msToTimer = (cap: number, at: number) =>
      Math.ceil(Math.min(cap, Math.max(0, (fw.nextTimerAt - at) / 1e6)));
    while (!this.#stopping) {
      const now = clock();
      fw.runTimers(now);
      while (fw.nextControl(now)) {
        socket.sendNow(fw.control, fw.controlLength, 1, fw.controlTo!, fw.onSendFailure);
      }
      // TAP → UDP
      const read = fw.sealBatch(now);
      if (tx.out > 0) socket.sendNow(tx.outBufs, tx.outLengths, tx.out, fw.txTo, fw.onSendFailure);
      // UDP → TAP
      let received: number;
      try {
        received = socket.receiveNow(rx.bufs, rx.lengths, fw.rxFrom);
      } catch (e) {
        await fw.receiveFailed(e);
        busySince = clock();
        continue;
      }
      if (received > 0) fw.deliver(received, now);
      if (read === 0 && received === 0 && !engine.hasControl) {
        // Idle: everything that came has been forwarded, so a park now
        // delays no frame.
        const idleAt = clock();
        // The TAP is left out while the engine takes no frames, or the
        // wait would not block.
        waiter.watchDevice(engine.acceptsFrames);
        if (idleAt - lastPark >= IDLE_POLL_MS * 1e6) {
          // A park is due: first a quiet spell, so that the answer to what
          // just went out is not caught in it (see the module doc).
          if (idleAt - lastPark < PARK_OVERDUE_MS * 1e6) {
            const quiet = msToTimer(QUIET_MS, idleAt);
            if (quiet <= 0) continue; // a timer is due: run it first
            if (waiter.wait(quiet) > 0) {
              busySince = clock();
              continue; // something came: forward it; the park stays due
            }
          }
          await waiter.park(PARK_MS);
          lastPark = busySince = clock();
          continue; // something may have come meanwhile
        }
        // Block until either is readable or the next timer is due.
        const wait = msToTimer(IDLE_POLL_MS, idleAt);
        if (wait > 0 && waiter.wait(wait) <= 0) {
          // Nothing came (a timeout, or a signal): let Deno's runtime park
          // once, which is when it reads its own I/O, signals included.
          await waiter.park(PARK_MS);
          lastPark = clock();
        }
        busySince = clock();
        continue; // a frame or a datagram is waiting: forward it at once
      }
      // Under continuous load, return to the event loop about once a
      // millisecond: often enough for signals and timers, rarely enough
      // that its promise is not per frame.
      if (now - busySince >= YIELD_NS) {
        await yieldToEventLoop();
        busySince = clock();
      }
    }
  }
}
