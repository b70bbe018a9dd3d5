/**
 * The responder's defences against a flood of handshake messages, as in
 * WireGuard (wireguard-go `device/ratelimiter.go`):
 *
 * - {@linkcode LoadMeter}: counts handshake messages with a valid mac1 in
 *   fixed one-second buckets; more than `underLoadPerSecond` in one puts
 *   the responder under load until one second after the last excess.
 * - {@linkcode RateLimiter}: under load, a token bucket per source (an IPv4
 *   address, an IPv6 /64: one host owns a /64), refilled at
 *   `rateLimitPerSecond` up to `rateLimitBurst`. A sweep, at most every
 *   `rateLimitSweep`, removes buckets idle for `rateLimitIdle` (they would be
 *   full again). At most `rateLimitMaxSources` buckets exist: a new source
 *   beyond that is refused until the sweep frees room; the table is never
 *   cleared at once, so no source gets unlimited work by making many.
 *
 * Time: `now` in ns, the engine's clock.
 *
 * @module
 */

import type { TimersNs } from "./timers.ts";

/** Whether the responder is under load. */
export class LoadMeter {
  #bucketAt = -Infinity;
  #count = 0;
  #underLoadUntil = -Infinity;

  constructor(readonly perSecond: number) {}

  /** Counts one handshake message with a valid mac1 at `now`; returns true
   * when the responder is under load (mac2 is then required). */
  count(now: number): boolean {
    if (now - this.#bucketAt >= 1e9) {
      this.#bucketAt = now;
      this.#count = 0;
    }
    if (++this.#count > this.perSecond) this.#underLoadUntil = now + 1e9;
    return now < this.#underLoadUntil;
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets per source prefix (see the module comment). */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #idle: number;
  readonly #sweepEvery: number;
  readonly #max: number;
  #sweptAt = -Infinity;

  constructor(
    t: Pick<
      TimersNs,
      "rateLimitPerSecond" | "rateLimitBurst" | "rateLimitIdle" | "rateLimitSweep" | "rateLimitMaxSources"
    >,
  ) {
    this.#rate = t.rateLimitPerSecond;
    this.#burst = t.rateLimitBurst;
    this.#idle = t.rateLimitIdle;
    this.#sweepEvery = t.rateLimitSweep;
    this.#max = t.rateLimitMaxSources;
  }

  /** How many sources are tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token for a message from `hostname` (an IP literal) at `now`;
   * false when its source has none left or the table is full. */
  allow(hostname: string, now: number): boolean {
    if (now - this.#sweptAt >= this.#sweepEvery) this.#sweep(now);
    const key = sourceKey(hostname);
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) return false;
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1e9) * this.#rate);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #sweep(now: number): void {
    this.#sweptAt = now;
    for (const [key, b] of this.#buckets) if (now - b.at >= this.#idle) this.#buckets.delete(key);
  }
}

/**
 * The rate limiter's key for an IP literal: the IPv4 address ("4:a.b.c.d",
 * also for IPv4-mapped IPv6), or the first 64 bits of an IPv6 address
 * ("6:" and four hextets in hex). A zone (`%eth0`) is ignored. Text that is
 * neither is its own key.
 */
export function sourceKey(hostname: string): string {
  const ip = hostname.split("%")[0];
  if (!ip.includes(":")) return `4:${ip}`;
  const words = ipv6Words(ip);
  if (words === undefined) return `?:${ip}`;
  if (
    words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 &&
    words[5] === 0xffff
  ) {
    return `4:${words[6] >> 8}.${words[6] & 0xff}.${words[7] >> 8}.${words[7] & 0xff}`;
  }
  return `6:${words.slice(0, 4).map((w) => w.toString(16)).join(":")}`;
}

/** The eight 16-bit words of an IPv6 literal (with `::` and an optional
 * dotted IPv4 tail), or undefined when it is not one. */
function ipv6Words(ip: string): number[] | undefined {
  const halves = ip.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const part of s.split(":")) {
      if (part.includes(".")) {
        const v4 = part.split(".").map(Number);
        if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
}
