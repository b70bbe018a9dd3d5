/**
 * The current format's handshake messages on the wire: their checks, in
 * order, around the Noise work of `handshake.ts`; mac1, mac2, cookies and
 * the rate limit; the initiation timestamps; our initiation in flight. The
 * engine (`current_engine.ts`) decides when to initiate and what to do with
 * the sessions this makes. Every refused message is counted in `stats`.
 *
 * Order of checks (docs/PROTOCOL.md §3; each refusal stops the work):
 *
 *     initiation  length 144 · mac1 · [under load: mac2, else a cookie reply;
 *                 the source's token] · es DH and static key (1 X25519) · the
 *                 peer's key · timestamp decrypts · newer than the last
 *                 recorded · 20 ms since the last accepted · record it, answer
 *     response    length 84 · receiver index is our initiation in flight ·
 *                 mac1 · [under load: mac2, else a cookie; the source's
 *                 token] · ee, se DH, psk, empty payload (2 X25519)
 *     cookie      length 60 · receiver index is our last handshake message ·
 *                 decrypts with that message's mac1 as associated data
 *
 * Time: ns. Secrets are erased by {@linkcode Handshaker.erase}.
 *
 * @module
 */

import { memzero } from "../ffi/sodium.ts";
import { CookieChecker, CookieJar } from "./cookie.ts";
import type { Endpoint } from "./endpoint.ts";
import { checkMac, COOKIE, INIT, mac1Key, PROLOGUE, RESP, Type } from "./current_wire.ts";
import { HandshakeKeys } from "./handshake.ts";
import type { KeyPair } from "./noise_crypto.ts";
import type { SymmetricState } from "./noise_state.ts";
import { LoadMeter, RateLimiter } from "./ratelimit.ts";
import { TransportKeys } from "./sessions.ts";
import type { Stats } from "./stats.ts";
import { isLater, TAI64N_BYTES, writeTai64n } from "./tai64n.ts";
import type { TimersNs } from "./timers.ts";

/** Our initiation in flight. */
export interface Pending {
  /** The state our initiation left: each response is read on a copy. */
  readonly state: SymmetricState;
  readonly ephemeral: KeyPair;
  /** Our sender index in it (new for each try). */
  readonly localIndex: number;
  /** When it is sent again, ns. */
  readonly retryAt: number;
  /** When this attempt (the first try; retries keep it) began, ns. */
  readonly startedAt: number;
}

/** What a handshake message asks of the engine: a datagram to send back to
 * its source, and/or new transport keys. */
export interface Outcome {
  reply?: Uint8Array;
  keys?: TransportKeys;
}

/** Options of a {@linkcode Handshaker}. Keys are copied. */
export interface HandshakerOptions {
  secretKey: Uint8Array;
  peerPublic: Uint8Array;
  psk: Uint8Array;
  timers: TimersNs;
  stats: Stats;
  wallClock: () => number;
  generateKeyPair: () => KeyPair;
}

/** One tunnel's handshake messages (see the module comment). */
export class Handshaker {
  readonly #keys: HandshakeKeys;
  readonly #t: TimersNs;
  readonly #stats: Stats;
  readonly #mac1Ours: Uint8Array;
  readonly #mac1Peer: Uint8Array;
  readonly #checker: CookieChecker;
  readonly #jar: CookieJar;
  readonly #load: LoadMeter;
  readonly #limiter: RateLimiter;
  readonly #wallClock: () => number;
  readonly #generate: () => KeyPair;
  #pending: Pending | undefined;
  #lastTimestampIn: Uint8Array | undefined;
  readonly #lastTimestampOut = new Uint8Array(TAI64N_BYTES);
  #lastInitiationAt = -Infinity;

  constructor(o: HandshakerOptions) {
    this.#keys = new HandshakeKeys(o.secretKey, o.peerPublic, o.psk, PROLOGUE);
    this.#t = o.timers;
    this.#stats = o.stats;
    this.#mac1Ours = mac1Key(this.#keys.static.publicKey);
    this.#mac1Peer = mac1Key(this.#keys.peerPublic);
    this.#checker = new CookieChecker(this.#keys.static.publicKey);
    this.#jar = new CookieJar(this.#keys.peerPublic);
    this.#load = new LoadMeter(o.timers.underLoadPerSecond);
    this.#limiter = new RateLimiter(o.timers);
    this.#wallClock = o.wallClock;
    this.#generate = o.generateKeyPair;
  }

  /** Our initiation in flight, if any. */
  get pending(): Pending | undefined {
    return this.#pending;
  }

  /**
   * A new initiation (new ephemeral key, sender index `localIndex`, a
   * timestamp above every one we sent), replacing the one in flight. It is
   * retried at `retryAt`; `startedAt` is the attempt's start.
   */
  initiate(now: number, localIndex: number, retryAt: number, startedAt: number): Uint8Array {
    this.abandon();
    const ephemeral = this.#generate();
    const timestamp = new Uint8Array(TAI64N_BYTES);
    writeTai64n(timestamp, this.#wallClock());
    if (!isLater(timestamp, this.#lastTimestampOut)) {
      // The wall clock did not move (or went back): still strictly increase.
      timestamp.set(this.#lastTimestampOut);
      for (let i = TAI64N_BYTES - 1; i >= 0 && ++timestamp[i] === 0; i--) { /* carry */ }
    }
    this.#lastTimestampOut.set(timestamp);
    const msg = new Uint8Array(INIT.LENGTH);
    msg[0] = Type.Initiation;
    msg[INIT.SENDER] = localIndex;
    const state = this.#keys.createInitiation(msg.subarray(INIT.NOISE, INIT.MAC1), ephemeral, timestamp);
    this.#jar.seal(msg, INIT.MAC1, this.#mac1Peer, localIndex, now);
    this.#pending = { state, ephemeral, localIndex, retryAt, startedAt };
    this.#stats.hsInitSent++;
    return msg;
  }

  /** Forgets our initiation in flight and erases its secrets. */
  abandon(): void {
    const p = this.#pending;
    if (p === undefined) return;
    p.state.erase();
    memzero(p.ephemeral.secretKey);
    this.#pending = undefined;
  }

  /** Mac2 and the rate limit, for a message with a valid mac1: undefined
   * when it may be processed, else what to do instead (maybe a cookie). */
  #refuse(msg: Uint8Array, mac1: number, sender: number, from: Endpoint, now: number): Outcome | undefined {
    if (!this.#load.count(now)) return undefined;
    if (!this.#checker.checkMac2(msg, mac1 + 16, from, now)) {
      this.#stats.hsCookieSent++;
      this.#stats.dropUnderLoad++;
      return { reply: this.#checker.reply(msg, mac1, sender, from, now) };
    }
    if (!this.#limiter.allow(from.hostname, now)) {
      this.#stats.dropRateLimited++;
      return {};
    }
    return undefined;
  }

  /** An initiation from `from`: a response and a responder's session
   * (`next`), a cookie reply, or nothing. `newIndex` gives an unused index. */
  onInitiation(msg: Uint8Array, from: Endpoint, now: number, newIndex: () => number): Outcome {
    const stats = this.#stats;
    if (msg.length !== INIT.LENGTH) {
      stats.dropMalformed++;
      return {};
    }
    if (!checkMac(msg, INIT.MAC1, this.#mac1Ours)) {
      stats.dropMac1++;
      return {};
    }
    const sender = msg[INIT.SENDER];
    const refused = this.#refuse(msg, INIT.MAC1, sender, from, now);
    if (refused !== undefined) return refused;
    const r = this.#keys.consumeInitiation(msg.subarray(INIT.NOISE, INIT.MAC1));
    if (r === "handshake") {
      stats.dropHandshake++;
      return {};
    }
    if (r === "unknown") {
      stats.dropUnknownPeer++;
      return {};
    }
    if (this.#lastTimestampIn !== undefined && !isLater(r.timestamp, this.#lastTimestampIn)) {
      r.state.erase();
      stats.dropStaleInitiation++;
      return {};
    }
    if (now - this.#lastInitiationAt < this.#t.minInitiationInterval) {
      r.state.erase();
      stats.dropRateLimited++;
      return {};
    }
    // Recorded whoever else is initiating: a copy replayed later is stale.
    this.#lastTimestampIn = r.timestamp;
    this.#lastInitiationAt = now;
    stats.hsInitRecv++;
    if (this.#pending !== undefined) stats.hsSimultaneous++;
    const localIndex = newIndex();
    const response = new Uint8Array(RESP.LENGTH);
    response[0] = Type.Response;
    response[RESP.SENDER] = localIndex;
    response[RESP.RECEIVER] = sender;
    const e = this.#generate();
    const [i2r, r2i] = this.#keys.createResponse(response.subarray(RESP.NOISE, RESP.MAC1), r.state, r.re, e);
    memzero(e.secretKey);
    this.#jar.seal(response, RESP.MAC1, this.#mac1Peer, localIndex, now);
    stats.hsRespSent++;
    return { reply: response, keys: new TransportKeys(localIndex, sender, r2i, i2r, false, now) };
  }

  /** A response: the initiator's session (our initiation is then done), a
   * cookie reply, or nothing. */
  onResponse(msg: Uint8Array, from: Endpoint, now: number): Outcome {
    const stats = this.#stats;
    if (msg.length !== RESP.LENGTH) {
      stats.dropMalformed++;
      return {};
    }
    const pending = this.#pending;
    if (pending === undefined || msg[RESP.RECEIVER] !== pending.localIndex) {
      stats.dropUnknownIndex++;
      return {};
    }
    if (!checkMac(msg, RESP.MAC1, this.#mac1Ours)) {
      stats.dropMac1++;
      return {};
    }
    const refused = this.#refuse(msg, RESP.MAC1, msg[RESP.SENDER], from, now);
    if (refused !== undefined) return refused;
    const keys = this.#keys.consumeResponse(
      msg.subarray(RESP.NOISE, RESP.MAC1),
      pending.state,
      pending.ephemeral,
    );
    if (keys === null) {
      // Forged (its sender knows our public key, for mac1): our initiation
      // stays in flight, untouched.
      stats.dropHandshake++;
      return {};
    }
    stats.hsRespRecv++;
    this.abandon();
    const [i2r, r2i] = keys;
    return { keys: new TransportKeys(pending.localIndex, msg[RESP.SENDER], i2r, r2i, true, now) };
  }

  /** A cookie reply: keeps the cookie for the next mac2. */
  onCookie(msg: Uint8Array, now: number): void {
    if (msg.length !== COOKIE.LENGTH) this.#stats.dropMalformed++;
    else if (this.#jar.accept(msg, now)) this.#stats.hsCookieRecv++;
    else this.#stats.dropBadTag++;
  }

  /** Erases every secret: static key, PSK, ss, the initiation in flight,
   * the cookie secrets. */
  erase(): void {
    this.abandon();
    this.#keys.erase();
    this.#checker.erase();
    this.#jar.erase();
  }
}
