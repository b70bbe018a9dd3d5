/**
 * Host names for `--connect` (and `connect =`): `vpn.example.com:1011` as
 * well as an address. Names are resolved with the system's resolver
 * (getaddrinfo, through `node:dns` `lookup`, which Deno implements with it),
 * so /etc/hosts, nsswitch and `ip netns exec`'s /etc/netns/NS/hosts work;
 * `Deno.resolveDns` would ask DNS servers only.
 *
 * A name is resolved once at start ({@linkcode resolvePeer}: a name that does
 * not resolve is a one-line {@linkcode UserError}), and again while the peer
 * stays silent ({@linkcode Reresolver}): silent means no handshake for
 * {@linkcode RERESOLVE_AFTER_MS}.current in the current format, no datagram
 * for 3 keepalive intervals in the legacy format. A changed address is
 * followed; a name that stops resolving keeps the last address, with a
 * warning.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { type HostPort, ipFamily, type Parsed, parseHostPort, parsePort } from "../core/address.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { UserError } from "../errors.ts";

/** A `--connect` value: an address, or a name to resolve. */
export interface PeerAddress {
  /** The IP literal, without brackets; for a name, unset until resolved. */
  readonly host?: string;
  /** The family of `host`. */
  readonly family?: 4 | 6;
  /** The host name, when a name was given. */
  readonly name?: string;
  /** UDP port, 1 to 65535. */
  readonly port: number;
}

/** How long the peer may stay silent before its name is resolved again, ms.
 * Current format: no handshake for 2 minutes (issue 11; WireGuard's
 * reresolve-dns.sh uses 135 s). Legacy: 3 intervals of the 2014 program's
 * 10 s keepalive. Also the least time between two re-resolutions. */
export const RERESOLVE_AFTER_MS = { current: 120_000, legacy: 3 * 10_000 } as const;

/** RFC 1123 host name: labels of letters, digits and inner hyphens, 1 to 63
 * bytes each, at most 253 bytes in all, an optional final dot. */
const HOSTNAME =
  /^(?=.{1,253}\.?$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Parses a `--connect` value: `ADDRESS:PORT` as core/address.ts
 * `parseHostPort` does, or `NAME:PORT` with an RFC 1123 host name. A name
 * made only of digits and dots is refused (it is a mistyped IPv4 address).
 */
export function parseConnect(s: string): Parsed<PeerAddress> {
  const i = s.lastIndexOf(":");
  const head = i < 0 ? s : s.slice(0, i);
  if (s.startsWith("[") || head.includes(":") || ipFamily(head) !== undefined || /^[\d.]*$/.test(head)) {
    const hp = parseHostPort(s);
    return hp.ok ? { ok: true, value: hp.value } : hp;
  }
  if (i < 0) {
    return { ok: false, error: `"${s}" is not ADDRESS:PORT or NAME:PORT: add the port, as in ${s}:1011` };
  }
  if (!HOSTNAME.test(head)) {
    return {
      ok: false,
      error:
        `"${head}" is not an address or a host name: use letters, digits, '-' and '.', as in vpn.example.com`,
    };
  }
  const port = parsePort(s.slice(i + 1));
  if (!port.ok) return port;
  return { ok: true, value: { name: head.replace(/\.$/, "").toLowerCase(), port: port.value } };
}

/** One address of a name, as getaddrinfo gives it. */
export interface Resolved {
  /** IP literal. */
  readonly host: string;
  /** Its family. */
  readonly family: 4 | 6;
}

/** Resolves `name` with the system's resolver: its addresses in
 * getaddrinfo's order (RFC 6724), of `family` only when given. Rejects with
 * the resolver's error (`code` ENOTFOUND, EAI_AGAIN, ...). */
export type Lookup = (name: string, family?: 4 | 6) => Promise<Resolved[]>;

/** {@linkcode Lookup} through getaddrinfo. */
export const systemLookup: Lookup = async (name, family) => {
  const all = await lookup(name, { all: true, family: family ?? 0, verbatim: true });
  return all.filter((a) => a.family === 4 || a.family === 6).map((a) => ({
    host: a.address,
    family: a.family as 4 | 6,
  }));
};

function why(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === "ENOTFOUND" || code === "ENODATA") return "no such name";
  if (code === "EAI_AGAIN") return "the resolver did not answer";
  return (e as Error).message ?? String(e);
}

/**
 * The address to start with: `peer` itself when it is an address, else its
 * name's first address (of `family` when given). Throws a one-line
 * {@linkcode UserError} when the name does not resolve.
 */
export async function resolvePeer(
  peer: PeerAddress,
  family?: 4 | 6,
  resolve: Lookup = systemLookup,
): Promise<HostPort> {
  if (peer.name === undefined) return { host: peer.host!, port: peer.port, family: peer.family! };
  let found: Resolved[];
  try {
    found = await resolve(peer.name, family);
  } catch (e) {
    throw new UserError(
      `host name ${peer.name} does not resolve (${
        why(e)
      }): check the name, /etc/hosts and DNS, or give an address`,
      { cause: e },
    );
  }
  if (found.length === 0) {
    const fam = family === undefined ? "" : ` IPv${family}`;
    throw new UserError(`host name ${peer.name} has no${fam} address: check the name, or give an address`);
  }
  return { host: found[0].host, port: peer.port, family: found[0].family };
}

/** What a {@linkcode Reresolver} reports. */
export interface ReresolveEvents {
  /** The name now resolves to another address; data should go there. */
  moved(to: Endpoint, from: Endpoint): void;
  /** The name did not resolve; the last address is kept. */
  failed(message: string): void;
}

/**
 * Resolves a peer's name again while the peer is silent. The runner calls
 * {@linkcode tick} from its timer with the wall or monotonic time in ms and
 * the time it last heard from the peer (current format: the last completed
 * handshake, or the start; legacy: the last authenticated datagram, or the
 * start). At most one lookup runs at a time, and lookups are
 * `silenceMs` apart at least. The address family never changes (the socket
 * is bound for one).
 */
export class Reresolver {
  readonly #name: string;
  readonly #port: number;
  readonly #family: 4 | 6;
  readonly #silenceMs: number;
  readonly #resolve: Lookup;
  readonly #events: ReresolveEvents;
  #current: Endpoint;
  #lastTry = -Infinity;
  #running: Promise<void> | undefined;

  /** `start` is the address {@linkcode resolvePeer} gave. */
  constructor(options: {
    name: string;
    start: HostPort;
    silenceMs: number;
    events: ReresolveEvents;
    resolve?: Lookup;
  }) {
    this.#name = options.name;
    this.#port = options.start.port;
    this.#family = options.start.family;
    this.#silenceMs = options.silenceMs;
    this.#resolve = options.resolve ?? systemLookup;
    this.#events = options.events;
    this.#current = { hostname: options.start.host, port: options.start.port };
  }

  /** The address data goes to, as last resolved. */
  get current(): Endpoint {
    return this.#current;
  }

  /**
   * Starts a lookup when the peer has been silent for `silenceMs` at
   * `nowMs` and none ran in the last `silenceMs`. Returns the lookup's
   * promise (it never rejects), or undefined when none was started.
   */
  tick(nowMs: number, lastHeardMs: number): Promise<void> | undefined {
    if (this.#running) return undefined;
    if (nowMs - lastHeardMs < this.#silenceMs || nowMs - this.#lastTry < this.#silenceMs) return undefined;
    this.#lastTry = nowMs;
    this.#running = this.#lookup().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #lookup(): Promise<void> {
    let found: Resolved[];
    try {
      found = await this.#resolve(this.#name, this.#family);
    } catch (e) {
      this.#events.failed(
        `host name ${this.#name} does not resolve now (${why(e)}); keeping ${this.#current.hostname}`,
      );
      return;
    }
    if (found.length === 0) {
      this.#events.failed(
        `host name ${this.#name} has no IPv${this.#family} address now; keeping ${this.#current.hostname}`,
      );
      return;
    }
    if (found.some((a) => a.host === this.#current.hostname)) return;
    const from = this.#current;
    this.#current = { hostname: found[0].host, port: this.#port };
    this.#events.moved(this.#current, from);
  }
}
