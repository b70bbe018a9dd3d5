/**
 * The legacy format as an {@linkcode Engine}: a {@linkcode LegacySession}
 * plus the 2014 program's behaviour around it (`PROTOCOL.md` §1 "Roles and
 * timing"):
 *
 * - the server learns its peer from the first datagram that authenticates,
 *   and takes no frames until then;
 * - the client sends a keepalive of size 0 (the hello) at once;
 * - a side that knows its peer sends a keepalive, carrying the largest
 *   payload size it received, when nothing was received or sent for 10 s;
 *   only authenticated datagrams count as received (in 2014 any readable
 *   datagram, junk included, held the keepalive back);
 * - every accepted datagram moves the peer to its source (roaming).
 *
 * Time: `now` is the tunnel's clock (`engine.ts`), ns.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import { HEADROOM, isAccepted, type LegacySession, MAX_FRAME, MIN_FRAME, Open, OVERHEAD } from "./legacy.ts";
import type { PacketBuffer } from "./packet.ts";
import { Stats } from "./stats.ts";
import { type Endpoint, sameEndpoint } from "./endpoint.ts";

/** Silence before a keepalive, ms, as in the 2014 program. */
export const LEGACY_KEEPALIVE_MS = 10_000;

/** Options of a {@linkcode LegacyEngine}. */
export interface LegacyEngineOptions {
  /** The cryptographic state; owned by the engine from now on. */
  session: LegacySession;
  /** The server's address for a client; undefined for a server. */
  peer?: Endpoint;
  /** The time of start-up, ns (the clock of `engine.ts`). */
  now: number;
  /** Silence before a keepalive, ms; default {@linkcode LEGACY_KEEPALIVE_MS}. */
  keepaliveMs?: number;
  /** Counters to use; a new set by default. */
  stats?: Stats;
}

/** A legacy tunnel's protocol state. */
export class LegacyEngine implements Engine {
  readonly headroom: number = HEADROOM;
  readonly overhead: number = OVERHEAD;
  readonly stats: Stats;
  readonly #session: LegacySession;
  readonly #keepaliveNs: number;
  #peer: Endpoint | undefined;
  #lastActivity: number;
  #lastHeard: number;
  #helloDue: boolean;
  #keepaliveDue = false;
  #closed = false;

  /** An engine for a client (with `peer`) or a server (without). */
  constructor(options: LegacyEngineOptions) {
    this.#session = options.session;
    this.#peer = options.peer;
    this.#helloDue = options.peer !== undefined;
    this.#lastActivity = options.now;
    this.#lastHeard = options.now;
    this.#keepaliveNs = (options.keepaliveMs ?? LEGACY_KEEPALIVE_MS) * 1e6;
    this.stats = options.stats ?? new Stats();
  }

  get peer(): Endpoint | undefined {
    return this.#peer;
  }

  get acceptsFrames(): boolean {
    return this.#peer !== undefined;
  }

  /** When a datagram last authenticated (or the start), ns. */
  get lastHeardAt(): number {
    return this.#lastHeard;
  }

  /** Data and keepalives go to `to` from now on; an authenticated datagram
   * from elsewhere still moves the peer afterwards (roaming). */
  setPeer(to: Endpoint): void {
    this.#peer = to;
  }

  /** The session, for its keepalive fields (tests and diagnostics). */
  get session(): LegacySession {
    return this.#session;
  }

  seal(buf: PacketBuffer, length: number, now: number): number {
    const stats = this.stats;
    if (this.#peer === undefined || this.#closed) return 0;
    if (length < MIN_FRAME) {
      stats.dropTxRunt++; // the peer would ignore it
      return 0;
    }
    if (length > MAX_FRAME) {
      stats.dropTxTooLong++;
      return 0;
    }
    stats.txFrames++;
    stats.txBytes += length;
    this.#lastActivity = now;
    return this.#session.seal(buf, length, now);
  }

  open(buf: PacketBuffer, length: number, from: Endpoint, now: number): number {
    const stats = this.stats;
    stats.rxDatagrams++;
    const kind = this.#session.open(buf, length >= buf.bytes.length ? Number.MAX_SAFE_INTEGER : length);
    switch (kind) {
      case Open.Keepalive:
        stats.rxKeepalives++;
        break;
      case Open.Runt:
        stats.dropRunt++;
        break;
      case Open.TooShort:
        stats.dropTooShort++;
        break;
      case Open.TooLong:
        stats.dropTooLong++;
        break;
      case Open.BadTag:
        stats.dropBadTag++;
        break;
      case Open.Replay:
        stats.dropReplay++;
        break;
      case Open.Reflected:
        stats.dropReflected++;
        break;
    }
    if (!isAccepted(kind)) return -1;
    this.#lastActivity = now;
    this.#lastHeard = now;
    if (!sameEndpoint(this.#peer, from)) this.#peer = from;
    return kind === Open.Frame ? length - HEADROOM : -1;
  }

  get hasControl(): boolean {
    return this.#peer !== undefined && !this.#closed && (this.#helloDue || this.#keepaliveDue);
  }

  get controlTo(): Endpoint | undefined {
    return this.#peer;
  }

  nextControl(buf: PacketBuffer, now: number): number {
    if (!this.hasControl) return 0;
    this.#helloDue = false;
    this.#keepaliveDue = false;
    this.#lastActivity = now;
    this.stats.txKeepalives++;
    return this.#session.sealKeepalive(buf, this.#session.largestReceived, now);
  }

  tick(now: number): number {
    if (this.#peer !== undefined && now - this.#lastActivity >= this.#keepaliveNs) {
      this.#keepaliveDue = true;
      this.#lastActivity = now; // sent next by the loop
    }
    return Math.max(1, (this.#lastActivity + this.#keepaliveNs - now) / 1e6);
  }

  /** Erases the key; afterwards nothing is sealed (seal returns 0, no
   * control is due) and every datagram is dropped as not authentic. */
  close(): void {
    this.#closed = true;
    this.#session.close();
  }
}
