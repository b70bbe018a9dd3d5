/** The benchmark's pure parts: medians, per-round ratios, the markdown table,
 * and the parsing of ping and /proc output. Expected values are worked out by
 * hand in the comments; nothing here needs root or the network. */

import { strict as assert } from "node:assert";
import {
  markdown,
  type Measurement,
  median,
  ratio,
  ratioBars,
  sealOpenShare,
  summarize,
  type Summary,
} from "../scripts/bench/summary.ts";
import {
  nsPerFrame,
  percentiles,
  pingTimes,
  snmpTcpSegments,
  statCpuSplit,
} from "../scripts/bench/measure.ts";
import { ROWS } from "../scripts/bench/rows.ts";

Deno.test("median: odd and even counts, unsorted input left alone, empty is NaN", () => {
  const xs = [3, 1, 2];
  assert.equal(median(xs), 2);
  assert.deepEqual(xs, [3, 1, 2]);
  assert.equal(median([4, 1, 3, 2]), 2.5); // (2 + 3) / 2
  assert.equal(median([7]), 7);
  assert.equal(median([10, 2]), 6);
  assert.ok(Number.isNaN(median([])));
});

/** Two rows over three rounds; the reference failed in round 3. */
const RESULTS: Measurement[] = [
  { row: "ref", round: 1, ok: true, tcp_mbps: 100, udp_pps: 1000, rtt_p99_ms: 2 },
  { row: "x", round: 1, ok: true, tcp_mbps: 300, udp_pps: 1500, rtt_p99_ms: 1 },
  { row: "ref", round: 2, ok: true, tcp_mbps: 200, udp_pps: 4000, rtt_p99_ms: 4 },
  { row: "x", round: 2, ok: true, tcp_mbps: 500, udp_pps: 2000, rtt_p99_ms: 1 },
  { row: "ref", round: 3, ok: false, error: "the tunnel did not come up" },
  { row: "x", round: 3, ok: true, tcp_mbps: 1000, udp_pps: 9000, rtt_p99_ms: 9 },
  { row: "y", round: 1, ok: false, error: "boom" },
];

Deno.test("ratio: per round against the same round's reference, then the median", () => {
  // Rounds 1 and 2: 300/100 = 3 and 500/200 = 2.5; round 3 has no reference.
  assert.equal(ratio(RESULTS, "x", "tcp_mbps", "ref"), 2.75);
  // Not the ratio of the medians (500 / 150).
  assert.notEqual(ratio(RESULTS, "x", "tcp_mbps", "ref"), 500 / 150);
  // 1/2 and 1/4.
  assert.equal(ratio(RESULTS, "x", "rtt_p99_ms", "ref"), 0.375);
  assert.equal(ratio(RESULTS, "ref", "tcp_mbps", "ref"), 1);
  assert.ok(Number.isNaN(ratio(RESULTS, "y", "tcp_mbps", "ref")));
});

Deno.test("summarize: medians over successful rounds and ratios to the reference", () => {
  const [x, ref, y] = summarize(RESULTS, ["x", "ref", "y"], "ref");
  assert.equal(x.row, "x");
  assert.equal(x.rounds, 3);
  assert.equal(x.tcp_mbps, 500); // median of 300, 500, 1000
  assert.equal(x.udp_pps, 2000); // median of 1500, 2000, 9000
  assert.equal(x.rtt_p99_ms, 1); // median of 1, 1, 9
  assert.equal(x.tcp_ratio, 2.75);
  assert.equal(x.udp_ratio, 1); // 1500/1000 = 1.5 and 2000/4000 = 0.5
  assert.equal(x.p99_ratio, 0.375);
  assert.equal(ref.rounds, 2);
  assert.equal(ref.tcp_mbps, 150);
  assert.equal(ref.tcp_ratio, 1);
  assert.equal(y.rounds, 0);
  assert.ok(Number.isNaN(y.tcp_mbps) && Number.isNaN(y.tcp_ratio));
});

Deno.test("ratioBars: one bar per row and figure with a finite ratio, in row order", () => {
  const bars = ratioBars(RESULTS, ["x", "ref", "y"], ["tcp_mbps", "mbit_per_cpu_s", "rtt_p99_ms"], "ref");
  assert.deepEqual(bars, [
    { row: "x", field: "tcp_mbps", ratio: 2.75 },
    { row: "x", field: "rtt_p99_ms", ratio: 0.375 },
    { row: "ref", field: "tcp_mbps", ratio: 1 },
    { row: "ref", field: "rtt_p99_ms", ratio: 1 },
  ]);
  // No successful reference at all: no bars.
  assert.deepEqual(ratioBars(RESULTS, ["x"], ["tcp_mbps"], "y"), []);
});

Deno.test("markdown: header names the reference, figures rounded, missing ones shown as –", () => {
  const s: Summary = {
    row: "tappet-current",
    rounds: 3,
    tcp_mbps: 2204.6,
    tcp_rev_mbps: 1999.4,
    mbit_per_cpu_s: 1500.5001,
    ns_per_frame: 812.49,
    udp_pps: 123456.7,
    rtt_p50_ms: 0.123,
    rtt_p99_ms: 1.006,
    tcp_ratio: 3.456,
    tcp_rev_ratio: 3,
    cpu_ratio: NaN,
    udp_ratio: 1.4549,
    p99_ratio: 0.5,
  };
  const none: Summary = { ...s, row: "vxlan", mbit_per_cpu_s: NaN, ns_per_frame: NaN, tcp_ratio: NaN };
  const lines = markdown([s, none], "c-tappet").split("\n");
  assert.equal(lines.length, 4);
  assert.equal(
    lines[0],
    "| row | TCP Mbit/s | TCP −R Mbit/s | Mbit per tunnel CPU-s | CPU ns/frame | 64 B UDP pkt/s | ping p50 / p99 ms | × c-tappet: TCP / −R / per CPU / UDP / p99 |",
  );
  assert.equal(lines[1], "|---|---|---|---|---|---|---|---|");
  assert.equal(
    lines[2],
    "| tappet-current | 2205 | 1999 | 1501 | 812 | 123457 | 0.12 / 1.01 | 3.46 / 3.00 / – / 1.45 / 0.50 |",
  );
  assert.equal(
    lines[3],
    "| vxlan | 2205 | 1999 | – | – | 123457 | 0.12 / 1.01 | – / 3.00 / – / 1.45 / 0.50 |",
  );
});

const PING = `PING 198.19.200.2 (198.19.200.2) 56(84) bytes of data.
64 bytes from 198.19.200.2: icmp_seq=1 ttl=64 time=0.512 ms
64 bytes from 198.19.200.2: icmp_seq=2 ttl=64 time=0.101 ms
64 bytes from 198.19.200.2: icmp_seq=3 ttl=64 time=12.3 ms

--- 198.19.200.2 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 20ms
rtt min/avg/max/mdev = 0.101/4.304/12.300/5.655 ms
`;

Deno.test("pingTimes: the per-reply times, ascending; the summary line is not one", () => {
  assert.deepEqual(pingTimes(PING), [0.101, 0.512, 12.3]);
  assert.deepEqual(pingTimes("PING x\n--- x ping statistics ---\n1 packets transmitted, 0 received\n"), []);
});

Deno.test("percentiles: the element at floor(p * n), capped at the last", () => {
  // n = 3: p50 at index 1, p99 at floor(2.97) = 2.
  assert.deepEqual(percentiles([0.101, 0.512, 12.3]), { p50: 0.512, p99: 12.3 });
  // n = 200, values 1..200: p50 at index 100 (the value 101), p99 at index 198 (199).
  const hundreds = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.deepEqual(percentiles(hundreds), { p50: 101, p99: 199 });
  assert.deepEqual(percentiles([5]), { p50: 5, p99: 5 });
  assert.throws(() => percentiles([]), /no ping replies/);
});

Deno.test("statCpuSplit: utime and stime (fields 14 and 15), whatever the command name holds", () => {
  // After "comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const tail = "S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 12345 1000000 200";
  assert.deepEqual(statCpuSplit(`1234 (tincd) ${tail}`), { user: 250, sys: 75 });
  assert.deepEqual(statCpuSplit(`1234 (a (b) c) ${tail}`), { user: 250, sys: 75 });
});

Deno.test("nsPerFrame: tunnel CPU over the frames counted, each crossing two ends", () => {
  // 1.5 s over 3e6 frames = 500 ns a frame, halved for the two ends.
  assert.equal(nsPerFrame(1.5, 3e6), 250);
});

Deno.test("snmpTcpSegments: OutSegs and InSegs found by name in the Tcp lines", () => {
  // The layout of Linux 6.x's /proc/net/snmp (Ip and Udp lines abridged).
  const snmp = [
    "Ip: Forwarding DefaultTTL InReceives",
    "Ip: 2 64 1234",
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab " +
    "InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors",
    "Tcp: 1 200 120000 -1 1 1 0 0 0 50 51 0 0 0 0",
    "Udp: InDatagrams NoPorts",
    "Udp: 7 0",
  ].join("\n");
  assert.deepEqual(snmpTcpSegments(snmp), { out: 51, in: 50 });
  assert.throws(() => snmpTcpSegments("Ip: Forwarding\nIp: 2\n"), /no Tcp lines/);
  assert.throws(() => snmpTcpSegments("Tcp: InSegs\nTcp: 5\n"), /no Tcp OutSegs/);
});

Deno.test("sealOpenShare: per data frame, ACKs' cost included, as per-round ratios to seal + open", () => {
  const m = (round: number, cpu: number, user: number, frames: number, so: number): Measurement => ({
    row: "tappet-current",
    round,
    ok: true,
    tunnel_cpu_s: cpu,
    tunnel_user_s: user,
    tcp_frames: frames,
    tcp_acks: frames / 30,
    seal_open_ns: so,
  });
  const results = [
    // 4 s over 1e6 frames: 4000 ns a trip, 1000 ns in user space; / 2000 = 2×, 0.5×
    m(1, 4, 1, 1e6, 2000),
    // 3 s over 1e6: 3000 ns, user 1500; / 1000 = 3×, 1.5×
    m(2, 3, 1.5, 1e6, 1000),
    // 5 s over 2e6: 2500 ns, user 500; / 2500 = 1×, 0.2×
    m(3, 5, 1, 2e6, 2500),
    // no seal + open timing (run without --micro): left out
    { ...m(4, 9, 9, 1e6, 0), seal_open_ns: undefined },
    { ...m(5, 9, 9, 1e6, 1000), ok: false },
  ];
  const s = sealOpenShare(results, "tappet-current")!;
  assert.equal(s.rounds, 3);
  assert.equal(s.trip_ns, 3000); // median of 4000, 3000, 2500
  assert.equal(s.user_ns, 1000); // median of 1000, 1500, 500
  assert.equal(s.seal_open_ns, 2000); // median of 2000, 1000, 2500
  assert.equal(s.ratio, 2); // median of 2, 3, 1: not trip_ns / seal_open_ns (1.5)
  assert.equal(s.user_ratio, 0.5); // median of 0.5, 1.5, 0.2
  assert.equal(sealOpenShare(results, "c-tappet"), undefined);
});

Deno.test("row MTUs: the overlay MTUs of ../shared/bench/README.md's table for a 1500-byte underlay", () => {
  const expected: Record<string, number> = {
    "veth": 1500,
    "vxlan": 1450,
    "c-tappet": 1402,
    "tappet-legacy": 1402,
    "tappet-current": 1434,
    "fastd": 1434,
    "openvpn": 1434,
    "tinc": 1434,
    "quicktun-nacltai": 1426,
    "wggo-vxlan": 1390,
  };
  for (const [name, mtu] of Object.entries(expected)) assert.equal(ROWS[name]?.mtu, mtu, name);
});
