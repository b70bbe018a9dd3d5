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
 * - latency: 500 pings 10 ms apart, median and 99th percentile.
 *
 * Rows are set up and torn down in turn within each round, and every figure
 * is reported as a ratio to a reference row taken in the same round, then
 * the median over rounds: absolute numbers drift on a shared machine.
 *
 *     deno task bench [--rounds N] [--secs S] [--rows a,b,...] [--reference ROW] [--out FILE.jsonl]
 *                     [--baseline DIR]
 *     deno task bench --micro [--rows ...]
 *
 * `--micro` first times a full-size frame's seal and open alone in each
 * format (bench/micro.ts); alone it prints that and stops. With rows it
 * times them again at the start of every round, and prints what a
 * full-size frame's trip through each tappet row cost against them (tunnel
 * CPU per data frame, and its user-space part, over seal + open: the
 * median of the per-round ratios).
 *
 * `--baseline DIR` adds, after each of this tappet's rows, the same row run
 * from the checkout at DIR (for example a `git worktree` of the commit
 * before a change), named `ROW@base`: before and after, round by round in
 * one run, under the same load.
 *
 * Needs root, iperf3 and ping. Rows whose program is missing are skipped,
 * each with a line saying what to install. The rows are in bench/rows.ts,
 * the measuring in bench/measure.ts, the summary in bench/summary.ts; the
 * chart (ratios to the reference row) is drawn by chart.ts.
 *
 * @module
 */

import { sh } from "./netns.ts";
import { arg } from "./harness.ts";
import type { Row } from "./bench/row.ts";
import { baselineRow, ROWS } from "./bench/rows.ts";
import { measure } from "./bench/measure.ts";
import { markdown, type Measurement, sealOpenShare, summarize } from "./bench/summary.ts";
import { checksumMicro, currentMicro, legacyMicro, type MicroResult } from "./bench/micro.ts";
import { CURRENT_MTU, LEGACY_MTU } from "./bench/tappet.ts";
import { ETHERNET, IPV4 } from "./bench/row.ts";

/** The chart renderer, run with its own lockfile (see chart.ts). */
const CHART = new URL("./chart.ts", import.meta.url).pathname;
const CHART_LOCK = new URL("./chart.lock", import.meta.url).pathname;
/** Namespace pair numbers of the rows: 200, 201, ... (see createPair). */
const FIRST_PAIR_ID = 200;

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Seal + open of each format's largest frame in the tappet rows, timed
 * now, and printed (with `when`, the round, if in one). */
function sealOpen(when = ""): Record<"legacy" | "current", MicroResult> {
  const micro = { legacy: legacyMicro(LEGACY_MTU + ETHERNET), current: currentMicro(CURRENT_MTU + ETHERNET) };
  for (const [format, m] of Object.entries(micro)) {
    console.log(
      `micro${when}: ${format} format, seal + open of a ${m.frame}-byte frame alone: ${m.ns.toFixed(0)} ns`,
    );
  }
  return micro;
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
  const withMicro = Deno.args.includes("--micro");
  if (withMicro) {
    // With rows, seal + open is timed at the start of each round instead.
    const alone = !Deno.args.some((a) => a.startsWith("--rows"));
    if (alone) sealOpen();
    // A full-size frame's TCP segment: the TAP MTU less the IPv4 header.
    const c = checksumMicro(CURRENT_MTU - IPV4);
    console.log(
      `micro: Internet checksum of a ${c.bytes}-byte TCP segment: ${c.js.toFixed(0)} ns in JavaScript, ` +
        `${c.wasm.toFixed(0)} ns in WebAssembly`,
    );
    if (alone) Deno.exit(0);
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
  const baseline = arg("baseline", "");
  if (baseline !== "" && !existsFile(`${baseline}/main.ts`)) {
    console.error(`bench: --baseline ${baseline}: no main.ts there; give the root of a tappet checkout`);
    Deno.exit(2);
  }
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
    const base = baseline === "" || why ? undefined : baselineRow(name, baseline);
    if (base !== undefined) rows.push(base);
  }
  const results: Measurement[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Timed again in every round, beside the rows it is compared with: this
    // machine's speed moves by more than the differences measured.
    const micro = withMicro ? sealOpen(` (round ${round})`) : undefined;
    for (const [i, row] of rows.entries()) {
      console.error(`bench: round ${round}/${rounds}: ${row.name}`);
      const m = await measure(row, round, secs, FIRST_PAIR_ID + i);
      if (micro !== undefined && row.name.startsWith("tappet")) {
        m.seal_open_ns = micro[row.name.includes("legacy") ? "legacy" : "current"].ns;
      }
      results.push(m);
      Deno.writeTextFileSync(out, JSON.stringify(m) + "\n", { append: true });
      if (!m.ok) console.error(`bench: ${row.name} failed: ${m.error}`);
    }
  }
  const summary = summarize(results, rows.map((r) => r.name), reference);
  const date = new Date().toISOString().slice(0, 10);
  console.log(`${date}, ${rounds} rounds of ${secs} s, medians:\n`);
  console.log(markdown(summary, reference));
  for (const s of summary) {
    const share = sealOpenShare(results, s.row);
    if (share === undefined) continue;
    const us = (ns: number) => (ns / 1000).toFixed(2);
    console.log(
      `${s.row}: a full-size frame's trip (both ends, its ACKs' share included) cost ${
        us(share.trip_ns)
      } µs ` +
        `of tunnel CPU, ${us(share.user_ns)} µs of it in user space; its seal + open alone ${
          us(share.seal_open_ns)
        } µs: ${share.ratio.toFixed(2)}× (user space ${
          share.user_ratio.toFixed(2)
        }×), median of ${share.rounds} rounds`,
    );
  }
  const svg = out.replace(/\.jsonl$/, "") + ".svg";
  const title = `tappet benchmark, ${date}: ${rounds} rounds of ${secs} s, medians`;
  const drawn = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--node-modules-dir=none",
      `--lock=${CHART_LOCK}`,
      "-RW",
      CHART,
      out,
      svg,
      title,
      reference,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`\nraw results: ${out}\nchart: ${drawn.success ? svg : "not drawn (see above)"}`);
}
