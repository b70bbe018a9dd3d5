/**
 * The benchmark's chart: one SVG with a panel per measure (TCP both ways,
 * Mbit per tunnel CPU-second, small packets, ping median and 99th
 * percentile), each bar a row's ratio to the reference row (the 2014 C
 * tappet when it ran): taken per round, then the median, as in the table.
 * The axis is logarithmic and bars grow from 1×, so a row twice as fast and
 * one half as fast are drawn the same length on either side, and the
 * ceilings (veth, kernel VXLAN) do not flatten the tunnels. Drawn with
 * Vega-Lite and rendered headless by Vega.
 *
 *     deno run --lock=scripts/chart.lock -R -W scripts/chart.ts RESULTS.jsonl [OUT.svg [TITLE [REFERENCE]]]
 *
 * REFERENCE defaults to c-tappet when the results have it, else
 * tappet-legacy. Vega is 50 MB of npm packages that only the benchmark
 * needs, so it has a lockfile of its own (`scripts/chart.lock`): `deno.lock`,
 * which every run of tappet from source installs, stays free of it. The
 * benchmark runs this script as a subprocess.
 *
 * @module
 */

import * as vega from "npm:vega@6.4.0";
import * as vl from "npm:vega-lite@6.5.0";
import { type Figure, type Measurement, ratioBars } from "./bench/summary.ts";

/** The panels: the figure and its title; for ping, lower is better. */
const MEASURES: [Figure, string][] = [
  ["tcp_mbps", "TCP"],
  ["tcp_rev_mbps", "TCP −R"],
  ["mbit_per_cpu_s", "Mbit per tunnel CPU-second"],
  ["udp_pps", "64-byte UDP packets received per second"],
  ["rtt_p50_ms", "ping p50 (lower is better)"],
  ["rtt_p99_ms", "ping p99 (lower is better)"],
];

/** The chart of `results` (rows in `order`, ratios to `reference`) as an SVG document. */
export async function chart(
  results: Measurement[],
  order: string[],
  title: string,
  reference: string,
): Promise<string> {
  const label = new Map(MEASURES);
  const bars = ratioBars(results, order, MEASURES.map((m) => m[0]), reference).map((b) => ({
    row: b.row,
    measure: label.get(b.field),
    ratio: b.ratio,
    text: `${b.ratio.toFixed(2)}×`,
    tappet: b.row.startsWith("tappet"),
  }));
  const rows = order.filter((r) => bars.some((b) => b.row === r));
  const y = { field: "row", type: "nominal", sort: rows, title: null } as const;
  const x = { field: "ratio", type: "quantitative" } as const;
  const text = { field: "text" } as const;
  const spec: vl.TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: title,
      subtitle: `each bar: median over rounds of the ratio to ${reference} in the same round`,
    },
    config: { axis: { labelLimit: 240 } },
    data: { values: bars },
    facet: { field: "measure", type: "nominal", title: null, sort: MEASURES.map((m) => m[1]) },
    columns: 2,
    spec: {
      width: 300,
      height: { step: 16 },
      layer: [
        {
          mark: { type: "bar", tooltip: true },
          encoding: {
            y,
            x: {
              field: "ratio",
              type: "quantitative",
              scale: { type: "log" },
              title: `× ${reference} (log scale)`,
            },
            x2: { datum: 1 },
            color: {
              field: "tappet",
              type: "nominal",
              scale: { domain: [true, false], range: ["#d95f02", "#7570b3"] },
              legend: null,
            },
          },
        },
        { mark: { type: "rule", color: "#333" }, encoding: { x: { datum: 1 } } },
        // The value at the end of each bar: right of it above 1×, left of it below.
        {
          transform: [{ filter: "datum.ratio >= 1" }],
          mark: { type: "text", align: "left", dx: 3, fontSize: 10 },
          encoding: { y, x, text },
        },
        {
          transform: [{ filter: "datum.ratio < 1" }],
          mark: { type: "text", align: "right", dx: -3, fontSize: 10 },
          encoding: { y, x, text },
        },
      ],
    },
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  return await view.toSVG();
}

if (import.meta.main) {
  const [input, output, title, ref] = Deno.args;
  if (!input) {
    console.error("usage: chart.ts RESULTS.jsonl [OUT.svg [TITLE [REFERENCE]]]");
    Deno.exit(2);
  }
  const results = Deno.readTextFileSync(input).trim().split("\n").map((l) => JSON.parse(l) as Measurement);
  const order = [...new Set(results.map((m) => m.row))];
  const reference = ref ?? (order.includes("c-tappet") ? "c-tappet" : "tappet-legacy");
  if (!results.some((m) => m.row === reference && m.ok)) {
    console.error(
      `chart: ${input} has no successful ${reference} row to take ratios to; pass another REFERENCE`,
    );
    Deno.exit(2);
  }
  const name = title ?? `tappet benchmark (${input.replace(/.*\//, "")})`;
  Deno.writeTextFileSync(
    output ?? input.replace(/\.jsonl$/, ".svg"),
    await chart(results, order, name, reference),
  );
}
