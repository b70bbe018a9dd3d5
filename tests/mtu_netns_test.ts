/**
 * Issue 14 over real namespaces a — r — b (scripts/netns3.ts): the r—b link
 * has MTU 1280, the TAPs are left at 1500, and tappet is told the path
 * (`--path-mtu 1280`: probing is another branch's). Needs root.
 */

import { strict as assert } from "node:assert";
import type { NetnsTriple } from "../scripts/netns3.ts";
import { sh, waitForPing } from "../scripts/netns.ts";
import { counters, startTappets, transfer } from "../scripts/harness.ts";
import { withTriple } from "./_triple.ts";

const MB20 = 20 * 1024 * 1024;

/** Runs `ping ARGS TO` in a's namespace to the end, a failure allowed (ARGS
 * split at spaces): what it printed. */
function pingOut(t: NetnsTriple, args: string, to: string): Promise<string> {
  return t.exec(t.a.ns, ["ping", ...args.split(" "), to], { allowFail: true });
}

/** Sends from r a forged ICMP "fragmentation needed, MTU 552" to a's
 * underlay address, quoting a UDP datagram of a's socket to b. */
async function forgeFragNeeded(t: NetnsTriple, aPort: number, bPort: number): Promise<void> {
  const py = `
import socket, struct
def csum(b):
    if len(b) % 2: b += b"\\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
a, b = socket.inet_aton("${t.a.underlay}"), socket.inet_aton("${t.b.underlay}")
inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1280, 1, 0x4000, 64, 17, 0, a, b)
inner = inner[:10] + struct.pack("!H", csum(inner)) + inner[12:]
inner += struct.pack("!HHHH", ${aPort}, ${bPort}, 1260, 0)
icmp = struct.pack("!BBHHH", 3, 4, 0, 0, 552) + inner
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for _ in range(3): s.sendto(icmp, ("${t.a.underlay}", 0))
`;
  await t.exec(t.r, ["python3", "-c", py]);
}

Deno.test({
  name:
    "mtu (IPv4 underlay, 1280 path, TAPs at 1500): ICMP back, fragments, clamped TCP, forged ICMP ignored",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTriple(61, 4, "tappet-mtu-", async (t, dir, procs) => {
      procs.push(...await startTappets(t, dir, { protocol: "current", extra: ["--path-mtu", "1280"] }));
      assert.ok(await waitForPing(t.a.ns, t.b.overlay, 20), "no ping through the tunnel");
      const [b, a] = procs;
      await a.waitFor(
        /path MTU to \S+ is 1280 bytes \(--path-mtu\): frames up to 1228 bytes fit, TAP MTU 1214/,
      );
      // Without DF (and without the kernel fragmenting: -M dont), before any
      // ICMP taught a's kernel the path: tappet cuts it.
      const frag = await pingOut(t, "-n -c 3 -i 0.2 -W 2 -M dont -s 1400", t.b.overlay);
      assert.match(frag, /3 received/, frag);
      // TCP with the TAPs at 1500: clamping makes segments fit, nothing refused.
      const r = await transfer(t, MB20);
      assert.equal(r.received.bytes, MB20);
      assert.equal(r.received.sha256, r.sent.sha256);
      console.log(`20 MB over the 1280 path: ${r.mbps.toFixed(0)} Mbit/s`);
      // 1280 − 20 − 8 (IP, UDP) − 24 (current format) − 14 (Ethernet) = 1214.
      const df = await pingOut(t, "-n -c 2 -W 2 -M do -s 1400", t.b.overlay);
      assert.match(df, /Frag needed and DF set \(mtu = 1214\)|mtu[= ]+1214/, df);
      // IPv6 inside over the IPv4 underlay: 1248-byte packets go fragmentable.
      assert.ok(await waitForPing(t.a.ns, t.overlay6.b, 10), "no IPv6 ping through the tunnel");
      const six = await pingOut(t, "-6 -n -c 3 -i 0.2 -W 3 -s 1200", t.overlay6.b);
      assert.match(six, /3 received/, six);
      // A forged "fragmentation needed, MTU 552" for a's socket changes nothing.
      const aPort = Number(/from [\d.]+:(\d+)/.exec(a.text())?.[1]);
      assert.ok(aPort > 0, "a's port not in its log");
      await forgeFragNeeded(t, aPort, 7011);
      await new Promise((res) => setTimeout(res, 300));
      const full = await pingOut(t, "-n -c 3 -i 0.2 -W 2 -M do -s 1186", t.b.overlay);
      assert.match(full, /3 received/, `full-size frames after the forged ICMP:\n${full}`);
      await a.stop();
      await b.stop();
      const ca = counters(a.text());
      const cb = counters(b.text());
      assert.ok(
        ca.mssClamped + cb.mssClamped >= 2,
        `SYN and SYN-ACK clamped: ${ca.mssClamped}, ${cb.mssClamped}`,
      );
      assert.ok(ca.mtuIcmpSent >= 1, `ICMP sent: ${ca.mtuIcmpSent}`);
      assert.ok(
        ca.mtuFragmented >= 3 && ca.mtuFragments >= 6,
        `fragmented: ${ca.mtuFragmented}/${ca.mtuFragments}`,
      );
      assert.equal(ca.dropTxMsgSize, 0);
      assert.ok(ca.mtuKernelFragmented >= 3, `kernel-fragmented: ${ca.mtuKernelFragmented}`);
    }),
});

Deno.test({
  name: "mtu (IPv6 underlay, legacy format): --set-mtu sets the TAP MTU; 20 MB of TCP over the 1280 path",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTriple(62, 6, "tappet-mtu-", async (t, dir, procs) => {
      // Warm up the router's neighbour discovery (about 2 s on IPv6).
      await pingOut(t, "-c 1 -W 5", t.b.underlay);
      procs.push(
        ...await startTappets(t, dir, { protocol: "legacy", extra: ["--path-mtu", "1280", "--set-mtu"] }),
      );
      const [b, a] = procs;
      // 1280 − 40 − 8 (IPv6, UDP) − 56 (legacy) − 14 (Ethernet) = 1162 fits,
      // but --set-mtu never goes below IPv6's 1280: the rest go fragmentable.
      await a.waitFor(/TAP MTU 1162/);
      await a.waitFor(/set the MTU of tp0 to 1280/);
      await b.waitFor(/set the MTU of tp0 to 1280/);
      const link = JSON.parse(await sh(["ip", "-n", t.a.ns, "-j", "link", "show", "tp0"]));
      assert.equal(link[0].mtu, 1280);
      assert.ok(await waitForPing(t.a.ns, t.b.overlay, 20), "no ping through the tunnel");
      const r = await transfer(t, MB20);
      assert.equal(r.received.bytes, MB20);
      assert.equal(r.received.sha256, r.sent.sha256);
      console.log(`20 MB over the 1280 IPv6 path (legacy): ${r.mbps.toFixed(0)} Mbit/s`);
      assert.ok(await waitForPing(t.a.ns, t.overlay6.b, 10), "no IPv6 ping through the tunnel");
      // IPv6 inside, 1248-byte packets: too big for the path after the
      // overhead, too small for "packet too big": sent for the kernel to cut
      // at the path MTU, which it learns from r's "packet too big" for the
      // first (which may be lost: one warm-up ping each way).
      await pingOut(t, "-6 -c 2 -W 1 -s 1200", t.overlay6.b);
      const six = await pingOut(t, "-6 -n -c 3 -i 0.2 -W 3 -s 1200", t.overlay6.b);
      assert.match(six, /3 received/, six);
      await a.stop();
      const ca = counters(a.text());
      assert.ok(ca.mtuKernelFragmented >= 3, `kernel-fragmented: ${ca.mtuKernelFragmented}`);
      assert.ok(ca.mssClamped >= 1, `clamped: ${ca.mssClamped}`);
    }),
});

Deno.test({
  name: "mtu: without --path-mtu each end takes the MTU of the interface its route to the peer uses",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTriple(63, 4, "tappet-mtu-", async (t, dir, procs) => {
      procs.push(...await startTappets(t, dir, { protocol: "legacy" }));
      const [b, a] = procs;
      assert.ok(await waitForPing(t.a.ns, t.b.overlay, 20), "no ping through the tunnel");
      // a's route to b leaves by a 1500-byte link (the narrower one is beyond:
      // that is what --path-mtu, or the current format's probing, is for); b's
      // by the 1280-byte link, looked up once b has heard from a.
      await a.waitFor(
        /path MTU to \S+ is 1500 bytes \(the underlay interface's MTU\): frames up to 1416 bytes fit, TAP MTU 1402/,
      );
      await b.waitFor(
        /path MTU to \S+ is 1280 bytes \(the underlay interface's MTU\): frames up to 1196 bytes fit, TAP MTU 1182/,
      );
    }),
});

Deno.test({
  name: "mtu: with r an ICMP black hole, MSS clamping alone carries 20 MB of TCP over the 1280 path",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTriple(64, 4, "tappet-mtu-", async (t, dir, procs) => {
      await t.dropIcmp();
      procs.push(...await startTappets(t, dir, { protocol: "current", extra: ["--path-mtu", "1280"] }));
      const [b, a] = procs;
      assert.ok(await waitForPing(t.a.ns, t.b.overlay, 20), "no ping through the tunnel");
      const r = await transfer(t, MB20);
      assert.equal(r.received.sha256, r.sent.sha256);
      await a.stop();
      await b.stop();
      const ca = counters(a.text());
      const cb = counters(b.text());
      // Clamped both ways; no segment too big, so no ICMP was needed.
      assert.ok(ca.mssClamped >= 1 && cb.mssClamped >= 1, `clamped: ${ca.mssClamped}, ${cb.mssClamped}`);
      assert.equal(ca.mtuTooBig + cb.mtuTooBig, 0);
      assert.equal(ca.dropTxMsgSize + cb.dropTxMsgSize, 0);
    }),
});
