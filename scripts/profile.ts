/**
 * `deno task profile`: where a tunnel's CPU time goes in the steady state.
 * Runs both ends under V8's sampling profiler (`--cpu-prof`) between two
 * namespaces while iperf3 sends TCP from a to b, stops them with SIGTERM
 * (the profile is written at exit), and prints each end's top functions by
 * self time. Time spent in an FFI call (a system call, a libsodium call)
 * counts as the self time of the function that made it; `wait` is poll()
 * blocked with nothing to do.
 *
 *     deno task profile [--protocol current|legacy] [--transport ffi|deno] [--load tcp|udp64]
 *                       [--secs 10] [--top 12]
 *
 * `--load udp64` sends 64-byte UDP datagrams as fast as iperf3 can instead
 * (the small-packet row of `deno task bench`).
 *
 * Needs root and iperf3. The `.cpuprofile` files stay in the directory it
 * names, for Chrome's DevTools.
 *
 * @module
 */

import { createPair, sh, waitForPing } from "./netns.ts";
import { arg, NsProcess, startTappets } from "./harness.ts";
import { receivedPps, UDP_LOAD_ARGS } from "./bench/measure.ts";

/** The parts of a `.cpuprofile` this script reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  /** µs since the previous sample. */
  timeDeltas: number[];
}

/** Self time by function ("name file:line"), µs, and the total sampled. */
export function selfTimes(profile: CpuProfile): { total: number; byFunction: [string, number][] } {
  const bySample = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    bySample.set(id, (bySample.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  );
  const byName = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = bySample.get(node.id) ?? 0;
    total += t;
    const f = node.callFrame;
    const where = f.url === "" ? "" : ` ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
    const key = `${f.functionName || "(anonymous)"}${where}`;
    byName.set(key, (byName.get(key) ?? 0) + t);
  }
  return { total, byFunction: [...byName].sort((x, y) => y[1] - x[1]) };
}

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("profile: run as root (it makes network namespaces)");
    Deno.exit(2);
  }
  const protocol = arg("protocol", "current") === "legacy" ? "legacy" : "current";
  const transport = arg("transport", "ffi") === "deno" ? "deno" : "ffi";
  const load = arg("load", "tcp") === "udp64" ? "udp64" : "tcp";
  const secs = arg("secs", "10");
  const top = Number(arg("top", "12"));
  const pair = await createPair({ id: 62, prefix: "tappet-prof", mtu: protocol === "legacy" ? 1402 : 1434 });
  const dir = Deno.makeTempDirSync({ prefix: "tappet-profile-" });
  const procs: NsProcess[] = [];
  try {
    procs.push(
      ...await startTappets(pair, dir, {
        protocol,
        transport,
        denoFlags: (me) => ["--cpu-prof", `--cpu-prof-dir=${dir}/${me}`],
      }),
    );
    if (!await waitForPing(pair.a.ns, pair.b.overlay)) throw new Error("the tunnel did not come up");
    const iperfServer = new NsProcess(pair.b.ns, ["iperf3", "-s"], `${dir}/iperf3.log`);
    await new Promise((r) => setTimeout(r, 500));
    const out = await sh([
      "ip",
      "netns",
      "exec",
      pair.a.ns,
      "iperf3",
      "-c",
      pair.b.overlay,
      "-t",
      secs,
      "-J",
      ...(load === "udp64" ? UDP_LOAD_ARGS : []),
    ]);
    await iperfServer.stop();
    const end = JSON.parse(out).end;
    const rate = load === "udp64"
      ? `${(receivedPps(end) / 1000).toFixed(0)} k 64 B datagrams/s`
      : `${(end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`;
    console.log(`profile: ${protocol} format, ${transport} socket, ${secs} s of ${load} a → b: ${rate}`);
    for (const [i, me] of [[1, "a"], [0, "b"]] as const) { // startTappets returns [b, a]
      const status = await procs[i].stop("SIGTERM", 10_000);
      if (status.code !== 0) throw new Error(`${me} exited with ${status.code}: see ${dir}/${me}.log`);
      for (const f of Deno.readDirSync(`${dir}/${me}`)) {
        const { total, byFunction } = selfTimes(JSON.parse(Deno.readTextFileSync(`${dir}/${me}/${f.name}`)));
        console.log(
          `\n${me === "a" ? "a (sends)" : "b (receives)"}: ${(total / 1e6).toFixed(1)} s sampled`,
        );
        for (const [name, t] of byFunction.slice(0, top)) {
          console.log(`${(100 * t / total).toFixed(1).padStart(6)}%  ${name}`);
        }
      }
    }
    console.log(`\nprofiles: ${dir}/a and ${dir}/b`);
  } finally {
    for (const p of procs) await p.stop("SIGKILL", 1000);
    await pair.destroy();
  }
}
