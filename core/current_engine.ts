/**
 * The current wire format as an {@linkcode Engine}: a Noise_IKpsk2 handshake
 * (forward secrecy, hidden initiator identity), per-direction transport keys
 * with a 48-bit counter and a sliding replay window, rekeying, cookies under
 * load, and WireGuard's timers. docs/PROTOCOL.md is the specification; this
 * is its implementation, cut as wireguard-go and boringtun cut theirs:
 * `handshake.ts` (Noise messages, pure create/consume), `current_handshake.ts`
 * (their checks, mac1, cookies, rate limit: `ratelimit.ts`), `sessions.ts`
 * (transport keys, the three slots), `timers.ts` (the table, in ns once,
 * and the traffic deadlines), `pmtud.ts` (path MTU probes); this file
 * decides what each event does.
 *
 * Rules (issue 10): every valid initiation with a newer timestamp is
 * answered and its timestamp recorded, whether or not ours is in flight (no
 * tie-break); each side keeps the newest confirmed session (`sessions.ts`).
 * The peer's address moves only with an authenticated datagram that proves a
 * live session: a transport datagram, or the response to our own
 * initiation; never with an initiation, which can be replayed.
 *
 * No I/O: time is `now` (the clock of `engine.ts`, ns); the wall clock (initiation timestamps) is an option.
 *
 * @module
 */

import { type Endpoint, sameEndpoint } from "./endpoint.ts";
import { DATA, Type } from "./current_wire.ts";
import { openTransport } from "./current_open.ts";
import { Handshaker, type Outcome } from "./current_handshake.ts";
import type { Engine, SessionInfo } from "./engine.ts";
import { generateKeyPair } from "./noise_crypto.ts";
import { MAX_DATAGRAM, type PacketBuffer } from "./packet.ts";
import { PathProbe } from "./pmtud.ts";
import { randomIndex, Sessions, type TransportKeys } from "./sessions.ts";
import { stage } from "./staged.ts";
import { Stats } from "./stats.ts";
import { PeerTimers, type TimersNs, timersNs } from "./timers.ts";
import type { CurrentEngineOptions } from "./current_options.ts";

export { TIMERS, type Timers } from "./timers.ts";
export type { CurrentEngineOptions } from "./current_options.ts";

/** The largest frame one datagram carries. */
export const MAX_FRAME_CURRENT: number = MAX_DATAGRAM - DATA.OVERHEAD;
/** The longest wait tick() asks for, ns, when no deadline is nearer. */
const MAX_WAIT = 1e9;

type Control = { bytes: Uint8Array; to: Endpoint } | "keepalive" | "staged" | "probe" | "ack";

/** The current-format state of one tunnel. */
export class CurrentEngine implements Engine {
  readonly headroom: number = DATA.HEADER;
  readonly overhead: number = DATA.OVERHEAD;
  readonly stats: Stats;
  readonly #t: TimersNs;
  readonly #hs: Handshaker;
  readonly #sessions = new Sessions();
  readonly #random: () => number;
  readonly #randomIndex: () => number;
  readonly #timers: PeerTimers;
  readonly #probe: PathProbe;

  #peer: Endpoint | undefined;
  /** When we last sent a response: our own initiation waits the rekey
   * timeout after it, for the datagram that confirms that session. */
  #lastResponseSentAt = -Infinity;
  /** A handshake was asked for while that wait ran: start it after. */
  #wantHandshake = false;
  /** When keys were last made (a response sent or received): erase-after. */
  #keysMadeAt: number | undefined;
  #latestHandshakeAt: number | undefined;
  readonly #queue: Control[] = [];
  readonly #staged: Uint8Array[] = [];
  #controlTo: Endpoint | undefined;
  #closed = false;

  /** An engine that initiates at once when it knows its peer. */
  constructor(options: CurrentEngineOptions) {
    this.#t = timersNs(options.timers);
    this.stats = options.stats ?? new Stats();
    this.#hs = new Handshaker({
      secretKey: options.secretKey,
      peerPublic: options.peerPublic,
      psk: options.psk ?? new Uint8Array(32),
      timers: this.#t,
      stats: this.stats,
      wallClock: options.wallClock,
      generateKeyPair: options.generateKeyPair ?? generateKeyPair,
    });
    this.#random = options.random ?? Math.random;
    this.#randomIndex = options.randomIndex ?? randomIndex;
    this.#timers = new PeerTimers(this.#t, (options.persistentKeepaliveMs ?? 0) * 1e6, options.now);
    this.#probe = new PathProbe(this.#t, this.stats, options.probeCeiling, (c) => this.#queue.push(c));
    this.#peer = options.peer;
    if (this.#peer !== undefined) this.#startHandshake(options.now);
  }

  get peer(): Endpoint | undefined {
    return this.#peer;
  }

  get acceptsFrames(): boolean {
    return this.#peer !== undefined;
  }
  // deno-fmt-ignore
  setPeer(to: Endpoint): void { this.#peer = to; }

  get hasControl(): boolean {
    return this.#queue.length > 0;
  }

  get controlTo(): Endpoint | undefined {
    return this.#controlTo;
  }

  get maxDatagram(): number | undefined {
    return this.#probe.maxDatagram;
  }

  setProbeCeiling(bytes: number | undefined): void {
    this.#probe.setCeiling(bytes);
  }

  /** True when a session can seal now (for tests and diagnostics). */
  get established(): boolean {
    return this.#sessions.current !== undefined;
  }

  sessionInfo(now: number): SessionInfo {
    const current = this.#sessions.current;
    return {
      established: current !== undefined,
      latestHandshakeAt: this.#latestHandshakeAt,
      sessionAgeNs: current === undefined ? undefined : now - current.createdAt,
      sessionsStarted: this.stats.sessionsStarted,
    };
  }

  // ---- sending ------------------------------------------------------------

  seal(buf: PacketBuffer, length: number, now: number): number {
    if (this.#peer === undefined) return 0;
    if (length > MAX_FRAME_CURRENT) {
      this.stats.dropTxTooLong++;
      return 0;
    }
    const kp = this.#sendable(now);
    if (kp === undefined) {
      stage(this.#staged, buf.payload.slice(0, length), this.stats);
      this.#startHandshake(now);
      return 0;
    }
    return this.#sealWith(kp, buf, length, now);
  }

  #sendable(now: number): TransportKeys | undefined {
    const kp = this.#sessions.current;
    if (kp === undefined) return undefined;
    if (now - kp.createdAt >= this.#t.rejectAfter) return undefined;
    if (kp.sendCounter >= this.#t.rejectAfterMessages) return undefined;
    return kp;
  }

  /** Seals `buf.payload[0, length)` (length 0: a keepalive) under `kp`;
   * a probe message (`type` 5) leaves the traffic timers alone. */
  #sealWith(kp: TransportKeys, buf: PacketBuffer, length: number, now: number, type?: number): number {
    const n = kp.seal(buf, length, type);
    if (type === undefined) this.#timers.sent(now);
    if (length > 0 && type === undefined) {
      this.stats.txFrames++;
      this.stats.txBytes += length;
      this.#timers.sentData(now);
      this.#probe.sentData(n, now);
    }
    if (
      (kp.isInitiator && now - kp.createdAt >= this.#t.rekeyAfter) ||
      kp.sendCounter >= this.#t.rekeyAfterMessages
    ) {
      this.#startHandshake(now);
    }
    return n;
  }

  nextControl(buf: PacketBuffer, now: number): number {
    while (this.#queue.length > 0) {
      const c = this.#queue.shift()!;
      if (typeof c === "object") {
        buf.bytes.set(c.bytes);
        this.#controlTo = c.to;
        // A cookie reply to a stranger is not a datagram to the peer.
        if (sameEndpoint(c.to, this.#peer)) this.#timers.sent(now);
        return c.bytes.length;
      }
      const kp = this.#sendable(now);
      if (kp === undefined || this.#peer === undefined) {
        this.#startHandshake(now);
        continue;
      }
      this.#controlTo = this.#peer;
      if (c === "keepalive") {
        this.stats.txKeepalives++;
        return this.#sealWith(kp, buf, 0, now);
      }
      if (c === "probe" || c === "ack") {
        const n = c === "probe" ? this.#probe.writeProbe(buf.payload) : this.#probe.writeAck(buf.payload);
        if (n > 0) return this.#sealWith(kp, buf, n, now, Type.Probe);
        continue;
      }
      const frame = this.#staged.shift();
      if (frame === undefined) continue;
      buf.payload.set(frame);
      return this.#sealWith(kp, buf, frame.length, now);
    }
    return 0;
  }

  // ---- receiving ----------------------------------------------------------

  open(buf: PacketBuffer, length: number, from: Endpoint, now: number): number {
    this.stats.rxDatagrams++;
    if (this.#closed) return -1;
    if (length >= buf.bytes.length || length < 1) {
      if (length < 1) this.stats.dropTooShort++;
      else this.stats.dropTooLong++;
      return -1;
    }
    const msg = buf.bytes;
    switch (msg[0]) {
      case Type.Data:
      case Type.Probe:
        return this.#openData(buf, length, from, now);
      case Type.Initiation:
        this.#onInitiation(
          this.#hs.onInitiation(msg.subarray(0, length), from, now, this.#newIndex),
          from,
          now,
        );
        return -1;
      case Type.Response:
        this.#onResponse(this.#hs.onResponse(msg.subarray(0, length), from, now), from, now);
        return -1;
      case Type.Cookie:
        this.#hs.onCookie(msg.subarray(0, length), now);
        return -1;
      default:
        this.stats.dropMalformed++;
        return -1;
    }
  }

  #openData(buf: PacketBuffer, length: number, from: Endpoint, now: number): number {
    const stats = this.stats;
    const bytes = buf.bytes;
    const kp = openTransport(this.#sessions, this.#t, stats, buf, length, now);
    if (kp === undefined) return -1;
    if (kp === this.#sessions.next) this.#confirm(kp, now);
    // Authenticated and fresh: roam, and the peer is alive.
    if (!sameEndpoint(this.#peer, from)) this.#peer = from;
    this.#timers.heard();
    this.#probe.heard();
    const frame = length - DATA.OVERHEAD;
    if (bytes[0] === Type.Probe) {
      this.#probe.received(buf.payload, frame, length, now);
      this.#probe.tick(now, this.#sendable(now) !== undefined, this.#peer); // an ack moves it on
      return -1;
    }
    if (frame === 0) {
      stats.rxKeepalives++;
      return -1;
    }
    this.#timers.receivedData(now);
    if (kp === this.#sessions.current && kp.isInitiator && now - kp.createdAt >= this.#t.rekeyOnReceive) {
      this.#startHandshake(now);
    }
    return frame;
  }

  /** A session is confirmed (see `sessions.ts` for which becomes current);
   * the frames that waited for one go out. */
  #confirm(kp: TransportKeys, now: number): void {
    if (this.#sessions.confirm(kp)) this.stats.sessionsStarted++;
    this.#latestHandshakeAt = now;
    this.#wantHandshake = false;
    // An attempt older than this session has nothing left to do.
    const pending = this.#hs.pending;
    if (pending !== undefined && pending.startedAt <= kp.createdAt) this.#hs.abandon();
    for (let i = 0; i < this.#staged.length; i++) this.#queue.push("staged");
  }

  #onInitiation(out: Outcome, from: Endpoint, now: number): void {
    if (out.reply !== undefined) this.#queue.push({ bytes: out.reply, to: from });
    if (out.keys === undefined) return;
    // The peer's address does not move here: an initiation can be replayed.
    this.#sessions.setNext(out.keys);
    this.#keysMadeAt = now;
    this.#lastResponseSentAt = now;
  }

  #onResponse(out: Outcome, from: Endpoint, now: number): void {
    if (out.reply !== undefined) this.#queue.push({ bytes: out.reply, to: from });
    if (out.keys === undefined) return;
    // Our own initiation's answer: authenticated and fresh, so the peer is here.
    this.stats.handshakes++;
    this.#keysMadeAt = now;
    if (!sameEndpoint(this.#peer, from)) this.#peer = from;
    this.#timers.heard();
    // Confirm the session to the responder: with the frames that waited for
    // it (queued by #confirm), or with a keepalive.
    const waiting = this.#staged.length;
    this.#confirm(out.keys, now);
    if (waiting === 0) this.#queue.push("keepalive");
  }

  // ---- handshakes -----------------------------------------------------------

  /** Starts a handshake unless one is in flight (its retries are timed) or
   * we answered one within the rekey timeout (then it starts after). */
  #startHandshake(now: number): void {
    if (this.#peer === undefined || this.#hs.pending !== undefined || this.#closed) return;
    if (now - this.#lastResponseSentAt < this.#t.rekeyTimeout) {
      this.#wantHandshake = true;
      return;
    }
    this.#wantHandshake = false;
    this.#sendInitiation(now, now);
  }

  /** Sends an initiation of the attempt that began at `startedAt`; each try
   * has a new ephemeral key and a new sender index. */
  #sendInitiation(now: number, startedAt: number): void {
    const retryAt = now + this.#t.rekeyTimeout + this.#random() * this.#t.rekeyJitter;
    const msg = this.#hs.initiate(now, this.#newIndex(), retryAt, startedAt);
    this.#queue.push({ bytes: msg, to: this.#peer! });
  }

  /** A local session index unused by live sessions and our initiation. */
  readonly #newIndex = (): number =>
    this.#sessions.freeIndex(this.#randomIndex, this.#hs.pending?.localIndex);

  // ---- timers ---------------------------------------------------------------

  tick(now: number): number {
    if (this.#closed) return 60_000;
    const t = this.#t;
    const pending = this.#hs.pending;
    if (pending !== undefined && now >= pending.retryAt) {
      if (now - pending.startedAt >= t.rekeyAttempt) {
        // Given up: drop what waited; new traffic starts a new attempt.
        this.#hs.abandon();
        this.#wantHandshake = false;
        this.stats.dropTxNoSession += this.#staged.length;
        this.#staged.length = 0;
        this.stats.hsGaveUp++;
      } else {
        this.#sendInitiation(now, pending.startedAt);
      }
    }
    if (this.#timers.takeDeadPeer(now)) this.#startHandshake(now);
    if (this.#wantHandshake || (this.#staged.length > 0 && this.#sendable(now) === undefined)) {
      this.#startHandshake(now);
    }
    if (this.#timers.takeKeepalive(now)) this.#queue.push("keepalive");
    // The keepalive (or the handshake it starts) goes out next.
    if (this.#peer !== undefined && this.#timers.takePersistent(now)) this.#queue.push("keepalive");
    this.#probe.tick(now, this.#sendable(now) !== undefined, this.#peer);
    this.#sessions.expire(now, t.rejectAfter);
    if (this.#keysMadeAt !== undefined && now - this.#keysMadeAt >= t.eraseAfter) {
      this.#eraseSessions();
      this.#keysMadeAt = undefined;
      this.stats.keysErased++;
    }
    return Math.max(1, (this.#nextDeadline(now) - now) / 1e6);
  }

  /** The nearest time (ns) at which tick() has something to do; at most
   * {@linkcode MAX_WAIT} away (sessions expire on their own checks). */
  #nextDeadline(now: number): number {
    let next = this.#timers.next(now + MAX_WAIT, this.#peer !== undefined);
    const pending = this.#hs.pending;
    if (pending !== undefined && pending.retryAt < next) next = pending.retryAt;
    if (this.#wantHandshake) next = Math.min(next, this.#lastResponseSentAt + this.#t.rekeyTimeout);
    return this.#probe.next(next);
  }

  #eraseSessions(): void {
    this.#sessions.eraseAll();
    this.#hs.abandon();
    this.#wantHandshake = false;
    this.#staged.length = 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#eraseSessions();
    this.#queue.length = 0;
    this.#hs.erase();
  }
}
