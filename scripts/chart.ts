/**
 * The benchmark's chart: one SVG with a panel per measure (TCP both ways,
 * Mbit per tunnel CPU-second, small packets, latency), drawn with Vega-Lite
 * and rendered headless by Vega.
 *
 *     deno run --lock=scripts/chart.lock -R -W scripts/chart.ts RESULTS.jsonl [OUT.svg [TITLE]]
 *
 * Vega is 50 MB of npm packages that only the benchmark needs, so it has a
 * lockfile of its own (`scripts/chart.lock`): `deno.lock`, which every run of
 * tappet from source installs, stays free of it. The benchmark runs this
 * script as a subprocess.
 *
 * @module
 */

import * as vega from "npm:vega@6.4.0";
import * as vl from "npm:vega-lite@6.5.0";
import type { Measurement } from "./bench/summary.ts";

/** One bar: a row's median for one measure. */
interface Bar {
  row: string;
  measure: string;
  value: number;
  tappet: boolean;
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const MEASURES: [keyof Measurement, string, number][] = [
  ["tcp_mbps", "TCP Mbit/s", 1],
  ["tcp_rev_mbps", "TCP −R Mbit/s", 1],
  ["mbit_per_cpu_s", "Mbit per tunnel CPU-second", 1],
  ["udp_pps", "64-byte UDP, k packets/s", 1e-3],
  ["rtt_p99_ms", "ping p99, ms (lower is better)", 1],
];

/** The chart of `results` (rows in `order`) as an SVG document. */
export async function chart(results: Measurement[], order: string[], title: string): Promise<string> {
  const bars: Bar[] = [];
  for (const row of order) {
    const ok = results.filter((m) => m.row === row && m.ok);
    if (ok.length === 0) continue;
    for (const [field, measure, scale] of MEASURES) {
      const value = median(ok.map((m) => (m[field] as number) * scale));
      if (Number.isFinite(value)) bars.push({ row, measure, value, tappet: row.startsWith("tappet") });
    }
  }
  const spec: vl.TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    config: { axis: { labelLimit: 240 } },
    data: { values: bars },
    facet: { field: "measure", type: "nominal", title: null, sort: MEASURES.map((m) => m[1]) },
    columns: 1,
    resolve: { scale: { x: "independent" } },
    spec: {
      width: 520,
      height: { step: 16 },
      mark: { type: "bar", tooltip: true },
      encoding: {
        y: { field: "row", type: "nominal", sort: order, title: null },
        x: { field: "value", type: "quantitative", title: null },
        color: {
          field: "tappet",
          type: "nominal",
          scale: { domain: [true, false], range: ["#d95f02", "#7570b3"] },
          legend: null,
        },
      },
    },
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  return await view.toSVG();
}

if (import.meta.main) {
  const [input, output, title] = Deno.args;
  if (!input) {
    console.error("usage: chart.ts RESULTS.jsonl [OUT.svg [TITLE]]");
    Deno.exit(2);
  }
  const results = Deno.readTextFileSync(input).trim().split("\n").map((l) => JSON.parse(l) as Measurement);
  const order = [...new Set(results.map((m) => m.row))];
  const svg = await chart(results, order, title ?? `tappet benchmark (${input.replace(/.*\//, "")})`);
  Deno.writeTextFileSync(output ?? input.replace(/\.jsonl$/, ".svg"), svg);
}
