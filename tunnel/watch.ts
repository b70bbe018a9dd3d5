/**
 * What the runner watches while a tunnel runs, once a second from a timer
 * of the event loop (never on the packet path): the session's start, rekeys
 * and end (`-v`), a handshake that does not complete (a warning with the
 * likely cause from core/diagnose.ts, at the default level), the re-
 * resolution of the peer's host name while it is silent, and the wall-clock
 * time of the latest handshake, for `status`. Also {@linkcode snapshotOf}:
 * a running tunnel's state as tunnel/status.ts needs it.
 *
 * Timers ({@linkcode RUNNER_TIMERS}, ms; tests shorten them through
 * TAPPET_TEST_TIMERS, as the engine's):
 * - `diagnoseAfterMs` 15 s: no handshake completed (current format) or
 *   nothing authenticated came (legacy) for this long since start or since
 *   the last session ended: one warning with the likely cause;
 * - `diagnoseEveryMs` 5 min: the least time between two such warnings;
 * - `reresolveAfterMs`: silence before the peer's name is resolved again
 *   (io/resolve.ts {@linkcode RERESOLVE_AFTER_MS}, per format).
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import { diagnose, type DiagnosisCounts } from "../core/diagnose.ts";
import type { Engine } from "../core/engine.ts";
import type { Counter } from "../core/stats.ts";
import { RERESOLVE_AFTER_MS, Reresolver } from "../io/resolve.ts";
import type { Stats } from "../core/stats.ts";
import { monotonicNs } from "../ffi/libc.ts";
import { log } from "../log.ts";
import type { TunnelConfig } from "./run.ts";
import { tapMtuFor } from "./iface.ts";
import type { LoopStatus } from "./loop.ts";
import { kernelFacts } from "./operations.ts";
import type { TunnelSnapshot } from "./status.ts";

/** The runner's own timers, ms (module comment). */
export const RUNNER_TIMERS = {
  diagnoseAfterMs: 15_000,
  diagnoseEveryMs: 300_000,
  reresolveAfterMs: undefined as number | undefined,
};

/** {@linkcode RUNNER_TIMERS} with every value set. */
export type RunnerTimers = { [K in keyof typeof RUNNER_TIMERS]: number };

/** The runner timers of a format, with `overrides` (from tests) applied. */
export function runnerTimers(
  format: "current" | "legacy",
  overrides: Partial<RunnerTimers> = {},
): RunnerTimers {
  return {
    diagnoseAfterMs: overrides.diagnoseAfterMs ?? RUNNER_TIMERS.diagnoseAfterMs,
    diagnoseEveryMs: overrides.diagnoseEveryMs ?? RUNNER_TIMERS.diagnoseEveryMs,
    reresolveAfterMs: overrides.reresolveAfterMs ?? RERESOLVE_AFTER_MS[format],
  };
}

/** Where the watch's lines go: `info` is shown at `-v`, `warn` always. */
export interface WatchLog {
  info(line: string): void;
  warn(line: string): void;
}

/** Options of a {@linkcode Watch}. */
export interface WatchOptions {
  readonly engine: Engine;
  readonly format: "current" | "legacy";
  /** The tunnel's counters now (a copy). */
  readonly counters: () => Record<Counter, number>;
  /** CLOCK_BOOTTIME ns, the engine's clock. */
  readonly clock: () => number;
  /** Wall clock, ms since the epoch. */
  readonly wallClock: () => number;
  readonly timers: RunnerTimers;
  readonly log: WatchLog;
  /** The peer's name resolved again while silent (a client given a name). */
  readonly reresolver?: Reresolver;
}

/** The runner's watch over one tunnel; {@linkcode tick} about once a second. */
export class Watch {
  readonly #o: WatchOptions;
  readonly #startedAt: number;
  #sessions = 0;
  #established = false;
  /** Since when nothing worked, ns; the counters then; the last warning. */
  #quietSince: number;
  #base: Record<Counter, number>;
  #hadSession = false;
  #saidAt: number | undefined;
  #streakSaid = false;
  #gaveUp = 0;
  #heardAt: number;
  #handshakeAt: number | undefined;
  #handshakeWallMs: number | undefined;

  constructor(options: WatchOptions) {
    this.#o = options;
    this.#startedAt = options.clock();
    this.#quietSince = this.#startedAt;
    this.#heardAt = this.#startedAt;
    this.#base = options.counters();
  }

  /** Wall-clock time of the latest completed handshake, ms since the epoch
   * (taken when the watch first saw it), or undefined. */
  get latestHandshakeMs(): number | undefined {
    this.#noteHandshake(this.#o.clock());
    return this.#handshakeWallMs;
  }

  /** When the peer was last heard, ns: the latest handshake (current) or
   * authenticated datagram (legacy), or the start. */
  lastHeard(now: number): number {
    const info = this.#o.engine.sessionInfo?.(now);
    if (info !== undefined) return info.latestHandshakeAt ?? this.#startedAt;
    return this.#o.engine.lastHeardAt ?? this.#startedAt;
  }

  #noteHandshake(now: number): void {
    const at = this.#o.engine.sessionInfo?.(now).latestHandshakeAt;
    if (at === undefined || at === this.#handshakeAt) return;
    this.#handshakeAt = at;
    this.#handshakeWallMs = this.#o.wallClock() - (now - at) / 1e6;
  }

  /** Looks at the engine and the counters now; logs what changed. */
  tick(): void {
    const { engine, format, log, timers } = this.#o;
    const now = this.#o.clock();
    this.#noteHandshake(now);
    const counters = this.#o.counters();
    const heard = this.lastHeard(now);
    const info = engine.sessionInfo?.(now);
    if (info !== undefined) {
      if (info.sessionsStarted > this.#sessions) {
        const peer = engine.peer === undefined ? "" : ` with ${formatHostPort(engine.peer)}`;
        log.info(this.#sessions === 0 && !this.#hadSession ? `session started${peer}` : `rekeyed${peer}`);
        this.#sessions = info.sessionsStarted;
      }
      if (info.established !== this.#established) {
        this.#established = info.established;
        if (info.established) this.#hadSession = true;
        else {
          log.info("no session now: the last one expired or was erased; the next frame starts a handshake");
          this.#quiet(now, counters);
        }
      }
      if (counters.hsGaveUp > this.#gaveUp) {
        this.#gaveUp = counters.hsGaveUp;
        log.info("handshake given up after 90 s of unanswered initiations; new traffic starts another");
      }
    } else if (heard !== this.#heardAt) {
      this.#heardAt = heard;
      this.#hadSession = true;
      this.#quiet(heard, counters);
    }
    const working = info !== undefined ? info.established : now - heard < timers.diagnoseAfterMs * 1e6;
    if (!working) this.#diagnoseIfDue(now, counters, format);
    this.#o.reresolver?.tick(now / 1e6, heard / 1e6);
  }

  #quiet(since: number, counters: Record<Counter, number>): void {
    this.#quietSince = since;
    this.#base = counters;
    this.#saidAt = undefined;
    this.#streakSaid = false;
  }

  #diagnoseIfDue(now: number, counters: Record<Counter, number>, format: "current" | "legacy"): void {
    const { timers, log } = this.#o;
    const growth = {} as Record<Counter, number>;
    for (const k of Object.keys(counters) as Counter[]) growth[k] = counters[k] - (this.#base[k] ?? 0);
    if (!this.#streakSaid && growth.hsInitSent >= 3 && growth.sessionsStarted === 0) {
      this.#streakSaid = true;
      log.info(`${growth.hsInitSent} handshake initiations unanswered so far; still trying`);
    }
    if (now - this.#quietSince < timers.diagnoseAfterMs * 1e6) return;
    if (this.#saidAt !== undefined && now - this.#saidAt < timers.diagnoseEveryMs * 1e6) return;
    const d = diagnose(growth as DiagnosisCounts, format);
    // After a session, a tunnel that sends nothing is idle, not broken:
    // nothing said, and asked again at the next tick.
    if (d === undefined || (d.cause === "silence" && this.#hadSession)) return;
    this.#saidAt = now;
    const s = Math.round((now - this.#quietSince) / 1e9);
    const what = format === "current" ? "no handshake completed" : "nothing from the peer opened";
    log.warn(`${what} in ${s} s: ${d.message}`);
  }
}

/** What {@linkcode snapshotOf} needs beside the loop's status. */
export interface SnapshotContext {
  readonly role: "listen" | "connect";
  readonly family: 4 | 6;
  readonly overhead: number;
  /** The peer's PUBLIC key (never a secret). */
  readonly peerPublicKey: Uint8Array;
  readonly peerHost?: string;
  readonly noncePrefix?: number;
  readonly startedNs: number;
  readonly clock: () => number;
  readonly engine: Engine;
  readonly watch: Watch;
}

/** The running tunnel's state for `status` and metrics, now. */
export function snapshotOf(st: LoopStatus, c: SnapshotContext): TunnelSnapshot {
  const now = c.clock();
  const k = kernelFacts(st.iface, st.local, c.family);
  // The path's size as the forwarder uses it (probes, --path-mtu or the
  // underlay interface), never the kernel's forgeable path MTU cache.
  const mtu = st.pathMtu;
  const info = c.engine.sessionInfo?.(now);
  const sessionAgeNs = info !== undefined ? info.sessionAgeNs : now - c.startedNs;
  return {
    iface: st.iface,
    format: st.protocol ?? "current",
    role: c.role,
    local: st.local,
    transport: st.transport ?? "ffi",
    offload: st.offload ?? false,
    peerPublicKey: c.peerPublicKey,
    peer: st.peer,
    peerHost: c.peerHost,
    counters: st.counters,
    otherDrops: k.otherDrops,
    latestHandshakeMs: c.watch.latestHandshakeMs,
    sessionAgeMs: sessionAgeNs === undefined ? undefined : sessionAgeNs / 1e6,
    uptimeMs: (now - c.startedNs) / 1e6,
    noncePrefix: c.noncePrefix,
    pathMtu: mtu,
    tapMtu: k.tapMtu ?? st.mtu,
    tapMtuAdvised: mtu === undefined ? undefined : tapMtuFor(mtu, c.family, c.overhead),
    ipv6BelowMinimum: st.ipv6BelowMinimum ?? false,
  };
}

/** The watch over a tunnel: session lines, the diagnosis, and for a client
 * given a host name, its re-resolution. */
export function startWatch(
  config: TunnelConfig,
  engine: Engine,
  stats: Stats,
  overrides: Partial<RunnerTimers> | undefined,
): Watch {
  const timers = runnerTimers(config.protocol, overrides);
  const name = config.listen ? undefined : config.peerName;
  const reresolver = name === undefined ? undefined : new Reresolver({
    name,
    start: { host: config.host, port: config.port, family: config.family },
    silenceMs: timers.reresolveAfterMs,
    events: {
      moved: (to, from) => {
        engine.setPeer?.(to);
        log.info`host name ${name} now resolves to ${to.hostname} (was ${from.hostname}): sending there`;
      },
      failed: (m) => log.warn`${m}`,
    },
  });
  return new Watch({
    engine,
    format: config.protocol,
    counters: () => stats.snapshot(),
    clock: monotonicNs,
    wallClock: Date.now,
    timers,
    log: { info: (m) => log.info`${m}`, warn: (m) => log.warn`${m}` },
    reresolver,
  });
}
