/**
 * Path MTU probing for the current format, after RFC 8899 (datagram
 * PLPMTUD): the search for the largest datagram that crosses the path to
 * the peer, with probes the peer acknowledges (docs/PROTOCOL.md §4
 * "Probes"). This module decides what to probe and when, and writes and
 * reads the probes' plaintexts; the engine seals them as type-5 messages
 * under the session that seals data (so they share its counter: nonces never
 * repeat) and opens them as it opens data.
 *
 * Sizes are datagram sizes: UDP payload bytes, the 24 bytes of the format's
 * header and tag included. Times are ns on the engine's clock.
 *
 * A search: confirm a starting size (the base, or the size in use), then
 * probe the ceiling, then bisect between the largest size acknowledged and
 * the smallest one that failed (three probes unanswered), to the byte. The
 * result is published as {@linkcode PathProbe.maxDatagram} when the search
 * ends; the next search starts {@linkcode TimersNs.probeRaise} later. A
 * suspected black hole (datagrams larger than the base sent and nothing
 * authenticated heard for {@linkcode TimersNs.probeBlackHole}) probes the
 * size in use again at once: acknowledged, nothing changes; failed, the
 * size falls to the base and a search follows.
 *
 * @module
 */

import { ipFamily } from "./address.ts";
import { DATA, PROBE } from "./current_wire.ts";
import type { Endpoint } from "./endpoint.ts";
import { MAX_DATAGRAM } from "./packet.ts";
import type { Stats } from "./stats.ts";
import type { TimersNs } from "./timers.ts";

/** The base over IPv4: its minimum reassembly size, 576 (RFC 791), less a
 * 20-byte IPv4 header and an 8-byte UDP header. */
export const BASE_IPV4 = 576 - 20 - 8;
/** The base over IPv6: its minimum link MTU, 1280 (RFC 8200), less a
 * 40-byte IPv6 header and an 8-byte UDP header. */
export const BASE_IPV6 = 1280 - 40 - 8;
/** Answers owed to the peer's probes, at most (a newer one replaces the
 * oldest). */
const MAX_OWED = 4;

/** The base datagram size for a peer at `peer`: {@linkcode BASE_IPV6} for
 * an IPv6 address, {@linkcode BASE_IPV4} for IPv4 (IPv4-mapped included). */
export function probeBase(peer: Endpoint): number {
  const h = peer.hostname;
  if (ipFamily(h) === 6 && !h.toLowerCase().startsWith("::ffff:")) return BASE_IPV6;
  return BASE_IPV4;
}

/** What a received probe message was. */
export const Received = { Malformed: 0, Probe: 1, Ack: 2 } as const;

/** The search state of one peer, and the answers owed to its probes. */
export class PathProbe {
  #ceiling: number | undefined;
  #max: number | undefined;
  #base = BASE_IPV4;
  #searching = false;
  /** This search only confirms the size in use (a suspected black hole):
   * it ends when that is acknowledged. */
  #confirming = false;
  /** Largest size acknowledged in this search; 0: none yet. */
  #low = 0;
  /** Smallest size known to fail in this search (or the ceiling + 1). */
  #high = 0;
  /** The size being probed. */
  #size = 0;
  #tries = 0;
  /** The first id sent for `#size`: acks of any of its tries count. */
  #firstId = 1;
  #nextId = 1;
  #dueAt = 0;
  #searchAt = -Infinity;
  /** When the first datagram larger than the base went out since the peer
   * was last heard; undefined: none. */
  #bigSince: number | undefined;
  /** id, size pairs of the peer's probes to answer. */
  readonly #owed: number[] = [];

  /**
   * @param ceiling the largest datagram the local interface sends (see
   * {@linkcode setCeiling}); undefined: no probing.
   * @param queue called when a probe (or an ack) is to be sent now: the
   * engine seals what {@linkcode writeProbe} (or {@linkcode writeAck})
   * writes, when it next sends control datagrams.
   */
  constructor(
    readonly t: TimersNs,
    readonly stats: Stats,
    ceiling: number | undefined,
    readonly queue: (c: "probe" | "ack") => void,
  ) {
    this.setCeiling(ceiling);
  }

  /** The largest datagram known to cross the path, bytes; undefined until a
   * search ended, and while the peer answers no probes. */
  get maxDatagram(): number | undefined {
    return this.#max;
  }

  /** True while a search runs. */
  get searching(): boolean {
    return this.#searching;
  }

  /** The largest datagram to probe, bytes (the local interface's MTU less
   * the IP and UDP headers, at most 65535); undefined (or less than 31)
   * stops probing. A changed ceiling starts a new search at the next tick;
   * a known size above it is cut to it. The same ceiling changes nothing. */
  setCeiling(bytes: number | undefined): void {
    const least = DATA.OVERHEAD + PROBE.LENGTH;
    const ceiling = bytes === undefined || !(bytes >= least)
      ? undefined
      : Math.min(Math.floor(bytes), MAX_DATAGRAM);
    if (ceiling === this.#ceiling) return;
    this.#ceiling = ceiling;
    if (ceiling === undefined) this.#max = undefined;
    else if (this.#max !== undefined && this.#max > ceiling) this.#max = ceiling;
    this.#searching = false;
    this.#searchAt = -Infinity;
  }

  /** A data datagram of `bytes` went to the peer (per frame: no allocation). */
  sentData(bytes: number, now: number): void {
    if (bytes > this.#base && this.#bigSince === undefined) this.#bigSince = now;
  }

  /** An authenticated transport datagram came from the peer. */
  heard(): void {
    this.#bigSince = undefined;
  }

  /**
   * Runs the search at `now`, for a peer at `peer` (undefined: none yet);
   * `canSend`: a session seals now. Queues a probe when one is due.
   */
  tick(now: number, canSend: boolean, peer: Endpoint | undefined): void {
    if (this.#take(now, canSend, peer)) this.queue("probe");
  }

  #take(now: number, canSend: boolean, peer: Endpoint | undefined): boolean {
    const ceiling = this.#ceiling;
    if (ceiling === undefined || peer === undefined || !canSend) return false;
    if (!this.#searching) {
      const blackHole = this.#max !== undefined && this.#bigSince !== undefined &&
        now - this.#bigSince >= this.t.probeBlackHole;
      if (now < this.#searchAt && !blackHole) return false;
      this.#base = Math.min(probeBase(peer), ceiling);
      this.#searching = true;
      this.#confirming = blackHole && now < this.#searchAt;
      this.#low = 0;
      this.#high = ceiling + 1;
      this.#probe(Math.min(this.#max ?? this.#base, ceiling), now);
    }
    if (now < this.#dueAt) return false;
    if (this.#tries >= this.t.probeTries) {
      this.#failed(now);
      if (!this.#searching) return false;
    }
    this.#tries++;
    this.#dueAt = now + this.t.probeTimeout;
    return true;
  }

  /** When {@linkcode tick} has something to do next, ns; `limit` if sooner. */
  next(limit: number): number {
    if (this.#ceiling === undefined) return limit;
    if (this.#searching) return Math.min(limit, this.#dueAt);
    let at = this.#searchAt;
    if (this.#max !== undefined && this.#bigSince !== undefined) {
      at = Math.min(at, this.#bigSince + this.t.probeBlackHole);
    }
    return Math.min(limit, at);
  }

  /** Writes the probe of the size under test into `payload` (the
   * plaintext: kind, a new id, the size, zeros); returns its length, the
   * size less the 24 bytes of header and tag. */
  writeProbe(payload: Uint8Array): number {
    const length = this.#size - DATA.OVERHEAD;
    payload[PROBE.KIND] = PROBE.KIND_PROBE;
    writeIdSize(payload, this.#nextId++, this.#size);
    payload.fill(0, PROBE.LENGTH, length);
    this.stats.probesSent++;
    return length;
  }

  /** Writes the ack of the oldest probe owed an answer into `payload`;
   * returns its length (7), or 0 when none is owed. */
  writeAck(payload: Uint8Array): number {
    if (this.#owed.length === 0) return 0;
    payload[PROBE.KIND] = PROBE.KIND_ACK;
    writeIdSize(payload, this.#owed.shift()!, this.#owed.shift()!);
    this.stats.probesAnswered++;
    return PROBE.LENGTH;
  }

  /**
   * An authenticated probe message: its plaintext `payload[0, length)`, in
   * a datagram of `datagram` bytes. A probe whose size field is the
   * datagram's length is owed an ack; an ack of a probe of this search
   * moves it on. Anything else is dropped (`dropMalformed`).
   */
  received(payload: Uint8Array, length: number, datagram: number, now: number): number {
    const kind = length >= PROBE.LENGTH ? payload[PROBE.KIND] : 0;
    const id = payload[PROBE.ID] | payload[PROBE.ID + 1] << 8 | payload[PROBE.ID + 2] << 16 |
      payload[PROBE.ID + 3] * 0x1000000;
    const size = payload[PROBE.SIZE] | payload[PROBE.SIZE + 1] << 8;
    if (kind === PROBE.KIND_PROBE && size === datagram) {
      if (this.#owed.length >= 2 * MAX_OWED) this.#owed.splice(0, 2);
      this.#owed.push(id, size);
      this.queue("ack");
      return Received.Probe;
    }
    if (kind !== PROBE.KIND_ACK || length !== PROBE.LENGTH) {
      this.stats.dropMalformed++;
      return Received.Malformed;
    }
    this.stats.probeAcks++;
    if (this.#searching && size === this.#size && id >= this.#firstId && id < this.#nextId) {
      this.#low = size;
      if (this.#confirming) {
        // The size in use still crosses: no black hole. The next search
        // keeps its time.
        this.#searching = this.#confirming = false;
        this.#bigSince = undefined;
      } else this.#nextCandidate(now);
    }
    return Received.Ack;
  }

  /** Probes `size` next, at once, with a fresh count of tries. */
  #probe(size: number, now: number): void {
    this.#size = size;
    this.#tries = 0;
    this.#firstId = this.#nextId;
    this.#dueAt = now;
  }

  /** `#size` went unanswered `probeTries` times: too big. */
  #failed(now: number): void {
    this.#high = this.#size;
    if (this.#low > 0) return this.#nextCandidate(now);
    if (this.#size > this.#base) {
      // The size in use fails (a black hole): fall back to the base, and
      // confirm it.
      this.#max = this.#base;
      this.#confirming = false;
      return this.#probe(this.#base, now);
    }
    // Not even the base: the peer answers no probes (or the path is down).
    this.#max = undefined;
    this.#end(now);
  }

  /** After an ack or a failure: the ceiling first, then bisection. */
  #nextCandidate(now: number): void {
    if (this.#high - this.#low <= 1) {
      this.#max = this.#low;
      return this.#end(now);
    }
    const ceiling = this.#high - 1;
    this.#probe(ceiling === this.#ceiling ? ceiling : Math.floor((this.#low + this.#high) / 2), now);
  }

  #end(now: number): void {
    this.#searching = false;
    this.#searchAt = now + this.t.probeRaise;
    this.#bigSince = undefined;
  }
}

function writeIdSize(payload: Uint8Array, id: number, size: number): void {
  payload[PROBE.ID] = id & 0xff;
  payload[PROBE.ID + 1] = (id >>> 8) & 0xff;
  payload[PROBE.ID + 2] = (id >>> 16) & 0xff;
  payload[PROBE.ID + 3] = (id >>> 24) & 0xff;
  payload[PROBE.SIZE] = size & 0xff;
  payload[PROBE.SIZE + 1] = size >>> 8;
}
