/**
 * The path's size in a tunnel's status (issue 14): from the configured path
 * MTU, and the engine's own finding (`maxDatagram`, the probe's) first when
 * it has one; one pathChanged report per change.
 */

import { strict as assert } from "node:assert";
import { FakeDevice, FakeNetwork } from "../io/fake.ts";
import { Forwarder } from "../tunnel/forwarder.ts";
import { Tunnel } from "../tunnel/loop.ts";
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
