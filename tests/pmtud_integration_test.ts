/**
 * Path MTU probing in real tunnels: three namespaces a — r — b (scripts/
 * netns3.ts) where the r—b link has MTU 1280 and the TAPs stay at 1500,
 * over IPv4 and IPv6, with r forwarding ICMP and with r dropping all of it
 * (a black hole for ICMP-based discovery). Both ends log (-v) that the path
 * MTU they probed is 1280 (one line per change), and `status` says so with
 * the TAP MTU that fits; the probes are counted on both sides and none
 * reached a TAP. Then, with the TAPs still at 1500, a 20 MB TCP transfer
 * completes through the probing tunnel (MSS clamping, ICMP into the TAP and
 * fragments, tunnel/path.ts, fit it to the path). Needs root.
 */

import { strict as assert } from "node:assert";
import { statusJson } from "./_ops.ts";
import type { NetnsTriple } from "../scripts/netns3.ts";
import { waitForPing } from "../scripts/netns.ts";
import { counters, type NsProcess, startTappets, transfer } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { withTriple } from "./_triple.ts";

const canRun = isRoot() && (() => {
  try {
    return new Deno.Command("nft", { args: ["--version"] }).outputSync().success;
  } catch {
    return false;
  }
})();

/** Runs `body` over a fresh triple with tappet at both ends; cleans up. */
function withTappets(id: number, family: 4 | 6, body: (t: NetnsTriple, procs: NsProcess[]) => Promise<void>) {
  return withTriple(id, family, "tappet-pmtud-", async (t, dir, procs) => {
    procs.push(...await startTappets(t, dir, { protocol: "current" }));
    await body(t, procs);
  });
}

/** r drops every ICMP and ICMPv6 packet it forwards or sends: its own
 * "fragmentation needed" / "packet too big" leave through the output hook,
 * not forward. (netns3.ts's own dropIcmp names its chain `fwd`, an nft
 * keyword, and fails, and hooks forward only; this table is this file's,
 * and goes with r's namespace.) Neighbour discovery still works: ICMPv6
 * types 133..137 pass. */
async function dropIcmp(t: NetnsTriple): Promise<void> {
  const nft = (...args: string[]) => t.exec(t.r, ["nft", ...args]);
  await nft("add", "table", "inet", "tappet_probe_test");
  for (const hook of ["forward", "output"]) {
    await nft(`add chain inet tappet_probe_test ${hook} { type filter hook ${hook} priority 0 ; }`);
    await nft(`add rule inet tappet_probe_test ${hook} meta l4proto icmp counter drop`);
    await nft(
      `add rule inet tappet_probe_test ${hook} icmpv6 type != { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } counter drop`,
    );
  }
}

/** Packets r's ICMP rule dropped. */
async function icmpDropped(t: NetnsTriple): Promise<number> {
  const out = await t.exec(t.r, ["nft", "list", "table", "inet", "tappet_probe_test"]);
  return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

const CASES = [
  { id: 71, family: 4, icmp: "passed" },
  { id: 72, family: 4, icmp: "dropped" },
  { id: 73, family: 6, icmp: "passed" },
  { id: 74, family: 6, icmp: "dropped" },
] as const;

for (const c of CASES) {
  Deno.test({
    name: `pmtud: a — r — b, r—b MTU 1280, IPv${c.family}, ICMP ${c.icmp}: both ends probe 1280${
      c.id === 72 ? ", and 20 MB cross" : ""
    }`,
    ignore: !canRun,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await withTappets(c.id, c.family, async (t, [b, a]) => {
        if (c.icmp === "dropped") await dropIcmp(t);
        assert.ok(await waitForPing(t.a.ns, t.b.overlay, 30), "the tunnel carries small frames");
        const line = /path MTU to \S+ (?:is|changed to) 1280 bytes \(probed: datagrams up to (\d+) bytes\)/;
        await a.waitFor(line, 120_000);
        await b.waitFor(line, 120_000);
        const datagram = c.family === 6 ? 1232 : 1252;
        assert.equal(Number(a.text().match(line)![1]), datagram);
        // status says it too, with the TAP MTU that fits: 1280 − IP − UDP − 24 − 14.
        for (const ns of [t.a.ns, t.b.ns]) {
          const st = await statusJson(ns);
          assert.equal(st.path_mtu, 1280, ns);
          assert.equal(st.tap_mtu, 1500, ns);
          assert.equal(st.tap_mtu_advised, c.family === 6 ? 1194 : 1214, ns);
        }
        if (c.id === 72) {
          // The TAPs stay at 1500: clamping, ICMP and fragments fit TCP to the path.
          const r = await transfer(t, 20_000_000);
          assert.equal(r.received.bytes, 20_000_000);
          assert.equal(r.received.sha256, r.sent.sha256);
          console.log(`20 MB in ${r.received.seconds.toFixed(1)} s, ${r.mbps.toFixed(0)} Mbit/s`);
        }
        await a.stop("SIGTERM");
        await b.stop("SIGTERM");
        // One -v line per change: a assumed its 1500-byte link, then probed
        // less; b assumed its 1280-byte link, and the probes confirmed it.
        const fits = c.family === 6 ? 1194 : 1214;
        const said = (p: NsProcess) => p.text().split("\n").filter((l) => l.includes("path MTU to"));
        const path = (change: string, mtu: number, why: string, tap: number) =>
          new RegExp(`^tappet: path MTU to \\S+ ${change} ${mtu} bytes \\(${why}\\): .* TAP MTU ${tap}$`);
        const [aLines, bLines] = [said(a), said(b)];
        assert.equal(aLines.length, 2, aLines.join("\n"));
        assert.match(aLines[0], path("is", 1500, "the underlay interface's MTU", fits + 1500 - 1280));
        assert.match(aLines[1], path("changed to", 1280, `probed: datagrams up to ${datagram} bytes`, fits));
        assert.equal(bLines.length, 2, bLines.join("\n"));
        assert.match(bLines[0], path("is", 1280, "the underlay interface's MTU", fits));
        assert.match(bLines[1], path("is", 1280, `probed: datagrams up to ${datagram} bytes`, fits));
        const ca = counters(a.text());
        const cb = counters(b.text());
        // (Over IPv6 the base, 1232, is the answer: only it is acknowledged.)
        assert.ok(ca.probesSent >= 4 && ca.probeAcks >= 1, `a: ${ca.probesSent} sent, ${ca.probeAcks} acked`);
        assert.ok(cb.probesAnswered >= 1 && ca.probesAnswered >= 1, "each answered the other's probes");
        if (c.icmp === "dropped") assert.ok((await icmpDropped(t)) > 0, "r dropped ICMP errors");
        assert.equal(ca.dropMalformed + cb.dropMalformed, 0);
        assert.equal(ca.dropTapWrite + cb.dropTapWrite, 0, "no probe went to a TAP");
      });
    },
  });
}
