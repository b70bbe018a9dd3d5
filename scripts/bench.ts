/**
 * `deno task bench`: tappet's own benchmark. Two network namespaces joined by
 * veth (MTU 1500), one tunnel at a time between them, each measured the same
 * way, for several rounds:
 *
 * - TCP throughput both ways (iperf3, 10 s), and the tunnel's CPU time during
 *   the forward run (utime + stime of both tunnel processes, from /proc), so
 *   "Mbit per tunnel CPU-second" compares cost rather than the noisy share of
 *   a shared machine;
 * - small packets: 64-byte UDP as fast as iperf3 sends, packets received per second;
 * - latency: 200 pings 10 ms apart, median and 99th percentile.
 *
 * Rows are set up and torn down in turn within each round, and every figure
 * is reported as a ratio to a reference row taken in the same round, then
 * the median over rounds: absolute numbers drift on a shared machine.
 *
 *     deno task bench [--rounds N] [--secs S] [--rows a,b,...] [--out FILE.jsonl]
 *
 * Needs root, iperf3 and ping. Rows whose program is missing are skipped.
 *
 * @module
 */

import {
  configureOverlay,
  createPair,
  type NetnsPair,
  ping,
  sh,
  waitForInterface,
  waitForPing,
} from "./netns.ts";
import { arg, keygen, NsProcess, startTappets, type TappetPairOptions } from "./harness.ts";

/** A tunnel under test. */
export interface Row {
  /** Short name in the table. */
  readonly name: string;
  /** What it is, one line. */
  readonly about: string;
  /** TAP MTU for a 1500-byte underlay. */
  readonly mtu: number;
  /** The interface the program makes itself; undefined: the bench makes a
   * TAP tp0 in each namespace (owned by `tapUser` if set). */
  readonly iface?: string;
  /** The user that owns the TAP and runs the program, if not root. */
  readonly tapUser?: string;
  /** True for the no-tunnel row: traffic goes over the underlay. */
  readonly underlay?: boolean;
  /** Why the row cannot run here, or undefined. */
  unavailable(): Promise<string | undefined>;
  /** Starts the two ends (b listens, a connects); returns their processes. */
  start(pair: NetnsPair, dir: string): Promise<NsProcess[]>;
}

/** One row's figures in one round. */
export interface Measurement {
  row: string;
  round: number;
  ok: boolean;
  error?: string;
  mtu?: number;
  tcp_mbps?: number;
  tcp_rev_mbps?: number;
  tcp_retr?: number;
  tunnel_cpu_s?: number;
  mbit_per_cpu_s?: number;
  ns_per_frame?: number;
  udp_pps?: number;
  udp_loss_pct?: number;
  rtt_p50_ms?: number;
  rtt_p99_ms?: number;
}

const PORT = 7011;
/** The chart renderer, run with its own lockfile (see chart.ts). */
const CHART = new URL("./chart.ts", import.meta.url).pathname;
const CHART_LOCK = new URL("./chart.lock", import.meta.url).pathname;

function fresh(path: string): string {
  Deno.writeFileSync(path, new Uint8Array(4));
  return path;
}

/** A row running tappet from this checkout (both ends started by
 * {@linkcode startTappets}); the TAP MTU follows the format. */
export function tappetRow(name: string, about: string, options: TappetPairOptions): Row {
  return {
    name,
    about,
    mtu: options.protocol === "legacy" ? 1402 : 1434,
    unavailable: () => Promise.resolve(undefined),
    start: (pair, dir) => startTappets(pair, dir, { port: PORT, ...options }),
  };
}

async function have(program: string): Promise<string | undefined> {
  const found = (await sh(["sh", "-c", `command -v ${program} || true`])).trim();
  return found === "" ? `${program} is not installed (scripts/setup.sh --bench installs it)` : undefined;
}

/** The 2014 C tappet, from TAPPET_C_BIN, run as TAPPET_C_USER (it refuses root). */
function cTappetRow(): Row {
  const bin = Deno.env.get("TAPPET_C_BIN");
  const user = Deno.env.get("TAPPET_C_USER") ?? "tappetc";
  return {
    name: "c-tappet",
    about: "the 2014 C tappet (TAPPET_C_BIN), legacy format",
    mtu: 1402,
    tapUser: user,
    async unavailable() {
      if (!bin) return "TAPPET_C_BIN is not set";
      const id = await sh(["id", "-u", user], { allowFail: true });
      return id.trim() === "" ? `user ${user} (TAPPET_C_USER) does not exist` : undefined;
    },
    async start(pair, dir) {
      await keygen(dir);
      for (const n of ["a", "b"]) fresh(`${dir}/nonce-${n}`);
      await sh(["chown", "-R", user, dir]);
      const run = (me: "a" | "b", listen: string[]) => {
        const s = me === "a" ? pair.a : pair.b;
        const peer = me === "a" ? "b" : "a";
        const args = [s.tap, `${dir}/nonce-${me}`, `${dir}/${me}.key`, `${dir}/${peer}.pub`];
        return new NsProcess(
          s.ns,
          [bin!, ...args, pair.b.underlay, String(PORT), ...listen],
          `${dir}/c-${me}.log`,
          {
            user,
          },
        );
      };
      const b = run("b", ["-l"]);
      await new Promise((r) => setTimeout(r, 300));
      return [b, run("a", [])];
    },
  };
}

/** fastd v22 in TAP mode, one static peer (as shared/bench/peers.sh runs it). */
function fastdRow(method = "salsa2012+umac"): Row {
  return {
    name: "fastd",
    about: `fastd TAP, method ${method}`,
    mtu: 1434,
    iface: "fd0",
    unavailable: () => have("fastd"),
    async start(pair, dir) {
      const key = async (side: string) => {
        const secret = (await sh(["fastd", "--generate-key", "--machine-readable"])).trim();
        Deno.writeTextFileSync(`${dir}/${side}.tmp`, `secret "${secret}";\n`);
        const pub = (await sh(["fastd", "-c", `${dir}/${side}.tmp`, "--show-key", "--machine-readable"]))
          .trim();
        return { secret, pub };
      };
      const k = { a: await key("a"), b: await key("b") };
      const procs: NsProcess[] = [];
      for (const me of ["b", "a"] as const) {
        const s = me === "a" ? pair.a : pair.b;
        const o = me === "a" ? pair.b : pair.a;
        const other = me === "a" ? "b" : "a";
        const conf = [
          "log level warn;",
          'interface "fd0";',
          "mode tap;",
          `method "${method}";`,
          `secret "${k[me].secret}";`,
          "mtu 1434;",
          `bind ${s.underlay}:10000;`,
          `peer "${other}" {`,
          `  key "${k[other].pub}";`,
          `  remote ${o.underlay}:10000;`,
          "}",
        ];
        Deno.writeTextFileSync(`${dir}/${me}.conf`, conf.join("\n") + "\n");
        procs.push(new NsProcess(s.ns, ["fastd", "-c", `${dir}/${me}.conf`], `${dir}/fastd-${me}.log`));
      }
      return procs;
    },
  };
}

/** OpenVPN 2.6 in TAP mode, p2p over UDP, TLS with pinned self-signed certificates. */
function openvpnRow(cipher = "AES-256-GCM"): Row {
  return {
    name: "openvpn",
    about: `OpenVPN TAP, p2p TLS, ${cipher}, no DCO`,
    mtu: 1434,
    iface: "ovpn0",
    unavailable: async () => (await have("openvpn")) ?? (await have("openssl")),
    async start(pair, dir) {
      const fp: Record<string, string> = {};
      for (const side of ["a", "b"]) {
        const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        const files = ["-keyout", `${dir}/${side}.pem`, "-out", `${dir}/${side}.crt`];
        await sh(["openssl", "req", "-x509", ...ec, ...files, "-subj", `/CN=bench-${side}`, "-days", "30"]);
        const out = await sh([
          "openssl",
          "x509",
          "-in",
          `${dir}/${side}.crt`,
          "-noout",
          "-fingerprint",
          "-sha256",
        ]);
        fp[side] = out.trim().replace(/.*=/, "");
      }
      const procs: NsProcess[] = [];
      for (const me of ["b", "a"] as const) {
        const s = me === "a" ? pair.a : pair.b;
        const o = me === "a" ? pair.b : pair.a;
        const other = me === "a" ? "b" : "a";
        const argv = [
          ...["openvpn", "--dev", "ovpn0", "--dev-type", "tap", "--proto", "udp4"],
          ...["--local", s.underlay, "--lport", "1194", "--remote", o.underlay, "1194"],
          ...[me === "a" ? "--tls-client" : "--tls-server", "--dh", "none"],
          ...["--cert", `${dir}/${me}.crt`, "--key", `${dir}/${me}.pem`, "--peer-fingerprint", fp[other]],
          ...["--data-ciphers", cipher, "--tun-mtu", "1434", "--mssfix", "0", "--fast-io", "--disable-dco"],
          ...["--verb", "3"],
        ];
        procs.push(new NsProcess(s.ns, argv, `${dir}/openvpn-${me}.log`));
      }
      return procs;
    },
  };
}

/** No tunnel: iperf3 straight over the veth, the ceiling. */
const vethRow: Row = {
  name: "veth",
  about: "no tunnel: the veth underlay itself (GSO/GRO apply), the ceiling",
  mtu: 1500,
  underlay: true,
  unavailable: () => Promise.resolve(undefined),
  start: () => Promise.resolve([]),
};

/** The rows this benchmark knows, by name, in the default order. */
export const ROWS: Record<string, Row> = {
  "veth": vethRow,
  "c-tappet": cTappetRow(),
  "tappet-legacy": tappetRow("tappet-legacy", "this tappet, legacy format, FFI socket", {
    protocol: "legacy",
    transport: "ffi",
  }),
  "tappet-current": tappetRow("tappet-current", "this tappet, current format, FFI socket", {
    protocol: "current",
    transport: "ffi",
  }),
  "tappet-legacy-deno": tappetRow("tappet-legacy-deno", "this tappet, legacy format, Deno socket", {
    protocol: "legacy",
    transport: "deno",
  }),
  "tappet-current-deno": tappetRow("tappet-current-deno", "this tappet, current format, Deno socket", {
    protocol: "current",
    transport: "deno",
  }),
  "tappet-current-no-offload": tappetRow(
    "tappet-current-no-offload",
    "this tappet, current format, FFI socket, TAP offloads off",
    { protocol: "current", transport: "ffi", extra: ["--offload", "off"] },
  ),
  "fastd": fastdRow(),
  "openvpn": openvpnRow(),
};

// ---------------------------------------------------------------- measuring

const CLK_TCK = 100;

/** utime + stime of `pid` and its threads, seconds. */
function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** The parts of iperf3's JSON that the benchmark reads. */
interface IperfSum {
  bytes: number;
  bits_per_second: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
  seconds: number;
}
interface IperfResult {
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
  const out = await sh(["ip", "netns", "exec", ns, "ping", "-n", "-c", "200", "-i", "0.01", to], {
    allowFail: true,
  });
  const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
  if (rtts.length === 0) throw new Error("no ping replies");
  const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
  return { p50: q(0.5), p99: q(0.99) };
}

/** Measures one row once. */
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
    const server = new NsProcess(pair.b.ns, ["iperf3", "-s"], `${dir}/iperf3-server.log`);
    procs.push(server);
    await new Promise((r) => setTimeout(r, 500));
    const cpu0 = procs.slice(0, -1).reduce((s, p) => s + cpuSeconds(p.pid), 0);
    const fwd = await iperf(pair.a.ns, ["-c", target, "-t", String(secs)]);
    const cpu1 = procs.slice(0, -1).reduce((s, p) => s + cpuSeconds(p.pid), 0);
    const bits = fwd.end.sum_received.bytes * 8;
    m.tcp_mbps = fwd.end.sum_received.bits_per_second / 1e6;
    m.tcp_retr = fwd.end.sum_sent.retransmits;
    if (!row.underlay) {
      m.tunnel_cpu_s = cpu1 - cpu0;
      m.mbit_per_cpu_s = bits / 1e6 / m.tunnel_cpu_s;
      // Frames through the tunnel: the data (MSS + 40 bytes of headers each)
      // and about one ACK for two the other way; each crosses two tunnel ends.
      const frames = (fwd.end.sum_received.bytes / (row.mtu - 40)) * 1.5;
      m.ns_per_frame = (m.tunnel_cpu_s * 1e9) / frames / 2;
    }
    const rev = await iperf(pair.a.ns, ["-c", target, "-t", String(secs), "-R"]);
    m.tcp_rev_mbps = rev.end.sum_received.bits_per_second / 1e6;
    const udp = await iperf(pair.a.ns, ["-c", target, "-u", "-l", "64", "-b", "0", "-t", "5"]);
    const sum = udp.end.sum_received ?? udp.end.sum;
    m.udp_pps = ((sum.packets ?? 0) - (sum.lost_packets ?? 0)) / sum.seconds;
    m.udp_loss_pct = sum.lost_percent;
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

// ---------------------------------------------------------------- reporting

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median over rounds of `field`, and of its per-round ratio to the reference row. */
export function summarize(results: Measurement[], rows: string[], reference: string) {
  const field = (r: string, f: keyof Measurement) =>
    results.filter((m) => m.row === r && m.ok).map((m) => m[f] as number);
  const ratio = (r: string, f: keyof Measurement) => {
    const out: number[] = [];
    for (const m of results.filter((m) => m.row === r && m.ok)) {
      const ref = results.find((x) => x.row === reference && x.round === m.round && x.ok);
      if (ref) out.push((m[f] as number) / (ref[f] as number));
    }
    return median(out);
  };
  return rows.map((r) => ({
    row: r,
    rounds: field(r, "tcp_mbps").length,
    tcp_mbps: median(field(r, "tcp_mbps")),
    tcp_rev_mbps: median(field(r, "tcp_rev_mbps")),
    mbit_per_cpu_s: median(field(r, "mbit_per_cpu_s")),
    ns_per_frame: median(field(r, "ns_per_frame")),
    udp_pps: median(field(r, "udp_pps")),
    rtt_p50_ms: median(field(r, "rtt_p50_ms")),
    rtt_p99_ms: median(field(r, "rtt_p99_ms")),
    tcp_ratio: ratio(r, "tcp_mbps"),
    tcp_rev_ratio: ratio(r, "tcp_rev_mbps"),
    cpu_ratio: ratio(r, "mbit_per_cpu_s"),
    udp_ratio: ratio(r, "udp_pps"),
    p99_ratio: ratio(r, "rtt_p99_ms"),
  }));
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "–");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");

/** The summary as a markdown table, ratios against `reference`. */
export function markdown(summary: ReturnType<typeof summarize>, reference: string): string {
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

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("bench: run as root (it makes network namespaces)");
    Deno.exit(2);
  }
  for (const tool of ["iperf3", "ping"]) {
    if ((await sh(["sh", "-c", `command -v ${tool} || true`])).trim() === "") {
      console.error(`bench: ${tool} is missing: apt-get install ${tool === "ping" ? "iputils-ping" : tool}`);
      Deno.exit(2);
    }
  }
  const rounds = Number(arg("rounds", "3"));
  const secs = Number(arg("secs", "10"));
  const wanted = arg("rows", Object.keys(ROWS).join(",")).split(",");
  const reference = arg(
    "reference",
    wanted.includes("c-tappet") && Deno.env.get("TAPPET_C_BIN") ? "c-tappet" : "tappet-legacy",
  );
  const out = arg("out", `bench-results/bench-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`);
  Deno.mkdirSync(out.replace(/\/[^/]*$/, ""), { recursive: true });
  const rows: Row[] = [];
  for (const name of wanted) {
    const row = ROWS[name];
    if (row === undefined) {
      console.error(`bench: no row named ${name}; rows: ${Object.keys(ROWS).join(", ")}`);
      Deno.exit(2);
    }
    const why = await row.unavailable();
    if (why) console.error(`bench: skipping ${name}: ${why}`);
    else rows.push(row);
  }
  const results: Measurement[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const [i, row] of rows.entries()) {
      console.error(`bench: round ${round}/${rounds}: ${row.name}`);
      const m = await measure(row, round, secs, 200 + i);
      results.push(m);
      Deno.writeTextFileSync(out, JSON.stringify(m) + "\n", { append: true });
      if (!m.ok) console.error(`bench: ${row.name} failed: ${m.error}`);
    }
  }
  const summary = summarize(results, rows.map((r) => r.name), reference);
  const date = new Date().toISOString().slice(0, 10);
  console.log(`${date}, ${rounds} rounds of ${secs} s, medians:\n`);
  console.log(markdown(summary, reference));
  const svg = out.replace(/\.jsonl$/, "") + ".svg";
  const title = `tappet benchmark, ${date}: ${rounds} rounds of ${secs} s, medians`;
  const drawn = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--node-modules-dir=none", `--lock=${CHART_LOCK}`, "-RW", CHART, out, svg, title],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`\nraw results: ${out}\nchart: ${drawn.success ? svg : "not drawn (see above)"}`);
}
