/**
 * The current format's timers and limits (WireGuard's, but for the dead-peer
 * timer), in ms as the user and tests see them, and the same table converted
 * once to ns for the engine, which compares them with `now` (ns).
 *
 * @module
 */

/** The timers and limits. docs/PROTOCOL.md §3 and §6 state each. */
export const TIMERS = {
  /** The initiator of a session starts a new handshake when it is this old. */
  rekeyAfterMs: 120_000,
  /** A session neither seals nor opens once it is this old. */
  rejectAfterMs: 180_000,
  /** An unanswered handshake is given up after this long. */
  rekeyAttemptMs: 90_000,
  /** An unanswered initiation is sent again after this, plus jitter. */
  rekeyTimeoutMs: 5_000,
  /** The jitter added to each retry: up to this many ms. */
  rekeyJitterMs: 333,
  /** A keepalive goes out when data was received but nothing sent for this long. */
  keepaliveMs: 10_000,
  /** A handshake starts when data was sent and nothing authenticated came
   * back for this long: a restarted peer is found within it. */
  deadPeerMs: 3_000,
  /** All keys are erased when no handshake renewed them for this long:
   * 3 × the rekey time. */
  eraseAfterMs: 360_000,
  /** A session is renewed after sealing this many messages. */
  rekeyAfterMessages: 2 ** 44,
  /** A session stops sealing before its 48-bit counter can reach this. */
  rejectAfterMessages: 2 ** 48 - 2 ** 16,
  /** Initiations from the peer closer together than this are dropped. */
  minInitiationIntervalMs: 20,
  /** More handshake messages with a valid mac1 than this in one fixed
   * one-second bucket put the responder under load for the next second: it
   * then answers messages without a valid mac2 with a cookie. */
  underLoadPerSecond: 10,
  /** Under load, each source (an IPv4 address, an IPv6 /64) may have this
   * many handshake messages processed per second (a token bucket's rate). */
  rateLimitPerSecond: 20,
  /** The token bucket's depth: a burst of this many. */
  rateLimitBurst: 5,
  /** Buckets idle this long (full again) are removed by the periodic sweep. */
  rateLimitIdleMs: 1_000,
  /** The sweep runs at most this often. */
  rateLimitSweepMs: 1_000,
  /** At most this many sources are tracked; beyond it, messages from a new
   * source are refused until the sweep frees entries (never a reset). */
  rateLimitMaxSources: 4_096,
  /** Path MTU probes (docs/PROTOCOL.md §4 "Probes"): an unacknowledged
   * probe is sent again (a new one, of the same size) after this long. */
  probeTimeoutMs: 1_000,
  /** A size whose probe went unacknowledged this many times is too big
   * (RFC 8899's MAX_PROBES). */
  probeTries: 3,
  /** A new search starts this long after the last one ended (RFC 8899's
   * PMTU_RAISE_TIMER). */
  probeRaiseMs: 600_000,
  /** A black hole: datagrams larger than the base were sent and nothing
   * authenticated came from the peer for this long; the size in use is
   * probed again. */
  probeBlackHoleMs: 5_000,
};

/** The timers, each of which tests may shorten. */
export type Timers = typeof TIMERS;

/** {@linkcode Timers} with every `…Ms` field in ns (without the suffix),
 * the counts unchanged. */
export interface TimersNs {
  rekeyAfter: number;
  rejectAfter: number;
  rekeyAttempt: number;
  rekeyTimeout: number;
  rekeyJitter: number;
  keepalive: number;
  deadPeer: number;
  eraseAfter: number;
  minInitiationInterval: number;
  /** The age at which an initiator that receives data renews its session:
   * reject-after minus the keepalive and rekey timeouts (WireGuard's rule). */
  rekeyOnReceive: number;
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  underLoadPerSecond: number;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  rateLimitIdle: number;
  rateLimitSweep: number;
  rateLimitMaxSources: number;
  probeTimeout: number;
  probeTries: number;
  probeRaise: number;
  probeBlackHole: number;
}

const MS = 1e6;

/** `TIMERS` overridden by `overrides`, converted to ns once. */
export function timersNs(overrides: Partial<Timers> = {}): TimersNs {
  const t = { ...TIMERS, ...overrides };
  return {
    rekeyAfter: t.rekeyAfterMs * MS,
    rejectAfter: t.rejectAfterMs * MS,
    rekeyAttempt: t.rekeyAttemptMs * MS,
    rekeyTimeout: t.rekeyTimeoutMs * MS,
    rekeyJitter: t.rekeyJitterMs * MS,
    keepalive: t.keepaliveMs * MS,
    deadPeer: t.deadPeerMs * MS,
    eraseAfter: t.eraseAfterMs * MS,
    minInitiationInterval: t.minInitiationIntervalMs * MS,
    rekeyOnReceive: (t.rejectAfterMs - t.keepaliveMs - t.rekeyTimeoutMs) * MS,
    rekeyAfterMessages: t.rekeyAfterMessages,
    rejectAfterMessages: t.rejectAfterMessages,
    underLoadPerSecond: t.underLoadPerSecond,
    rateLimitPerSecond: t.rateLimitPerSecond,
    rateLimitBurst: t.rateLimitBurst,
    rateLimitIdle: t.rateLimitIdleMs * MS,
    rateLimitSweep: t.rateLimitSweepMs * MS,
    rateLimitMaxSources: t.rateLimitMaxSources,
    probeTimeout: t.probeTimeoutMs * MS,
    probeTries: t.probeTries,
    probeRaise: t.probeRaiseMs * MS,
    probeBlackHole: t.probeBlackHoleMs * MS,
  };
}

/**
 * The per-peer deadlines that follow traffic (wireguard-go `timers.go`):
 * the passive keepalive, the persistent keepalive and the dead-peer timer.
 * The engine reports events; `take…` methods say whether a deadline passed
 * (and reset it). All times ns.
 */
export class PeerTimers {
  #lastSentAt: number;
  #keepaliveAt: number | undefined;
  #firstUnansweredAt: number | undefined;

  /** @param persistent the persistent keepalive interval in ns; 0: none. */
  constructor(readonly t: TimersNs, readonly persistent: number, now: number) {
    this.#lastSentAt = now;
  }

  /** Any datagram went to the peer: both keepalives wait again. */
  sent(now: number): void {
    this.#lastSentAt = now;
    this.#keepaliveAt = undefined;
  }

  /** A data frame (not a keepalive) went to the peer: an answer is due
   * within the dead-peer time. */
  sentData(now: number): void {
    this.#firstUnansweredAt ??= now;
  }

  /** An authenticated datagram came from the peer: it is alive. */
  heard(): void {
    this.#firstUnansweredAt = undefined;
  }

  /** A data frame (not a keepalive) came: we owe a keepalive if we send
   * nothing for the keepalive time. */
  receivedData(now: number): void {
    this.#keepaliveAt ??= now + this.t.keepalive;
  }

  /** True once when the dead-peer time passed without an answer. */
  takeDeadPeer(now: number): boolean {
    if (this.#firstUnansweredAt === undefined || now - this.#firstUnansweredAt < this.t.deadPeer) {
      return false;
    }
    this.#firstUnansweredAt = undefined;
    return true;
  }

  /** True once when a passive keepalive is due. */
  takeKeepalive(now: number): boolean {
    if (this.#keepaliveAt === undefined || now < this.#keepaliveAt) return false;
    this.#keepaliveAt = undefined;
    return true;
  }

  /** True when nothing went to the peer for the persistent interval; the
   * caller sends something at once (so the interval restarts now). */
  takePersistent(now: number): boolean {
    if (this.persistent <= 0 || now - this.#lastSentAt < this.persistent) return false;
    this.sent(now);
    return true;
  }

  /** The nearest of these deadlines after `now`, or `limit` if sooner. */
  next(limit: number, persistentToo: boolean): number {
    let next = limit;
    if (this.#keepaliveAt !== undefined && this.#keepaliveAt < next) next = this.#keepaliveAt;
    if (this.#firstUnansweredAt !== undefined) {
      next = Math.min(next, this.#firstUnansweredAt + this.t.deadPeer);
    }
    if (persistentToo && this.persistent > 0) next = Math.min(next, this.#lastSentAt + this.persistent);
    return next;
  }
}
