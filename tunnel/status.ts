/**
 * What `tappet status` shows about one running tunnel: the
 * {@linkcode TunnelStatus} record (which is also its `--json` form, key for
 * key), built from a {@linkcode TunnelSnapshot} of the running tunnel, and
 * its human form, which reads like `wg show`.
 *
 * The JSON form, one object per interface:
 *
 * | key | value |
 * |---|---|
 * | `interface` | the TAP interface name |
 * | `format` | `"current"` or `"legacy"` (the wire format) |
 * | `role` | `"listen"` (server) or `"connect"` (client) |
 * | `listen` | the address:port the UDP socket is bound to (IPv6 in brackets) |
 * | `transport` | `"ffi"` or `"deno"` (the UDP socket) |
 * | `offloads` | true when the kernel passes TCP super-frames through the TAP |
 * | `peer.public_key` | the peer's public key, 64 lowercase hex characters |
 * | `peer.endpoint` | where data goes now (address:port), or null before the peer is known |
 * | `peer.host` | the host name given to `--connect`, or null |
 * | `peer.latest_handshake` | Unix seconds of the last completed handshake, or null (none yet; always null in the legacy format) |
 * | `nonce_prefix` | legacy format: this run's 32-bit nonce prefix; null in the current format |
 * | `rx_bytes`, `rx_frames` | bytes and frames written to the TAP (received from the peer) |
 * | `tx_bytes`, `tx_frames` | bytes and frames read from the TAP and sent to the peer |
 * | `drops` | reason → count: every drop the engine counts (see {@linkcode DROP_REASONS}), plus the TAP's and the socket's own |
 * | `uptime_s` | seconds since the tunnel started |
 * | `session_age_s` | seconds since the session in use was made (current: last handshake; legacy: start), or null |
 * | `path_mtu` | the path MTU to the peer in bytes, or null when unknown |
 * | `tap_mtu` | the TAP interface's MTU in bytes, or null when unknown |
 * | `tap_mtu_advised` | the TAP MTU that makes a full frame fit the path MTU, or null |
 * | `ipv6_below_minimum` | true once IPv6 frames of up to 1280 bytes met a path too small for them and went out as datagrams the kernel may fragment |
 * | `pid` | the tappet process's id |
 *
 * Byte counts are of Ethernet frames (without the tunnel's overhead). No
 * secret is ever part of a snapshot or a status: the public key is the only
 * key material, and it is public.
 *
 * @module
 */

import { COUNTERS } from "../core/stats.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { formatHostPort } from "../core/address.ts";

/** The engine's drop counters (every `drop*` counter of core/stats.ts), by
 * the reason name status and metrics show: `dropBadTag` → `bad_tag`. */
export const DROP_REASONS: ReadonlyMap<string, string> = new Map(
  COUNTERS.filter((c) => c.startsWith("drop")).map((c) => [c, snakeCase(c.slice(4))]),
);

function snakeCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (ch, i) => (i === 0 ? "" : "_") + ch.toLowerCase());
}

/**
 * The state of a running tunnel that status needs, as the runner reads it
 * between two batches. Plain data: taking one allocates a little, so take it
 * per status request, never per packet.
 */
export interface TunnelSnapshot {
  /** The TAP interface name. */
  readonly iface: string;
  /** The wire format. */
  readonly format: "current" | "legacy";
  /** Server (`listen`) or client (`connect`). */
  readonly role: "listen" | "connect";
  /** The address the UDP socket is bound to. */
  readonly local: Endpoint;
  /** Which UDP socket. */
  readonly transport: "ffi" | "deno";
  /** True when TAP offloads are in use. */
  readonly offload: boolean;
  /** The peer's public key, 32 bytes. Never pass a secret here. */
  readonly peerPublicKey: Uint8Array;
  /** Where data goes now, or undefined before the peer is known. */
  readonly peer: Endpoint | undefined;
  /** The host name given to `--connect`, if a name was given. */
  readonly peerHost?: string;
  /** The engine's counters by name (core/stats.ts `Stats.snapshot()`). */
  readonly counters: Readonly<Record<string, number>>;
  /** Drops counted outside the engine, by reason: the TAP's and the
   * socket's own (see {@linkcode ../io/kernel_drops.ts}). */
  readonly otherDrops?: Readonly<Record<string, number>>;
  /** Wall-clock time of the last completed handshake, ms since the Unix
   * epoch; undefined when none. */
  readonly latestHandshakeMs?: number;
  /** Age of the session in use, ms; undefined when there is none. */
  readonly sessionAgeMs?: number;
  /** Time since the tunnel started, ms. */
  readonly uptimeMs: number;
  /** Legacy format: this run's nonce prefix. */
  readonly noncePrefix?: number;
  /** Path MTU to the peer, bytes. */
  readonly pathMtu?: number;
  /** The TAP interface's MTU, bytes. */
  readonly tapMtu?: number;
  /** The TAP MTU that fits `pathMtu`, bytes. */
  readonly tapMtuAdvised?: number;
  /** True once IPv6 frames of at most 1280 bytes met a path too small for
   * them after the overhead, and went out as datagrams the kernel may
   * fragment (IPv6 needs a 1280-byte link). */
  readonly ipv6BelowMinimum?: boolean;
  /** The process id; default `Deno.pid`. */
  readonly pid?: number;
}

/** One tunnel's status; its JSON form is `JSON.stringify` of it (keys
 * documented in the module comment). */
export interface TunnelStatus {
  interface: string;
  format: "current" | "legacy";
  role: "listen" | "connect";
  listen: string;
  transport: "ffi" | "deno";
  offloads: boolean;
  peer: {
    public_key: string;
    endpoint: string | null;
    host: string | null;
    latest_handshake: number | null;
  };
  nonce_prefix: number | null;
  rx_bytes: number;
  tx_bytes: number;
  rx_frames: number;
  tx_frames: number;
  drops: Record<string, number>;
  uptime_s: number;
  session_age_s: number | null;
  path_mtu: number | null;
  tap_mtu: number | null;
  tap_mtu_advised: number | null;
  ipv6_below_minimum: boolean;
  pid: number;
}

function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The status of the tunnel `s` describes. Counters missing from
 * `s.counters` count 0. */
export function statusOf(s: TunnelSnapshot): TunnelStatus {
  if (s.peerPublicKey.length !== 32) throw new RangeError("a public key is 32 bytes");
  const n = (name: string) => s.counters[name] ?? 0;
  const drops: Record<string, number> = {};
  for (const [counter, reason] of DROP_REASONS) drops[reason] = n(counter);
  for (const [reason, count] of Object.entries(s.otherDrops ?? {})) drops[reason] = count;
  return {
    interface: s.iface,
    format: s.format,
    role: s.role,
    listen: formatHostPort(s.local),
    transport: s.transport,
    offloads: s.offload,
    peer: {
      public_key: hexOf(s.peerPublicKey),
      endpoint: s.peer ? formatHostPort(s.peer) : null,
      host: s.peerHost ?? null,
      latest_handshake: s.latestHandshakeMs === undefined ? null : Math.floor(s.latestHandshakeMs / 1000),
    },
    nonce_prefix: s.noncePrefix ?? null,
    rx_bytes: n("rxBytes"),
    tx_bytes: n("txBytes"),
    rx_frames: n("rxFrames"),
    tx_frames: n("txFrames"),
    drops,
    uptime_s: Math.floor(s.uptimeMs / 1000),
    session_age_s: s.sessionAgeMs === undefined ? null : Math.floor(s.sessionAgeMs / 1000),
    path_mtu: s.pathMtu ?? null,
    tap_mtu: s.tapMtu ?? null,
    tap_mtu_advised: s.tapMtuAdvised ?? null,
    ipv6_below_minimum: s.ipv6BelowMinimum ?? false,
    pid: s.pid ?? Deno.pid,
  };
}

/** A byte count as `wg show` prints one: `512 B`, `1.50 KiB`, `3.20 MiB`,
 * `1.00 GiB`, `2.00 TiB` (binary units, two decimals above 1 KiB). */
export function formatBytes(bytes: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]}`;
}

/** Seconds as `wg show` prints a duration: `1 hour, 2 minutes, 3 seconds`
 * (units with a zero count left out; a year is 365 days); `0 seconds` for 0. */
export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  let left = Math.max(0, Math.floor(seconds));
  for (
    const [unit, size] of [["year", 31_536_000], ["day", 86_400], ["hour", 3600], ["minute", 60], [
      "second",
      1,
    ]] as const
  ) {
    const count = Math.floor(left / size);
    left -= count * size;
    if (count > 0) parts.push(`${count} ${unit}${count === 1 ? "" : "s"}`);
  }
  return parts.length === 0 ? "0 seconds" : parts.join(", ");
}

/** When a Unix time (seconds) was, relative to `nowS`: `37 seconds ago`,
 * `Now` (the same second), as `wg show` says it. */
export function formatAgo(unixS: number, nowS: number): string {
  if (unixS === nowS) return "Now";
  if (unixS > nowS) return "in the future (the system clock went back)";
  return `${formatDuration(nowS - unixS)} ago`;
}

/**
 * The human form of `st`, `wg show`-like: an interface block and a peer
 * block, lines `  key: value`, no trailing newline. `nowMs` is the wall
 * clock used for "ago".
 */
export function formatStatus(st: TunnelStatus, nowMs: number = Date.now()): string {
  const lines = [`interface: ${st.interface}`];
  const item = (k: string, v: string) => lines.push(`  ${k}: ${v}`);
  item("format", st.format);
  item(st.role === "listen" ? "listening on" : "local address", st.listen);
  item("transport", `${st.transport} socket, offloads ${st.offloads ? "on" : "off"}`);
  item("uptime", formatDuration(st.uptime_s));
  let tap = `tap ${st.tap_mtu ?? "unknown"}`;
  const fits = st.tap_mtu_advised;
  if (fits !== null) {
    if (st.tap_mtu === null) tap += ` (${fits} fits)`;
    else tap += st.tap_mtu <= fits ? " (fits)" : ` (too big for the path: set ${fits})`;
  }
  item("mtu", `path ${st.path_mtu ?? "unknown"}, ${tap}`);
  if (st.ipv6_below_minimum) item("ipv6", "the path is below IPv6's 1280: such frames go out as fragments");
  lines.push("");
  lines.push(`peer: ${st.peer.public_key}`);
  if (st.peer.host !== null) item("host", st.peer.host);
  item("endpoint", st.peer.endpoint ?? "(not known yet)");
  if (st.format === "legacy") {
    item("nonce prefix", String(st.nonce_prefix ?? "unknown"));
  } else {
    const hs = st.peer.latest_handshake;
    item("latest handshake", hs === null ? "none yet" : formatAgo(hs, Math.floor(nowMs / 1000)));
  }
  if (st.session_age_s !== null) item("session age", formatDuration(st.session_age_s));
  item(
    "transfer",
    `${formatBytes(st.rx_bytes)} received (${st.rx_frames} frames), ${
      formatBytes(st.tx_bytes)
    } sent (${st.tx_frames} frames)`,
  );
  const drops = Object.entries(st.drops).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
  item("drops", drops.length === 0 ? "none" : drops.join(", "));
  return lines.join("\n");
}
