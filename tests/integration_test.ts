/**
 * Real tunnels between network namespaces: real TAP devices, real UDP, real
 * libsodium, tappet started as a user starts it (`deno run main.ts ...`).
 * Needs root; ignored (and reported as ignored) otherwise.
 *
 * Each test: two namespaces joined by veth (underlay 198.18.ID.x or
 * 2001:2:0:ID::x), a TAP in each (overlay 198.19.ID.x), keys from `tappet
 * keygen`, then ARP, ping both ways with small and near-MTU packets, a
 * 12 MB TCP transfer verified by SHA-256 at the far end, the nonce files,
 * and a clean SIGTERM exit.
 *
 * With TAPPET_C_BIN set to a 2014 C tappet built by hand, the interop tests
 * run too (the C program refuses root: TAPPET_C_USER, default "tappetc",
 * must exist).
 */

import { strict as assert } from "node:assert";
import { macOf, type NetnsPair, type PairOptions, ping, sh, waitForPing } from "../scripts/netns.ts";
import { type Bed, NsProcess, runArgs, tappetArgv, transfer } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { bedTest } from "./_ops.ts";

const canRun = isRoot() && (() => {
  try {
    Deno.statSync("/dev/net/tun");
    return true;
  } catch {
    return false;
  }
})();

const C_BIN = Deno.env.get("TAPPET_C_BIN");
const C_USER = Deno.env.get("TAPPET_C_USER") ?? "tappetc";
const TRANSFER_BYTES = 12 * 1024 * 1024;

/** The checks every working tunnel must pass. */
async function exercise(pair: NetnsPair, dir: string, checkNonces = true): Promise<void> {
  const { a, b } = pair;
  assert.ok(await waitForPing(a.ns, b.overlay), "no ping reply through the tunnel within 15 s");
  // ARP resolved across the tunnel: a knows b's TAP MAC, and the reverse.
  assert.ok(await waitForPing(b.ns, a.overlay), "no ping reply from b to a");
  const neighA = await sh(["ip", "-n", a.ns, "neigh", "show", b.overlay, "dev", a.tap]);
  const neighB = await sh(["ip", "-n", b.ns, "neigh", "show", a.overlay, "dev", b.tap]);
  assert.match(neighA, new RegExp(await macOf(b.ns, b.tap)), "a resolved b's MAC by ARP");
  assert.match(neighB, new RegExp(await macOf(a.ns, a.tap)), "b resolved a's MAC by ARP");
  // Ping both ways, small and as large as the TAP MTU allows, DF set.
  const near = pair.mtu - 28;
  assert.equal(await ping(a.ns, b.overlay, { count: 5, interval: 0.05 }), 5, "small pings a → b");
  assert.equal(await ping(b.ns, a.overlay, { count: 5, interval: 0.05 }), 5, "small pings b → a");
  assert.equal(await ping(a.ns, b.overlay, { count: 5, interval: 0.05, size: near, dontFragment: true }), 5);
  assert.equal(await ping(b.ns, a.overlay, { count: 5, interval: 0.05, size: near, dontFragment: true }), 5);
  // A verified TCP transfer.
  const t = await transfer(pair, TRANSFER_BYTES);
  assert.equal(t.received.bytes, TRANSFER_BYTES);
  assert.equal(t.received.sha256, t.sent.sha256, "bytes arrived unchanged");
  console.log(
    `  ${TRANSFER_BYTES / 1048576} MiB in ${t.received.seconds.toFixed(2)} s: ${t.mbps.toFixed(0)} Mbit/s`,
  );
  if (checkNonces) {
    for (const name of ["a", "b"]) {
      assert.deepEqual(
        Deno.readFileSync(`${dir}/nonce-${name}`),
        new Uint8Array([1, 0, 0, 0]),
        `nonce-${name}`,
      );
    }
  }
}

/** The 2014 command line of end `me` on `tap`, its nonce file and keys in
 * `dir` (the peer is the other of a and b), reaching the server at
 * `host`:`port`; with `listen`, the server's (`-l`). */
function args2014(
  dir: string,
  tap: string,
  me: "a" | "b",
  host: string,
  port: string,
  listen: boolean,
): string[] {
  const peer = me === "a" ? "b" : "a";
  return [
    tap,
    `${dir}/nonce-${me}`,
    `${dir}/${me}.key`,
    `${dir}/${peer}.pub`,
    host,
    port,
    ...(listen ? ["-l"] : []),
  ];
}

async function stopCleanly(procs: NsProcess[]): Promise<void> {
  for (const p of procs) {
    const status = await p.stop("SIGTERM");
    assert.equal(status.code, 0, `${p.log}: exit status ${status.code} after SIGTERM\n${p.text()}`);
  }
}

/** The test `name`, run only where namespaces and TAP work (and not when
 * `skip`): a {@linkcode bedTest} of pair `options`, its keys made with
 * `tappet keygen` and zeroed nonce files for a and b added, for `body`. */
function tunnelTest(
  name: string,
  options: PairOptions,
  body: (bed: Bed) => Promise<void>,
  skip = false,
): void {
  bedTest(name, options, "tappet-it-", (bed) => {
    for (const n of ["a", "b"]) Deno.writeFileSync(`${bed.dir}/nonce-${n}`, new Uint8Array(4));
    return body(bed);
  }, !canRun || skip);
}

tunnelTest(
  "integration: legacy tunnel over IPv4, 2014 command line, keys from tappet keygen",
  { id: 101, family: 4 },
  async ({ pair, dir, procs }) => {
    const port = "1011";
    const { a, b } = pair;
    procs.push(
      new NsProcess(b.ns, tappetArgv(args2014(dir, b.tap, "b", b.underlay, port, true)), `${dir}/b.log`),
    );
    procs.push(
      new NsProcess(a.ns, tappetArgv(args2014(dir, a.tap, "a", b.underlay, port, false)), `${dir}/a.log`),
    );
    await exercise(pair, dir);
    await stopCleanly(procs);
  },
);

for (const transport of ["ffi", "deno"]) {
  tunnelTest(
    `integration: legacy tunnel over IPv6, named options (tappet run, ${transport} socket)`,
    { id: transport === "ffi" ? 102 : 122, family: 6 },
    async ({ pair, dir, procs }) => {
      const { a, b } = pair;
      const server = `[${b.underlay}]:1011`;
      const common = (me: string, peer: string) => [
        ...runArgs(dir, me, peer),
        "--protocol",
        "legacy",
        "--transport",
        transport,
        "--nonce-file",
        `${dir}/nonce-${me}`,
      ];
      procs.push(
        new NsProcess(b.ns, tappetArgv([...common("b", "a"), "--listen", server]), `${dir}/b.log`),
      );
      procs.push(
        new NsProcess(a.ns, tappetArgv([...common("a", "b"), "--connect", server]), `${dir}/a.log`),
      );
      await exercise(pair, dir);
      await stopCleanly(procs);
    },
  );
}

tunnelTest(
  "integration: a restarted client is accepted again (its nonce prefix is larger)",
  { id: 103, family: 4 },
  async ({ pair, dir, procs }) => {
    const { a, b } = pair;
    const server = new NsProcess(
      b.ns,
      tappetArgv(args2014(dir, b.tap, "b", b.underlay, "1011", true)),
      `${dir}/b.log`,
    );
    procs.push(server);
    const clientArgs = tappetArgv(args2014(dir, a.tap, "a", b.underlay, "1011", false));
    const first = new NsProcess(a.ns, clientArgs, `${dir}/a1.log`);
    procs.push(first);
    assert.ok(await waitForPing(a.ns, b.overlay));
    assert.equal((await first.stop("SIGTERM")).code, 0);
    const second = new NsProcess(a.ns, clientArgs, `${dir}/a2.log`);
    procs.push(second);
    assert.ok(await waitForPing(a.ns, b.overlay), "the server accepts the restarted client");
    assert.deepEqual(Deno.readFileSync(`${dir}/nonce-a`), new Uint8Array([2, 0, 0, 0]));
    await stopCleanly([second, server]);
  },
);

for (const [name, cServer] of [["C server, Deno client", true], ["Deno server, C client", false]] as const) {
  tunnelTest(
    `interop with the 2014 C tappet: ${name} (needs TAPPET_C_BIN)`,
    { id: cServer ? 104 : 105, family: 4, tapUser: C_USER },
    async ({ pair, dir, procs }) => {
      await sh(["chown", "-R", C_USER, dir]);
      const { a, b } = pair;
      const port = "41011";
      const cSide = cServer ? b : a;
      const denoSide = cServer ? a : b;
      const cMe = cServer ? "b" : "a";
      const dMe = cServer ? "a" : "b";
      const cProc = () =>
        new NsProcess(
          cSide.ns,
          [C_BIN!, ...args2014(dir, cSide.tap, cMe, b.underlay, port, cServer)],
          `${dir}/c.log`,
          { user: C_USER },
        );
      const denoProc = () =>
        new NsProcess(
          denoSide.ns,
          tappetArgv(args2014(dir, denoSide.tap, dMe, b.underlay, port, !cServer)),
          `${dir}/deno.log`,
        );
      // The server first, then the client.
      if (cServer) procs.push(cProc(), denoProc());
      else procs.push(denoProc(), cProc());
      await exercise(pair, dir);
    },
    C_BIN === undefined,
  );
}
