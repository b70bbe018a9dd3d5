/**
 * The async driver: for a socket without a synchronous side (Deno's
 * `Deno.listenDatagram`, the fakes) or a device without an fd. Two tasks on
 * the event loop over one {@linkcode Forwarder}:
 *
 * - outbound: send the control datagrams, seal a batch from the TAP and
 *   send it; then, if the TAP was drained, wait for it (or, while the
 *   engine takes no frames, for a kick), else yield to the event loop so
 *   timers and signals still run under load;
 * - inbound: receive a batch, deliver it; when the engine now has something
 *   to send (a handshake response, a keepalive) or takes frames it did not,
 *   kick the outbound task.
 *
 * The timers run from a setTimeout chain through the same
 * {@linkcode Forwarder.runTimers} the poll driver calls. Every datagram
 * leaves from the outbound task, so in the order it was sealed.
 *
 * @module
 */

import type { FrameDevice } from "../io/tap.ts";
import type { Transport } from "../io/transport.ts";
import type { Forwarder } from "./forwarder.ts";
import { yieldToEventLoop } from "./poll_driver.ts";

/** Runs a {@linkcode Forwarder} over an asynchronous socket. */
export class AsyncDriver {
  readonly #fw: Forwarder;
  readonly #transport: Transport;
  readonly #device: FrameDevice;
  readonly #clock: () => number;
  #stopping = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #kicked = false;
  #waiter: (() => void) | undefined;

  /** A driver for `fw` between `device` and `transport`; `clock` is
   * CLOCK_MONOTONIC in ns. Owns none of them, but {@linkcode stop} closes
   * the transport to end a pending receive. */
  constructor(fw: Forwarder, transport: Transport, device: FrameDevice, clock: () => number) {
    this.#fw = fw;
    this.#transport = transport;
    this.#device = device;
    this.#clock = clock;
  }

  /** Forwards until {@linkcode stop}; rejects with the first task's error
   * (the other task is stopped then). */
  async run(): Promise<void> {
    let error: unknown;
    const guard = (p: Promise<void>) =>
      p.catch((e) => {
        error ??= e;
        this.stop();
      });
    this.#onTimer();
    await Promise.all([guard(this.#inbound()), guard(this.#outbound())]);
    if (error !== undefined) throw error;
  }

  /** Ends both tasks: clears the timer, closes the transport (which ends a
   * pending receive) and ends the outbound wait. Idempotent. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#transport.close();
    this.#kick();
  }

  /** Makes the outbound task run its next round soon: ends its wait. */
  #kick(): void {
    this.#kicked = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
    this.#device.wake();
  }

  /** The outbound wait: for the TAP device when frames are taken, else
   * only for a kick. */
  async #idle(): Promise<void> {
    if (!this.#kicked) {
      if (this.#fw.engine.acceptsFrames) await this.#device.readable();
      else await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    this.#kicked = false;
  }

  async #outbound(): Promise<void> {
    const fw = this.#fw;
    const transport = this.#transport;
    const tx = fw.tx;
    while (!this.#stopping) {
      const now = this.#clock();
      while (!this.#stopping && fw.nextControl(now)) {
        await transport.send(fw.control, fw.controlLength, 1, fw.controlTo!, fw.onSendFailure);
      }
      const read = fw.sealBatch(now);
      if (tx.out > 0) await transport.send(tx.outBufs, tx.outLengths, tx.out, fw.txTo, fw.onSendFailure);
      if (this.#stopping) break;
      if (read === tx.size) await yieldToEventLoop();
      else if (!fw.engine.hasControl) await this.#idle();
    }
  }

  async #inbound(): Promise<void> {
    const fw = this.#fw;
    const rx = fw.rx;
    while (!this.#stopping) {
      let n: number;
      try {
        n = await this.#transport.receive(rx.bufs, rx.lengths, fw.rxFrom);
      } catch (e) {
        await fw.receiveFailed(e);
        continue;
      }
      if (n === 0) break;
      if (fw.deliver(n, this.#clock())) this.#kick();
    }
  }

  #onTimer(): void {
    if (this.#stopping) return;
    const fw = this.#fw;
    const now = this.#clock();
    if (fw.runTimers(now)) this.#kick();
    const ms = Math.max(1, Math.ceil((fw.nextTimerAt - now) / 1e6));
    this.#timer = setTimeout(() => this.#onTimer(), ms);
  }
}
