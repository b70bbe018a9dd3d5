/**
 * Faults a tunnel must survive, and hostile traffic it must drop and count,
 * in real tunnels between network namespaces, for both wire formats: a
 * restarted peer, a client that changes address, an underlay that goes
 * away and comes back, a deleted TAP, signals, forged and replayed
 * datagrams, and a flood of junk during a transfer. Needs root.
 */

import { strict as assert } from "node:assert";
import { ping, sh, waitForPing } from "../scripts/netns.ts";
import { type Bed, counters, keygen, NsProcess, tappetArgv, transfer, withBed } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { capture, sendDatagrams } from "./_capture.ts";
import { HEADROOM, LegacySession } from "../core/legacy.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { PacketBuffer } from "../core/packet.ts";
import { DATA } from "../core/current_wire.ts";

const PORT = 1011;
const FORMATS = ["legacy", "current"] as const;
type Format = typeof FORMATS[number];

interface FaultBed extends Bed {
  format: Format;
  /** Starts side a (client) or b (server) with -v; the log is `${dir}/${name}.log`. */
  start(me: "a" | "b", name?: string): NsProcess;
  /** The veth of side a, b. */
  veth: { a: string; b: string };
}

/** A bed for one format: keys, nonce files, and start() for either end. */
function withFaultBed(id: number, format: Format, body: (bed: FaultBed) => Promise<void>) {
  const legacy = format === "legacy";
  return withBed({ id, mtu: legacy ? 1402 : 1434 }, "tappet-fault-", async (base) => {
    const { pair, dir, procs } = base;
    await keygen(dir);
    for (const n of ["a", "b"]) Deno.writeFileSync(`${dir}/nonce-${n}`, new Uint8Array(4));
    await body({
      ...base,
      format,
      veth: { a: `tv${Deno.pid % 100000}a${id}`, b: `tv${Deno.pid % 100000}b${id}` },
      start(me, name = me) {
        const s = me === "a" ? pair.a : pair.b;
        const peer = me === "a" ? "b" : "a";
        const args = ["run", "--tap", s.tap, "--key", `${dir}/${me}.key`, "--peer-key", `${dir}/${peer}.pub`];
        const extra = legacy ? ["--protocol", "legacy", "--nonce-file", `${dir}/nonce-${me}`] : [];
        const role = me === "b" ? "--listen" : "--connect";
        const p = new NsProcess(
          s.ns,
          tappetArgv([...args, ...extra, role, `${pair.b.underlay}:${PORT}`, "-v"]),
          `${dir}/${name}.log`,
        );
        procs.push(p);
        return p;
      },
    });
  });
}

/** Both ends of a tunnel in a {@linkcode withFaultBed}, started and carrying pings. */
interface Running {
  bed: FaultBed;
  a: FaultBed["pair"]["a"];
  b: FaultBed["pair"]["b"];
  /** Side b, started first. */
  server: NsProcess;
  /** Side a. */
  client: NsProcess;
}

/** The root-only test `faults (FORMAT): what` on bed `id`: server b and
 * client a started, and a ping from a answered, before `body` runs. */
function faultTest(format: Format, id: number, what: string, body: (t: Running) => Promise<void>): void {
  Deno.test({
    name: `faults (${format}): ${what}`,
    ignore: !isRoot(),
    fn: () =>
      withFaultBed(id, format, async (bed) => {
        const { a, b } = bed.pair;
        const server = bed.start("b");
        const client = bed.start("a");
        assert.ok(await waitForPing(a.ns, b.overlay));
        await body({ bed, a, b, server, client });
      }),
  });
}

/** Seconds until a ping from `ns` to `to` is answered. */
async function secondsUntilPing(ns: string, to: string, limit = 20): Promise<number> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < limit) {
    if (await ping(ns, to, { count: 1, timeout: 0.5 }) === 1) break;
  }
  return (performance.now() - t0) / 1000;
}

/** Stops `p` with `signal`; asserts exit 0, no fd left open, no process left. */
async function stopsCleanly(p: NsProcess, signal: Deno.Signal = "SIGTERM"): Promise<Record<string, number>> {
  const status = await p.stop(signal);
  assert.equal(status.code, 0, `${p.log}: exit ${status.code} after ${signal}\n${p.text()}`);
  assert.match(p.text(), /closed every fd it opened/, "every fd it opened was closed");
  return counters(p.text());
}

for (const [k, format] of FORMATS.entries()) {
  const id = (n: number) => 130 + n + 10 * k;

  faultTest(
    format,
    id(0),
    "either end restarts; traffic flows again without touching the other end",
    async ({ bed, a, b, server, client }) => {
      await server.stop("SIGKILL");
      bed.start("b", "b2");
      const s1 = await secondsUntilPing(a.ns, b.overlay);
      console.log(`  server restarted: traffic from the client again after ${s1.toFixed(1)} s`);
      assert.ok(s1 < 10, `${s1} s`);
      await client.stop("SIGKILL");
      bed.start("a", "a2");
      const s2 = await secondsUntilPing(b.ns, a.overlay);
      console.log(`  client restarted: traffic from the server again after ${s2.toFixed(1)} s`);
      assert.ok(s2 < 11, `within one keepalive interval: ${s2} s`);
      if (format === "legacy") {
        assert.deepEqual(Deno.readFileSync(`${bed.dir}/nonce-a`), new Uint8Array([2, 0, 0, 0]));
      }
    },
  );

  faultTest(
    format,
    id(1),
    "the client changes address; the server follows, traffic resumes",
    async ({ bed, a, b, server }) => {
      const moved = a.underlay.replace(/\.1$/, ".3");
      // Renumbering as DHCP does it: the new address first, then the old
      // one goes, and the kernel keeps the new one (and the route).
      await sh([
        "ip",
        "netns",
        "exec",
        a.ns,
        "sysctl",
        "-qw",
        `net.ipv4.conf.${bed.veth.a}.promote_secondaries=1`,
      ]);
      await sh(["ip", "-n", a.ns, "addr", "add", `${moved}/24`, "dev", bed.veth.a]);
      await sh(["ip", "-n", a.ns, "addr", "del", `${a.underlay}/24`, "dev", bed.veth.a]);
      const s = await secondsUntilPing(a.ns, b.overlay);
      assert.ok(s < 5, `${s} s`);
      assert.equal(
        await ping(b.ns, a.overlay, { count: 3, interval: 0.1 }),
        3,
        "the server answers the new address",
      );
      const c = await stopsCleanly(server);
      assert.match(server.text(), new RegExp(`peer moved to ${moved.replaceAll(".", "\\.")}:`));
      assert.equal(c.rxErrors, 0);
    },
  );

  faultTest(
    format,
    id(2),
    "the underlay goes away (link down, route gone) and comes back",
    async ({ bed, a, b, server, client }) => {
      await sh(["ip", "-n", a.ns, "link", "set", bed.veth.a, "down"]);
      assert.equal(
        await ping(a.ns, b.overlay, { count: 5, interval: 0.2, timeout: 1 }),
        0,
        "nothing passes",
      );
      await sh(["ip", "-n", a.ns, "link", "set", bed.veth.a, "up"]);
      assert.ok((await secondsUntilPing(a.ns, b.overlay)) < 6, "traffic resumes once the link is up");
      const net = b.underlay.replace(/\.2$/, ".0/24");
      await sh(["ip", "-n", a.ns, "route", "del", net, "dev", bed.veth.a]);
      assert.equal(
        await ping(a.ns, b.overlay, { count: 5, interval: 0.2, timeout: 1 }),
        0,
        "no route: dropped",
      );
      await sh(["ip", "-n", a.ns, "route", "add", net, "dev", bed.veth.a]);
      assert.ok((await secondsUntilPing(a.ns, b.overlay)) < 6, "traffic resumes with the route");
      const c = await stopsCleanly(client);
      assert.ok(c.dropTxError > 0, "the refused frames were counted");
      assert.doesNotMatch(client.text(), /network unreachable/, "ENETUNREACH drops are quiet without -vv");
      await stopsCleanly(server);
    },
  );

  faultTest(
    format,
    id(3),
    "the TAP is deleted while tappet runs: one line naming it, no stack trace",
    async ({ a, client }) => {
      await sh(["ip", "-n", a.ns, "link", "del", a.tap]);
      const status = await Promise.race([
        client.status,
        new Promise<"hung">((r) => setTimeout(() => r("hung"), 10_000)),
      ]);
      assert.notEqual(status, "hung", "tappet noticed within 10 s");
      const lines = client.text().trim().split("\n");
      const gone = lines.findIndex((l) =>
        /^tappet: interface tp0 went away .* recreate it with 'ip tuntap add tp0 mode tap/.test(l)
      );
      assert.ok(gone >= 0, "the reason is said");
      assert.equal(lines.filter((l) => l.includes("went away")).length, 1, "once");
      assert.ok(
        gone < lines.findIndex((l) => l.startsWith("tappet: stopped after")),
        "before the stop lines",
      );
      assert.ok(!client.text().includes("    at "), "no stack trace");
      assert.equal((await client.status).code, 1);
    },
  );

  faultTest(
    format,
    id(4),
    "SIGINT and SIGTERM stop both ends cleanly, nothing left behind",
    async ({ a, b, server, client }) => {
      await stopsCleanly(client, "SIGINT");
      await stopsCleanly(server, "SIGTERM");
      for (const ns of [a.ns, b.ns]) {
        assert.equal((await sh(["ip", "netns", "pids", ns])).trim(), "", `no process left in ${ns}`);
      }
    },
  );

  faultTest(
    format,
    id(5),
    "forged, broken, replayed and reflected datagrams are dropped and counted",
    async ({ bed, a, b, server }) => {
      // Real datagrams from a to b, and from b to a, as they cross the
      // underlay: those of 300-byte pings, picked by their exact UDP length
      // (a packet on the veth may be several datagrams joined by UDP GSO).
      const pingDatagram = 14 + 20 + 8 + 300 + (format === "legacy" ? HEADROOM : DATA.OVERHEAD);
      const fromA = await capture(
        a.ns,
        bed.veth.a,
        `udp and dst port ${PORT} and udp[4:2] = ${8 + pingDatagram}`,
        2,
        bed.dir,
        () => ping(a.ns, b.overlay, { count: 2, size: 300, interval: 0.2 }),
      );
      const fromB = await capture(
        b.ns,
        bed.veth.b,
        `udp and src port ${PORT} and udp[4:2] = ${8 + pingDatagram}`,
        1,
        bed.dir,
        () => ping(b.ns, a.overlay, { count: 1, size: 300 }),
      );
      const valid = fromA[0];
      const flipped = valid.slice();
      flipped[valid.length - 5] ^= 0x10;
      const otherKey = new LegacySession(
        new Uint8Array(32).fill(3),
        new LegacyNonce(9, new Uint8Array(12)),
      );
      const forged = new PacketBuffer(HEADROOM);
      forged.payload.fill(0x42, 0, 100);
      const wrongKey = forged.bytes.slice(0, otherKey.seal(forged, 100, 1e9));
      const junk = [
        new Uint8Array(0), // empty
        new Uint8Array(10), // shorter than a nonce
        new Uint8Array(24).fill(1), // a nonce and nothing else
        crypto.getRandomValues(new Uint8Array(500)), // random
        valid.subarray(0, valid.length - 20), // truncated
        flipped, // a flipped bit
        wrongKey, // sealed with another key
        valid, // replayed
        fromA[1], // replayed
        crypto.getRandomValues(new Uint8Array(65000)), // oversized junk
      ];
      await sendDatagrams(a.ns, a.underlay, b.underlay, PORT, junk, bed.dir);
      // Reflection: b's own datagram sent back to b. (What the legacy
      // format can and cannot refuse: docs/PROTOCOL.md §1.)
      await sendDatagrams(a.ns, a.underlay, b.underlay, PORT, fromB, bed.dir);
      assert.equal(await ping(a.ns, b.overlay, { count: 3, interval: 0.1 }), 3, "the tunnel carries on");
      const c = await stopsCleanly(server);
      const drops = Object.entries(c).filter(([key]) => key.startsWith("drop")).reduce(
        (s, [, v]) => s + v,
        0,
      );
      assert.ok(drops >= junk.length + 1, `every forged datagram counted: ${JSON.stringify(c)}`);
      if (format === "legacy") assert.equal(c.dropReflected, 1, "b's own datagram recognised");
      assert.ok(c.dropReplay >= 2, "replays counted as replays");
      // Empty, 10 bytes, 24 bytes: too short for either format.
      if (format === "legacy") assert.ok(c.dropTooShort >= 3, "short ones counted as short");
      else assert.ok(c.dropMalformed >= 3, "short ones counted as malformed");
      assert.doesNotMatch(server.text(), /peer moved/, "no forged datagram moved the peer");
      const warnings = server.text().split("\n").filter((l) =>
        /warning/.test(l) && !/running as root/.test(l)
      );
      assert.equal(warnings.length, 0, "drops are counted, not logged");
    },
  );

  faultTest(
    format,
    id(6),
    "a flood of junk for 30 s during a TCP transfer: the transfer completes, memory stays flat",
    async ({ bed, a, b, server, client }) => {
      const rss = (p: NsProcess) =>
        Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${p.pid}/status`))![1]);
      const before = rss(server);
      const flood = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          a.ns,
          Deno.execPath(),
          "run",
          "-A",
          new URL("../scripts/junk.ts", import.meta.url).pathname,
          b.underlay,
          String(PORT),
          "30",
        ],
        stdout: "piped",
      }).output();
      const started = performance.now();
      let transfers = 0;
      while ((performance.now() - started) / 1000 < 28) {
        const t = await transfer(bed.pair, 8 * 1024 * 1024, 5300 + transfers);
        assert.equal(t.received.sha256, t.sent.sha256);
        transfers++;
      }
      const sent = JSON.parse(new TextDecoder().decode((await flood).stdout));
      const after = rss(server);
      console.log(
        `  ${sent.sent} junk datagrams in ${
          sent.seconds.toFixed(0)
        } s; ${transfers} transfers of 8 MiB verified; RSS ${before} → ${after} KiB`,
      );
      assert.ok(transfers >= 2);
      assert.ok(after < before * 1.2 + 4096, `memory stays flat: ${before} → ${after} KiB`);
      const c = await stopsCleanly(server);
      await stopsCleanly(client);
      const junkDrops = c.dropBadTag + c.dropTooShort + c.dropMalformed + c.dropMac1 + c.dropUnknownIndex +
        c.dropTooLong;
      assert.ok(junkDrops > sent.sent * 0.1, `the junk that reached b was counted: ${junkDrops}`);
    },
  );
}
