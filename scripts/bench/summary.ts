/**
 * The benchmark's figures and how they are summed up: one {@linkcode Measurement}
 * per row and round (one JSON line each in the results file), medians over
 * rounds, ratios to a reference row taken within each round, and the markdown
 * table. Pure: no I/O, so the chart (run with its own lockfile) imports it too.
 *
 * @module
 */

/** One row's figures in one round: a line of the results file. */
export interface Measurement {
  row: string;
  round: number;
  ok: boolean;
  error?: string;
  /** The tunnel interface's MTU, bytes. */
  mtu?: number;
  /** TCP a → b (iperf3 forward), Mbit/s received. */
  tcp_mbps?: number;
  /** TCP b → a (iperf3 -R), Mbit/s received. */
  tcp_rev_mbps?: number;
  /** TCP retransmits of the forward run. */
  tcp_retr?: number;
  /** utime + stime of the tunnel processes during the forward run, seconds;
   * absent for rows without a tunnel process. */
  tunnel_cpu_s?: number;
  /** Mbit moved by the forward run per tunnel CPU-second. */
  mbit_per_cpu_s?: number;
  /** User-space part of `tunnel_cpu_s` (utime), seconds. */
  tunnel_user_s?: number;
  /** Frames that crossed the tunnel in the forward run: the TCP segments
   * namespace a's kernel sent (`tcp_frames`, data) and received
   * (`tcp_acks`), from its /proc/net/snmp. */
  tcp_frames?: number;
  tcp_acks?: number;
  /** Tunnel CPU per frame carried (data or ACK) and tunnel end, ns. */
  ns_per_frame?: number;
  /** For this tappet's rows with `--micro`: one seal and one open of a
   * full-size frame of the row's format alone, ns, timed at the start of
   * the same round. */
  seal_open_ns?: number;
  /** 64-byte UDP datagrams received per second. */
  udp_pps?: number;
  /** iperf3's UDP loss, percent. */
  udp_loss_pct?: number;
  /** Ping round-trip median and 99th percentile, ms. */
  rtt_p50_ms?: number;
  rtt_p99_ms?: number;
}

/** The numeric fields of a {@linkcode Measurement}. */
export type Figure = Exclude<keyof Measurement, "row" | "round" | "ok" | "error">;

/** The median of `xs` (the mean of the middle two for an even count); NaN when empty. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `field` of every successful measurement of `row`, in result order. */
export function figures(results: Measurement[], row: string, field: Figure): number[] {
  return results.filter((m) => m.row === row && m.ok).map((m) => m[field] as number);
}

/**
 * For each successful round of `row`, its `field` divided by the same
 * round's successful `reference` row; rounds where the reference failed are
 * left out. Then the median of those ratios (NaN when there are none).
 */
export function ratio(results: Measurement[], row: string, field: Figure, reference: string): number {
  const out: number[] = [];
  for (const m of results.filter((m) => m.row === row && m.ok)) {
    const ref = results.find((x) => x.row === reference && x.round === m.round && x.ok);
    if (ref) out.push((m[field] as number) / (ref[field] as number));
  }
  return median(out);
}

/** What a full-size frame's trip (sealed at one end, opened at the other)
 * costs against its seal + open alone: medians over the rounds that have
 * both, of the per-round ratios. */
export interface SealOpenShare {
  /** Rounds with a forward run and a seal + open timing. */
  rounds: number;
  /** Tunnel CPU (both ends, user and system) per data frame, ns, the ACKs'
   * cost included. */
  trip_ns: number;
  /** Its user-space part (the JavaScript, libc and libsodium), ns. */
  user_ns: number;
  /** One seal and one open alone, ns. */
  seal_open_ns: number;
  /** `trip_ns / seal_open_ns` and `user_ns / seal_open_ns`, per round. */
  ratio: number;
  user_ratio: number;
}

/** {@linkcode SealOpenShare} of `row`; undefined when no round has both figures. */
export function sealOpenShare(results: Measurement[], row: string): SealOpenShare | undefined {
  const rounds = results.filter((m) =>
    m.row === row && m.ok && (m.seal_open_ns ?? 0) > 0 && (m.tcp_frames ?? 0) > 0 &&
    m.tunnel_cpu_s !== undefined && m.tunnel_user_s !== undefined
  );
  if (rounds.length === 0) return undefined;
  const trip = rounds.map((m) => m.tunnel_cpu_s! * 1e9 / m.tcp_frames!);
  const user = rounds.map((m) => m.tunnel_user_s! * 1e9 / m.tcp_frames!);
  const so = rounds.map((m) => m.seal_open_ns!);
  return {
    rounds: rounds.length,
    trip_ns: median(trip),
    user_ns: median(user),
    seal_open_ns: median(so),
    ratio: median(trip.map((t, i) => t / so[i])),
    user_ratio: median(user.map((u, i) => u / so[i])),
  };
}

/** One line of the summary: medians over rounds, and ratios to the reference. */
export interface Summary {
  row: string;
  /** Rounds in which the row succeeded. */
  rounds: number;
  tcp_mbps: number;
  tcp_rev_mbps: number;
  mbit_per_cpu_s: number;
  ns_per_frame: number;
  udp_pps: number;
  rtt_p50_ms: number;
  rtt_p99_ms: number;
  tcp_ratio: number;
  tcp_rev_ratio: number;
  cpu_ratio: number;
  udp_ratio: number;
  p99_ratio: number;
}

/** Median over rounds of each figure, and of its per-round ratio to the reference row. */
export function summarize(results: Measurement[], rows: string[], reference: string): Summary[] {
  const med = (r: string, f: Figure) => median(figures(results, r, f));
  return rows.map((r) => ({
    row: r,
    rounds: figures(results, r, "tcp_mbps").length,
    tcp_mbps: med(r, "tcp_mbps"),
    tcp_rev_mbps: med(r, "tcp_rev_mbps"),
    mbit_per_cpu_s: med(r, "mbit_per_cpu_s"),
    ns_per_frame: med(r, "ns_per_frame"),
    udp_pps: med(r, "udp_pps"),
    rtt_p50_ms: med(r, "rtt_p50_ms"),
    rtt_p99_ms: med(r, "rtt_p99_ms"),
    tcp_ratio: ratio(results, r, "tcp_mbps", reference),
    tcp_rev_ratio: ratio(results, r, "tcp_rev_mbps", reference),
    cpu_ratio: ratio(results, r, "mbit_per_cpu_s", reference),
    udp_ratio: ratio(results, r, "udp_pps", reference),
    p99_ratio: ratio(results, r, "rtt_p99_ms", reference),
  }));
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "–");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");

/** The summary as a markdown table, ratios against `reference`; "–" where a
 * figure is missing (not measured, or no successful round). */
export function markdown(summary: Summary[], reference: string): string {
  const lines = [
    `| row | TCP Mbit/s | TCP −R Mbit/s | Mbit per tunnel CPU-s | CPU ns/frame | 64 B UDP pkt/s | ping p50 / p99 ms | × ${reference}: TCP / −R / per CPU / UDP / p99 |`,
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const s of summary) {
    lines.push(
      `| ${s.row} | ${f0(s.tcp_mbps)} | ${f0(s.tcp_rev_mbps)} | ${f0(s.mbit_per_cpu_s)} | ${
        f0(s.ns_per_frame)
      } | ${f0(s.udp_pps)} | ${f2(s.rtt_p50_ms)} / ${f2(s.rtt_p99_ms)} | ${f2(s.tcp_ratio)} / ${
        f2(s.tcp_rev_ratio)
      } / ${f2(s.cpu_ratio)} / ${f2(s.udp_ratio)} / ${f2(s.p99_ratio)} |`,
    );
  }
  return lines.join("\n");
}

/** One bar of the chart: a row's median per-round ratio to the reference for one figure. */
export interface RatioBar {
  row: string;
  field: Figure;
  ratio: number;
}

/**
 * The bars of the chart: for each row of `order` and each of `fields`, the
 * median over rounds of the per-round ratio to `reference` (see
 * {@linkcode ratio}). Rows or figures without a finite ratio (not measured,
 * or no round shared with a successful reference) get no bar.
 */
export function ratioBars(
  results: Measurement[],
  order: string[],
  fields: readonly Figure[],
  reference: string,
): RatioBar[] {
  const bars: RatioBar[] = [];
  for (const row of order) {
    for (const field of fields) {
      const r = ratio(results, row, field, reference);
      if (Number.isFinite(r) && r > 0) bars.push({ row, field, ratio: r });
    }
  }
  return bars;
}
