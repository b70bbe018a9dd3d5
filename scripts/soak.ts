/**
 * `deno task soak`: a long run of TCP traffic both ways through one tunnel
 * between two namespaces (not part of the tests). Each minute it reports the
 * throughput each way and the resident memory of both tappet processes; at
 * the end, their counters, the errors they logged, and how often V8 had to
 * collect garbage (a measure of what the packet path allocates).
 *
 *     deno task soak [--minutes 10] [--protocol current|legacy] [--transport ffi|deno]
 *
 * Needs root and iperf3. Exits 1 when the tunnel failed, a transfer stopped,
 * or resident memory grew by more than 10% after the first minute.
 *
 * @module
 */

import { createPair, sh, waitForPing } from "./netns.ts";
import { arg, counters, NsProcess, startTappets } from "./harness.ts";

/** Resident set size of `pid`, KiB. */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

interface Minute {
  minute: number;
  fwdMbps: number;
  revMbps: number;
  rssA: number;
  rssB: number;
}

if (import.meta.main) {
  const minutes = Number(arg("minutes", "10"));
  const protocol = arg("protocol", "current");
  const transport = arg("transport", "ffi");
  if (Deno.uid() !== 0) {
    console.error("soak: run as root (it makes network namespaces)");
    Deno.exit(2);
  }
  const legacy = protocol === "legacy";
  const pair = await createPair({ id: 61, prefix: "tappet-soak", mtu: legacy ? 1402 : 1434 });
  const dir = Deno.makeTempDirSync({ prefix: "tappet-soak-" });
  const procs: NsProcess[] = [];
  let failed = false;
  const cleanup = async () => {
    for (const p of procs) await p.stop("SIGTERM", 3000);
    await pair.destroy();
    Deno.removeSync(dir, { recursive: true });
  };
  Deno.addSignalListener("SIGINT", () => cleanup().finally(() => Deno.exit(130)));
  try {
    const { a, b } = pair;
    procs.push(
      ...await startTappets(pair, dir, {
        protocol: legacy ? "legacy" : "current",
        transport: transport === "deno" ? "deno" : "ffi",
        denoFlags: () => ["--v8-flags=--trace-gc"],
      }),
    );
    if (!await waitForPing(a.ns, b.overlay)) throw new Error("the tunnel did not come up");
    const server = new NsProcess(b.ns, ["iperf3", "-s"], `${dir}/iperf3.log`);
    procs.push(server);
    await new Promise((r) => setTimeout(r, 500));
    const [pa, pb] = [procs[1].pid, procs[0].pid];
    console.log(`soak: ${minutes} min of TCP both ways, ${protocol} format, ${transport} socket`);
    console.log(`start: RSS a ${rssKiB(pa)} KiB, b ${rssKiB(pb)} KiB`);
    console.log("| minute | a → b Mbit/s | b → a Mbit/s | RSS a KiB | RSS b KiB |\n|---|---|---|---|---|");
    const rows: Minute[] = [];
    for (let m = 1; m <= minutes; m++) {
      const out = await sh([
        "ip",
        "netns",
        "exec",
        a.ns,
        "iperf3",
        "-c",
        b.overlay,
        "-t",
        "60",
        "--bidir",
        "-J",
      ], {
        allowFail: true,
      });
      const json = JSON.parse(out || "{}");
      if (json.error) throw new Error(`minute ${m}: iperf3: ${json.error}`);
      const fwd = json.end.sum_received.bits_per_second / 1e6;
      const rev = json.end.sum_received_bidir_reverse.bits_per_second / 1e6;
      const row = { minute: m, fwdMbps: fwd, revMbps: rev, rssA: rssKiB(pa), rssB: rssKiB(pb) };
      rows.push(row);
      console.log(`| ${m} | ${fwd.toFixed(0)} | ${rev.toFixed(0)} | ${row.rssA} | ${row.rssB} |`);
      if (fwd < 1 || rev < 1) {
        failed = true;
        console.log(`minute ${m}: a transfer stopped`);
      }
    }
    for (const p of procs.splice(0, 2)) {
      const status = await p.stop("SIGTERM");
      const log = p.text();
      const who = p.log.endsWith("a.log") ? "a" : "b";
      const c = counters(log);
      const scavenges = (log.match(/Scavenge/g) ?? []).length;
      const frames = c.txFrames + c.rxFrames;
      const drops = Object.entries(c).filter(([k]) => k.startsWith("drop")).reduce(
        (sum, [, v]) => sum + v,
        0,
      );
      const errors = log.split("\n").filter((l) =>
        /tappet: (warning|error)/.test(l) && !/running as root/.test(l)
      );
      console.log(
        `${who}: exit ${status.code}; ${frames} frames; ${scavenges} scavenges (${
          (scavenges / (frames / 1e6)).toFixed(1)
        } per million frames); drops ${drops}; ${errors.length} warnings`,
      );
      for (const e of errors.slice(0, 5)) console.log(`  ${e}`);
      if (status.code !== 0) failed = true;
    }
    const after = rows.slice(1);
    if (after.length === 0) console.log("memory growth: not judged, it needs 2 minutes or more");
    for (const key of after.length > 0 ? ["rssA", "rssB"] as const : []) {
      const values = after.map((r) => r[key]);
      const growth = (Math.max(...values) - values[0]) / values[0];
      console.log(
        `${key}: minute 2 ${values[0]} KiB, max ${Math.max(...values)} KiB: ${
          (growth * 100).toFixed(1)
        }% growth`,
      );
      if (growth > 0.1) failed = true;
    }
  } catch (e) {
    failed = true;
    console.error(`soak failed: ${(e as Error).message}`);
    for (const p of procs) console.error(`--- ${p.log}\n${p.text().slice(-2000)}`);
  } finally {
    await cleanup();
  }
  console.log(failed ? "soak: FAILED" : "soak: ok");
  Deno.exit(failed ? 1 : 0);
}
