/**
 * The path's size in a tunnel's status (issue 14): from the configured path
 * MTU, and the engine's own finding (`maxDatagram`, the probe's) first when
 * it has one; one pathChanged report per change, and one `-v` line.
 */

import { strict as assert } from "node:assert";
import { resetSync } from "@logtape/logtape";
import { FakeDevice, FakeNetwork } from "../io/fake.ts";
import { setupLogging } from "../log.ts";
import { Forwarder, type TunnelEvents } from "../tunnel/forwarder.ts";
import { Tunnel } from "../tunnel/loop.ts";
import { pathEvents } from "../tunnel/path_events.ts";
import { withProbes } from "../tunnel/pmtu_probe.ts";
import type { TunnelConfig } from "../tunnel/run.ts";
import { PassEngine } from "./_pass_engine.ts";

/** Passes frames through, with the current format's 24 bytes of overhead
 * declared, and a settable `maxDatagram`. */
class PathEngine extends PassEngine {
  override readonly headroom = 16;
  override readonly overhead = 24;
  constructor() {
    super(1000);
  }
}

const events = (reports: string[]) => ({
  peerChanged() {},
  sendFailed() {},
  writeFailed() {},
  receiveFailed() {},
  pathChanged: (mtu: number, frame: number, first: boolean) => reports.push(`${mtu} ${frame} ${first}`),
});

Deno.test("status: path MTU and the TAP MTU that fits, from --path-mtu", () => {
  const reports: string[] = [];
  const tunnel = new Tunnel({
    device: new FakeDevice(),
    transport: new FakeNetwork().bind({ hostname: "198.18.9.2", port: 1011 }),
    engine: new PathEngine(),
    clock: () => 0,
    events: events(reports),
    path: { pathMtu: () => 1280, family: 6 },
  });
  const s = tunnel.status();
  // 1280 − 48 (IPv6, UDP) = 1232 bytes of datagram; − 24 = 1208 of frame; − 14 = 1194.
  assert.equal(s.pathMtu, 1280);
  assert.equal(s.tapMtuAdvised, 1194);
  assert.equal(s.ipv6BelowMinimum, false);
  assert.deepEqual(reports, ["1280 1208 true"]);
});

Deno.test("forwarder: the engine's maxDatagram wins over the configured path, read per batch, reported once", () => {
  const reports: string[] = [];
  const engine = new PathEngine();
  const fw = new Forwarder({
    device: new FakeDevice(),
    engine,
    events: events(reports),
    rxBatch: 4,
    pathMtu: () => 1500,
    family: 4,
  });
  assert.equal(fw.path.maxDatagram, 1472);
  engine.maxDatagram = 1252; // the probe found less
  fw.sealBatch(0);
  fw.sealBatch(0);
  assert.equal(fw.path.maxDatagram, 1252);
  assert.deepEqual(reports, ["1500 1448 true", "1280 1228 false"]);
});

/** A client's settings with `--path-mtu 1500` (no route is looked up). */
const CONFIG: TunnelConfig = {
  protocol: "current",
  transport: "ffi",
  offload: false,
  iface: "tp0",
  keyFile: "a.key",
  peerKeyFile: "b.pub",
  listen: false,
  host: "198.18.9.1",
  port: 40000,
  family: 4,
  pathMtu: 1500,
};

Deno.test("-v: one line per change of the path's size or of where it comes from, as the runner wires it", () => {
  const lines: string[] = [];
  setupLogging(1, (l) => lines.push(l), { journal: false });
  try {
    const engine = new PathEngine();
    const quiet: TunnelEvents = events([]);
    const fit = pathEvents(CONFIG, engine.peer, engine, () => quiet);
    const fw = new Forwarder({
      device: new FakeDevice(),
      engine,
      events: withProbes(fit.events, engine, 4),
      rxBatch: 4,
      pathMtu: fit.path!.pathMtu,
      family: 4,
    });
    let now = 0;
    /** A few rounds of timers and batches, as a driver runs them. */
    const run = () => {
      for (let i = 0; i < 3; i++) {
        fw.runTimers(now += 2e9);
        fw.sealBatch(now);
      }
    };
    const line = (change: string, mtu: number, why: string) =>
      `tappet: path MTU to 198.18.9.1:40000 ${change} ${mtu} bytes (${why}): frames up to ${
        mtu - 28 - 24
      } bytes fit, TAP MTU ${mtu - 28 - 24 - 14}`;
    run();
    assert.deepEqual(lines, [line("is", 1500, "--path-mtu")], "known at start");
    // The probes find what --path-mtu said: the size stays, where it comes
    // from changes; one line.
    const probed = (d: number) => `probed: datagrams up to ${d} bytes`;
    const step = (d: number | undefined, expected: string[], batchFirst = false) => {
      lines.length = 0;
      engine.maxDatagram = d;
      if (batchFirst) fw.sealBatch(now);
      run();
      assert.deepEqual(lines, expected, `maxDatagram ${d}`);
    };
    step(1472, [line("is", 1500, probed(1472))]);
    // The probes find less: the size changes; one line.
    step(1252, [line("changed to", 1280, probed(1252))]);
    // A size that came in between two timer runs (an ack opened with the
    // inbound batch): the batch says it, the timers do not again.
    step(1300, [line("changed to", 1328, probed(1300))], true);
    // The probes lose their finding: back to --path-mtu, said so.
    step(undefined, [line("changed to", 1500, "--path-mtu: the peer answers no probes")]);
    step(1472, [line("is", 1500, probed(1472))]);
    step(undefined, [line("is", 1500, "--path-mtu: the peer answers no probes")]);
    lines.length = 0;
    run();
    assert.deepEqual(lines, [], "nothing changed, nothing said");
  } finally {
    resetSync();
  }
});
