/**
 * What the packet loop needs from a wire format: everything about a tunnel
 * that is not I/O. An engine seals and opens packets in place, decides what
 * control datagrams to send (hello, keepalive, handshake, cookie) and when,
 * and counts what it drops. It takes the time as an argument and never
 * touches a socket, a device or a clock, so it is tested with byte vectors
 * and a fake clock (boringtun's `encapsulate / decapsulate / update_timers`
 * has the same shape).
 *
 * Time: `now` is the tunnel's clock in nanoseconds, as a double: a clock
 * that keeps counting during suspend (CLOCK_BOOTTIME, as WireGuard's timers
 * use), so that keys older than their limit in real time are never used.
 *
 * @module
 */

import type { PacketBuffer } from "./packet.ts";
import type { Stats } from "./stats.ts";
import type { Endpoint } from "./endpoint.ts";

/** What a runner may show of the session (never key material). */
export interface SessionInfo {
  /** True when a session can seal now. */
  readonly established: boolean;
  /** When the latest session was confirmed (a handshake completed), ns on
   * the engine's clock; undefined before the first. */
  readonly latestHandshakeAt: number | undefined;
  /** How old the session that seals is, ns; undefined without one. */
  readonly sessionAgeNs: number | undefined;
  /** Sessions that started sealing since start-up: the first one and each
   * rekey. A change means a session started (`Stats.sessionsStarted`). */
  readonly sessionsStarted: number;
}

/** One tunnel's protocol state. */
export interface Engine {
  /** Bytes in front of a frame in a data datagram: the loop reads frames
   * into `PacketBuffer`s with this headroom. */
  readonly headroom: number;
  /** Bytes a data datagram adds to a frame. */
  readonly overhead: number;
  /** The engine's counters. */
  readonly stats: Stats;
  /** Where data goes; undefined until the peer's address is known. It moves
   * with authenticated datagrams (roaming). */
  readonly peer: Endpoint | undefined;
  /** True when frames from the TAP device can be taken now. Until then the
   * loop leaves them queued in the kernel. */
  readonly acceptsFrames: boolean;
  /**
   * Seals the frame `buf.payload[0, length)` in place into a datagram for
   * {@linkcode peer}. Returns the datagram length (`buf.bytes[0, n)`), or 0
   * when the frame is not sent now: kept until a session exists, or dropped
   * and counted.
   */
  seal(buf: PacketBuffer, length: number, now: number): number;
  /**
   * Opens the datagram `buf.bytes[0, length)` that came from `from`, in
   * place. Returns the length of a frame for the TAP device, which is then
   * `buf.payload[0, n)`, or -1 when there is nothing for the device (a
   * control message, or a drop, counted by reason).
   */
  open(buf: PacketBuffer, length: number, from: Endpoint, now: number): number;
  /** True when {@linkcode nextControl} has a datagram to give. */
  readonly hasControl: boolean;
  /**
   * Writes the next datagram the engine wants sent on its own (hello,
   * keepalive, handshake message, cookie reply, a frame kept until the
   * session was ready) into `buf.bytes`. Returns its length, with its
   * destination in {@linkcode controlTo}, or 0 when none is due.
   */
  nextControl(buf: PacketBuffer, now: number): number;
  /** Destination of the datagram the last {@linkcode nextControl} wrote. */
  readonly controlTo: Endpoint | undefined;
  /**
   * Sends data and control to `to` from now on, as if the peer had roamed
   * there (for a host name resolved again); an authenticated datagram from
   * elsewhere still moves it afterwards. Formats that cannot follow leave it
   * out.
   */
  setPeer?(to: Endpoint): void;
  /** When the peer was last heard (an authenticated datagram), ns on the
   * engine's clock, or the start; formats whose {@linkcode sessionInfo}
   * says it through handshakes may leave it out. */
  readonly lastHeardAt?: number;
  /** The session's state at `now`, for `-v` logs and `status`; formats
   * without handshakes (legacy) leave it out. */
  sessionInfo?(now: number): SessionInfo;
  /**
   * Runs the timers. Returns how many ms may pass before the next call: the
   * time to the engine's nearest deadline (at least 1). A caller that waits
   * longer delays keepalives and retries by as much; one that calls sooner
   * does no harm. Sealing a frame or opening a datagram never brings a
   * deadline nearer, so the returned wait stays valid across them.
   */
  tick(now: number): number;
  /**
   * The largest UDP payload, bytes, known to cross the path to the peer (the
   * current format's path MTU probes, `pmtud.ts`); undefined while unknown:
   * before the first search ended, when the peer answers no probes, without
   * a probe ceiling, and in formats that do not probe. It changes only
   * within {@linkcode open} and {@linkcode tick}: a runner that reads it
   * after each tick() sees each change within the wait tick() returned.
   */
  readonly maxDatagram?: number;
  /** Sets the largest datagram to probe with, bytes of UDP payload (the
   * local interface's MTU less the IP and UDP headers), and starts a new
   * search; undefined stops probing. Formats that do not probe leave it out. */
  setProbeCeiling?(bytes: number | undefined): void;
  /** Erases all key material. The engine is unusable afterwards. */
  close(): void;
}
