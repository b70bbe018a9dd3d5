/**
 * Measuring one row once: two fresh namespaces, the row's tunnel between
 * them, then iperf3 TCP both ways (with the tunnel processes' CPU time and
 * namespace a's TCP segment counters read from /proc around the forward
 * run), 64-byte UDP, and ping percentiles. The parsing and arithmetic are
 * separate pure functions, tested in tests/bench_test.ts.
 *
 * @module
 */

import { configureOverlay, createPair, ping, sh, waitForInterface, waitForPing } from "../netns.ts";
import { NsProcess } from "../harness.ts";
import type { Measurement } from "./summary.ts";
import type { Row } from "./row.ts";

/** USER_HZ: the unit of utime and stime in /proc/PID/stat (proc(5); 100 on
 * every Linux architecture the benchmark runs on). */
export const CLK_TCK = 100;

/** Ping count and interval (s) of the latency test: 500, as in the run that
 * set issue 15's targets. With 200 the p99 was the second-slowest ping, and
 * one stray ping moved a round's ratio from 1.0× to 5.5×; with 500 it is
 * the fifth-slowest. */
const PINGS = 500;
const PING_INTERVAL_S = 0.01;
/** Length of the small-packet UDP test, seconds, and its payload, bytes. */
const UDP_SECS = 5;
const UDP_LEN = 64;

/** iperf3 client arguments of the small-packet load: UDP_LEN-byte
 * datagrams as fast as iperf3 sends them (also `deno task profile --load udp64`). */
export const UDP_LOAD_ARGS: readonly string[] = ["-u", "-l", String(UDP_LEN), "-b", "0"];

/** Datagrams the receiving end got per second in an iperf3 UDP run (its
 * JSON `end`). */
export function receivedPps(end: IperfResult["end"]): number {
  const sum = end.sum_received ?? end.sum;
  return ((sum.packets ?? 0) - (sum.lost_packets ?? 0)) / sum.seconds;
}

/** utime and stime, in clock ticks, from the text of /proc/PID/stat (fields
 * 14 and 15 in proc(5); the command name in parentheses may hold spaces). */
export function statCpuSplit(stat: string): { user: number; sys: number } {
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]), sys: Number(f[12]) };
}

/** utime and stime of `pid` and its threads, seconds; 0 once it has gone.
 * On a kernel built without CONFIG_IRQ_TIME_ACCOUNTING (as the benchmark's
 * VM is), stime includes the softirq work that ran in the process's
 * context, such as the receiving side's network stack for a datagram it
 * sent through a veth. */
export function cpuSplit(pid: number): { user: number; sys: number } {
  try {
    const { user, sys } = statCpuSplit(Deno.readTextFileSync(`/proc/${pid}/stat`));
    return { user: user / CLK_TCK, sys: sys / CLK_TCK };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** The TCP segments a namespace's kernel sent and received (RFC 4022's
 * tcpOutSegs and tcpInSegs, retransmissions included), from the text of
 * its /proc/net/snmp: a header line "Tcp: Name …" and a value line
 * "Tcp: n …". Throws if the file has no such lines. */
export function snmpTcpSegments(snmp: string): { out: number; in: number } {
  const lines = snmp.split("\n").filter((l) => l.startsWith("Tcp:"));
  if (lines.length < 2) throw new Error("no Tcp lines in /proc/net/snmp");
  const names = lines[0].trim().split(/\s+/);
  const values = lines[1].trim().split(/\s+/);
  const get = (name: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`no Tcp ${name} in /proc/net/snmp`);
    return Number(values[i]);
  };
  return { out: get("OutSegs"), in: get("InSegs") };
}

/** {@linkcode snmpTcpSegments} of namespace `ns`. */
async function tcpSegments(ns: string): Promise<{ out: number; in: number }> {
  return snmpTcpSegments(await sh(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"]));
}

/**
 * Tunnel CPU per frame and tunnel end, ns: `cpuS` tunnel CPU-seconds over
 * the `frames` Ethernet frames that crossed the tunnel (counted, not
 * estimated: see {@linkcode measure}), each of which crossed two ends.
 */
export function nsPerFrame(cpuS: number, frames: number): number {
  return (cpuS * 1e9) / frames / 2;
}

/** The round-trip times (ms) in `ping -n` output, ascending. */
export function pingTimes(output: string): number[] {
  return [...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
}

/** The median and 99th percentile of ascending `rtts`: the element at index
 * ⌊p·n⌋ (nearest rank from below, capped at the last). Throws when empty. */
export function percentiles(rtts: number[]): { p50: number; p99: number } {
  if (rtts.length === 0) throw new Error("no ping replies");
  const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
  return { p50: q(0.5), p99: q(0.99) };
}

/** The parts of iperf3's JSON that the benchmark reads. */
export interface IperfSum {
  bytes: number;
  bits_per_second: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
  seconds: number;
}
export interface IperfResult {
  error?: string;
  end: { sum_received: IperfSum; sum_sent: IperfSum; sum?: IperfSum };
}

async function iperf(ns: string, args: string[]): Promise<IperfResult> {
  const out = await sh(["ip", "netns", "exec", ns, "iperf3", "-J", ...args], { allowFail: true });
  const json = JSON.parse(out || "{}");
  if (json.error) throw new Error(`iperf3 ${args.join(" ")}: ${json.error}`);
  return json;
}

async function pingPercentiles(ns: string, to: string): Promise<{ p50: number; p99: number }> {
  const argv = ["ping", "-n", "-c", String(PINGS), "-i", String(PING_INTERVAL_S), to];
  return percentiles(pingTimes(await sh(["ip", "netns", "exec", ns, ...argv], { allowFail: true })));
}

/**
 * Measures one row once, in namespaces numbered `id` (1..254, see
 * createPair), with TCP runs of `secs` seconds. Never throws: a failure is
 * a measurement with `ok: false` and `error`, and the end of every started
 * process's log on stderr. The processes, the namespaces and the scratch
 * directory are gone when it resolves.
 */
export async function measure(row: Row, round: number, secs: number, id: number): Promise<Measurement> {
  const m: Measurement = { row: row.name, round, ok: false, mtu: row.mtu };
  const pair = await createPair({
    id,
    mtu: row.mtu,
    prefix: `tpb${id}`,
    tap: row.iface === undefined && !row.underlay,
    tapUser: row.tapUser,
  });
  const target = row.underlay ? pair.b.underlay : pair.b.overlay;
  const dir = Deno.makeTempDirSync({ prefix: `tappet-bench-${row.name}-` });
  const procs: NsProcess[] = [];
  try {
    procs.push(...await row.start(pair, dir));
    const tunnel = procs.slice();
    if (row.iface !== undefined) {
      for (const side of [pair.a, pair.b]) {
        if (!await waitForInterface(side.ns, row.iface)) throw new Error(`${row.iface} never appeared`);
        await configureOverlay(side.ns, row.iface, side.overlay, row.mtu);
      }
    }
    if (!await waitForPing(pair.a.ns, target, 30)) throw new Error("the tunnel did not come up");
    if (await ping(pair.a.ns, target, { count: 1, size: row.mtu - 28, dontFragment: true }) !== 1) {
      throw new Error(`a full-size frame (MTU ${row.mtu}) does not pass`);
    }
    procs.push(new NsProcess(pair.b.ns, ["iperf3", "-s"], `${dir}/iperf3-server.log`));
    await new Promise((r) => setTimeout(r, 500));
    const cpu = () =>
      tunnel.reduce((s, p) => {
        const c = cpuSplit(p.pid);
        return { user: s.user + c.user, sys: s.sys + c.sys };
      }, { user: 0, sys: 0 });
    // The frames that crossed the tunnel in the forward run: the TCP
    // segments a's kernel sent (data) and received (ACKs), whatever the
    // tunnel did to them (cut, joined, or neither). An ACK ratio cannot be
    // assumed: a receiver that gets joined segments acknowledges fewer
    // (measured here: one ACK per 27-30 data frames through tappet with
    // offloads, one per 3 through the C tappet).
    const segs0 = await tcpSegments(pair.a.ns);
    const cpu0 = cpu();
    const fwd = await iperf(pair.a.ns, ["-c", target, "-t", String(secs)]);
    const cpu1 = cpu();
    const segs1 = await tcpSegments(pair.a.ns);
    m.tcp_mbps = fwd.end.sum_received.bits_per_second / 1e6;
    m.tcp_retr = fwd.end.sum_sent.retransmits;
    m.tcp_frames = segs1.out - segs0.out;
    m.tcp_acks = segs1.in - segs0.in;
    // In-kernel rows (and the underlay) have no tunnel process to account.
    if (!row.underlay && tunnel.length > 0) {
      m.tunnel_user_s = cpu1.user - cpu0.user;
      m.tunnel_cpu_s = m.tunnel_user_s + cpu1.sys - cpu0.sys;
      m.mbit_per_cpu_s = fwd.end.sum_received.bytes * 8 / 1e6 / m.tunnel_cpu_s;
      m.ns_per_frame = nsPerFrame(m.tunnel_cpu_s, m.tcp_frames + m.tcp_acks);
    }
    const rev = await iperf(pair.a.ns, ["-c", target, "-t", String(secs), "-R"]);
    m.tcp_rev_mbps = rev.end.sum_received.bits_per_second / 1e6;
    const udp = await iperf(pair.a.ns, ["-c", target, ...UDP_LOAD_ARGS, "-t", String(UDP_SECS)]);
    m.udp_pps = receivedPps(udp.end);
    m.udp_loss_pct = (udp.end.sum_received ?? udp.end.sum).lost_percent;
    const p = await pingPercentiles(pair.a.ns, target);
    m.rtt_p50_ms = p.p50;
    m.rtt_p99_ms = p.p99;
    m.ok = true;
  } catch (e) {
    m.error = (e as Error).message;
    for (const p of procs) console.error(`--- ${p.log}\n${p.text().slice(-2000)}`);
  } finally {
    for (const p of procs) await p.stop("SIGTERM", 3000);
    await pair.destroy();
    Deno.removeSync(dir, { recursive: true });
  }
  return m;
}
