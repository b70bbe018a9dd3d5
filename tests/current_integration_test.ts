/**
 * The current wire format in real tunnels between network namespaces:
 * a transfer across forced rekeys, a pre-shared key over IPv6, restarts, a
 * replayed datagram, and a stranger with the wrong key. Needs root.
 */

import { strict as assert } from "node:assert";
import { denoRunIn, type NetnsPair, ping, sh, waitForPing } from "../scripts/netns.ts";
import { type Bed, counters, keygen, NsProcess, tappetArgv, transfer, withBed } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { udpPayloads } from "./_capture.ts";

const canRun = isRoot();
const PORT = "1011";
/** Short timers for the rekey test: a new handshake every 40 ms. */
const FAST_REKEY = { TAPPET_TEST_TIMERS: JSON.stringify({ rekeyAfterMs: 40 }) };
const TEST_ENV_FLAG = "--allow-env=TAPPET_LIBSODIUM,TAPPET_TEST_TIMERS";

interface CurrentBed extends Bed {
  transport: string;
}

/** Every test runs over both UDP transports. */
const TRANSPORTS = ["ffi", "deno"] as const;

/** A bed with key pairs a, b and c (c: a stranger), for one transport. */
function withCurrentBed(
  id: number,
  family: 4 | 6,
  transport: string,
  body: (bed: CurrentBed) => Promise<void>,
) {
  return withBed({ id, family, mtu: family === 6 ? 1414 : 1434 }, "tappet-cur-", async (bed) => {
    await keygen(bed.dir, ["a", "b", "c"]);
    await body({ ...bed, transport });
  });
}

/** `tappet run` for side `me` of the bed, listening (b) or connecting (a). */
function runArgs(bed: CurrentBed, me: "a" | "b", peer: string, extra: string[] = []): string[] {
  const { b } = bed.pair;
  const server = bed.pair.family === 6 ? `[${b.underlay}]:${PORT}` : `${b.underlay}:${PORT}`;
  return [
    "run",
    "--tap",
    "tp0",
    "--key",
    `${bed.dir}/${me}.key`,
    "--peer-key",
    `${bed.dir}/${peer}.pub`,
    me === "b" ? "--listen" : "--connect",
    server,
    "--transport",
    bed.transport,
    "-v",
    ...extra,
  ];
}

function start(
  bed: CurrentBed,
  me: "a" | "b",
  extra: string[] = [],
  env?: Record<string, string>,
  log: string = me,
): NsProcess {
  const side = me === "a" ? bed.pair.a : bed.pair.b;
  let argv = tappetArgv(runArgs(bed, me, me === "a" ? "b" : "a", extra));
  if (env) argv = argv.map((f) => (f === "--allow-env=TAPPET_LIBSODIUM" ? TEST_ENV_FLAG : f));
  const p = new NsProcess(side.ns, argv, `${bed.dir}/${log}.log`, { env });
  bed.procs.push(p);
  return p;
}

async function verifiedTransfer(pair: NetnsPair): Promise<void> {
  const t = await transfer(pair, 12 * 1024 * 1024);
  assert.equal(t.received.bytes, 12 * 1024 * 1024);
  assert.equal(t.received.sha256, t.sent.sha256, "bytes arrived unchanged");
  console.log(`  12 MiB in ${t.received.seconds.toFixed(2)} s: ${t.mbps.toFixed(0)} Mbit/s`);
}

/** Seconds until a ping from `ns` to `to` is answered again. */
async function secondsUntilPing(ns: string, to: string, limit = 15): Promise<number> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < limit) {
    if (await ping(ns, to, { count: 1, timeout: 0.3 as unknown as number }) === 1) break;
  }
  return (performance.now() - t0) / 1000;
}

for (const [k, transport] of TRANSPORTS.entries()) {
  Deno.test({
    name:
      `current integration (${transport} socket): 12 MB TCP across forced rekeys, ping both ways at full MTU`,
    ignore: !canRun,
    fn: () =>
      withCurrentBed(110 + 20 * k, 4, transport, async (bed) => {
        const { a, b } = bed.pair;
        const server = start(bed, "b", [], FAST_REKEY);
        const client = start(bed, "a", [], FAST_REKEY);
        assert.ok(await waitForPing(a.ns, b.overlay), "no ping through the tunnel within 15 s");
        for (const [from, to] of [[a.ns, b.overlay], [b.ns, a.overlay]]) {
          const full = { count: 5, interval: 0.05, size: bed.pair.mtu - 28, dontFragment: true };
          assert.equal(await ping(from, to, full), 5, `${from} to ${to}`);
        }
        await verifiedTransfer(bed.pair);
        assert.equal((await client.stop("SIGTERM")).code, 0);
        assert.equal((await server.stop("SIGTERM")).code, 0);
        const ca = counters(client.text());
        const cb = counters(server.text());
        assert.ok(
          ca.handshakes >= 4,
          `the client completed ${ca.handshakes} handshakes: the first and 3 rekeys at least`,
        );
        assert.ok(cb.hsRespSent >= 4);
        for (const [name, c] of [["client", ca], ["server", cb]] as const) {
          assert.equal(
            c.dropBadTag + c.dropUnknownIndex + c.dropExpired + c.dropReplay,
            0,
            `${name} dropped frames across rekeys`,
          );
        }
      }),
  });

  Deno.test({
    name: `current integration (${transport} socket): IPv6 underlay with a pre-shared key from tappet genpsk`,
    ignore: !canRun,
    fn: () =>
      withCurrentBed(111 + 20 * k, 6, transport, async (bed) => {
        const argv = tappetArgv(["genpsk", `${bed.dir}/shared.psk`]);
        const out = await new Deno.Command(argv[0], { args: argv.slice(1) }).output();
        assert.ok(out.success);
        assert.equal(Deno.statSync(`${bed.dir}/shared.psk`).mode! & 0o777, 0o600);
        start(bed, "b", ["--psk", `${bed.dir}/shared.psk`]);
        start(bed, "a", ["--psk", `${bed.dir}/shared.psk`]);
        assert.ok(await waitForPing(bed.pair.a.ns, bed.pair.b.overlay));
        assert.equal(await ping(bed.pair.b.ns, bed.pair.a.overlay, { count: 3, interval: 0.05 }), 3);
        await verifiedTransfer(bed.pair);
      }),
  });

  Deno.test({
    name:
      `current integration (${transport} socket): after either end restarts, traffic flows again within 5 s`,
    ignore: !canRun,
    fn: () =>
      withCurrentBed(112 + 20 * k, 4, transport, async (bed) => {
        const { a, b } = bed.pair;
        let server = start(bed, "b");
        let client = start(bed, "a");
        assert.ok(await waitForPing(a.ns, b.overlay));
        // The listener restarts: it has no session and does not know the client.
        await server.stop("SIGKILL");
        server = start(bed, "b", [], undefined, "b2");
        const listenerSecs = await secondsUntilPing(a.ns, b.overlay);
        console.log(`  listener restarted: traffic again after ${listenerSecs.toFixed(1)} s`);
        assert.ok(listenerSecs < 5, `took ${listenerSecs.toFixed(1)} s`);
        // The client restarts: it initiates at start-up.
        await client.stop("SIGKILL");
        client = start(bed, "a", [], undefined, "a2");
        const clientSecs = await secondsUntilPing(b.ns, a.overlay);
        console.log(`  client restarted: traffic again after ${clientSecs.toFixed(1)} s`);
        assert.ok(clientSecs < 5, `took ${clientSecs.toFixed(1)} s`);
        void client;
        void server;
      }),
  });

  Deno.test({
    name:
      `current integration (${transport} socket): a captured datagram replayed afterwards never reaches the TAP`,
    ignore: !canRun,
    fn: () =>
      withCurrentBed(113 + 20 * k, 4, transport, async (bed) => {
        const { a, b } = bed.pair;
        const server = start(bed, "b");
        start(bed, "a");
        assert.ok(await waitForPing(a.ns, b.overlay));
        const pcapFile = `${bed.dir}/under.pcap`;
        // Capture the client's datagrams on the underlay while one marked ping goes through.
        const dump = new NsProcess(
          a.ns,
          [
            "tcpdump",
            "-i",
            `tv${Deno.pid % 100000}a${113 + 20 * k}`,
            "-U",
            "-c",
            "1",
            "-w",
            pcapFile,
            `udp and dst port ${PORT} and greater 600`,
          ],
          `${bed.dir}/tcpdump.log`,
        );
        bed.procs.push(dump);
        await new Promise((r) => setTimeout(r, 1000));
        const seen = new NsProcess(
          b.ns,
          ["tcpdump", "-i", "tp0", "-n", "-l", "icmp[icmptype] == icmp-echo and greater 600"],
          `${bed.dir}/seen.log`,
        );
        bed.procs.push(seen);
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(await ping(a.ns, b.overlay, { count: 1, size: 600, pattern: "7a" }), 1);
        const dumped = await Promise.race([dump.status, new Promise((r) => setTimeout(r, 5000))]);
        assert.ok(dumped, "tcpdump caught the marked ping's datagram");
        const datagrams = udpPayloads(Deno.readFileSync(pcapFile));
        assert.ok(datagrams.length >= 1, "the marked ping's datagram was captured");
        // Replay it, from another source port, as an attacker on the path would.
        const replay = `${bed.dir}/replay.ts`;
        Deno.writeTextFileSync(
          replay,
          `const c = Deno.listenDatagram({ transport: "udp", hostname: "${a.underlay}", port: 0 });
           for (const hex of Deno.args) {
             const bytes = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
             await c.send(bytes, { transport: "udp", hostname: "${b.underlay}", port: ${PORT} });
           }
           c.close();`,
        );
        const hex = datagrams.map((d) => Array.from(d, (x) => x.toString(16).padStart(2, "0")).join(""));
        await denoRunIn(a.ns, ["-A", "--unstable-net"], replay, hex);
        await new Promise((r) => setTimeout(r, 500));
        await seen.stop("SIGINT");
        const echoes = seen.text().split("\n").filter((l) => /ICMP echo request/.test(l));
        assert.equal(
          echoes.length,
          1,
          `the marked ping reached b's TAP ${echoes.length} times:\n${seen.text()}`,
        );
        assert.equal((await server.stop("SIGTERM")).code, 0);
        const c = counters(server.text());
        assert.ok(c.dropReplay >= datagrams.length, `b counted ${c.dropReplay} replays`);
        assert.doesNotMatch(server.text(), /peer moved/, "a replay never moves the peer");
      }),
  });

  Deno.test({
    name:
      `current integration (${transport} socket): a peer with the wrong key never completes a handshake and never gets an answer`,
    ignore: !canRun,
    fn: () =>
      withCurrentBed(114 + 20 * k, 4, transport, async (bed) => {
        const { a, b } = bed.pair;
        const server = start(bed, "b");
        await server.waitFor(/listening on/); // else the first initiation may find no socket
        // c: its own key pair, b's real public key. b is configured for a, not c.
        await sh(["ip", "-n", a.ns, "tuntap", "add", "tp1", "mode", "tap"]);
        await sh(["ip", "-n", a.ns, "link", "set", "tp1", "up"]);
        const cArgv = tappetArgv([
          "run",
          "--tap",
          "tp1",
          "--key",
          `${bed.dir}/c.key`,
          "--peer-key",
          `${bed.dir}/b.pub`,
          "--connect",
          `${b.underlay}:${PORT}`,
          "--transport",
          bed.transport,
          "-v",
        ]);
        const stranger = new NsProcess(a.ns, cArgv, `${bed.dir}/c.log`);
        bed.procs.push(stranger);
        await new Promise((r) => setTimeout(r, 7000)); // covers a retry
        assert.equal((await stranger.stop("SIGTERM")).code, 0);
        assert.equal((await server.stop("SIGTERM")).code, 0);
        const c = counters(stranger.text());
        const s = counters(server.text());
        assert.ok(c.hsInitSent >= 2, "the stranger tried, and tried again");
        assert.equal(c.rxDatagrams, 0, "the stranger never received a single datagram");
        assert.equal(c.handshakes, 0);
        assert.ok(s.dropUnknownPeer >= 2, "b recognised a static key that is not its peer's");
        assert.equal(s.hsRespSent + s.hsCookieSent, 0, "b never answered");
      }),
  });
}
