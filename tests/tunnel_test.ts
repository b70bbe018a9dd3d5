/**
 * The legacy tunnel over in-memory fakes (no root): two tunnels on a
 * FakeNetwork, frames both ways, the server learning and following its
 * peer, keepalives, and hostile datagrams dropped and counted. Every
 * scenario runs over both drivers: the poll driver (the default path, here
 * with the fakes' synchronous side and an fd-less FakeWaiter) and the async
 * driver.
 */

import { strict as assert } from "node:assert";
import { HEADROOM, LegacySession } from "../core/legacy.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { monotonicNs } from "../ffi/libc.ts";
import { PacketBuffer } from "../core/packet.ts";
import { FakeDevice, FakeNetwork, FakeWaiter } from "../io/fake.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure } from "../io/transport.ts";
import { Tunnel, type TunnelEvents } from "../tunnel/loop.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { hex, readJson } from "./_util.ts";

const K = readJson<{ keys: Record<string, string> }>("vectors/legacy.json").keys;
const SERVER: Endpoint = { hostname: "198.18.9.2", port: 1011 };
const CLIENT: Endpoint = { hostname: "198.18.9.1", port: 40000 };

class Recorder implements TunnelEvents {
  peers: string[] = [];
  sendFailures: SendFailure[] = [];
  writeErrors: number[] = [];
  peerChanged(peer: Endpoint, first: boolean) {
    this.peers.push(`${first ? "first" : "moved"} ${peer.hostname}:${peer.port}`);
  }
  sendFailed(f: SendFailure) {
    this.sendFailures.push(f);
  }
  writeFailed(errno: number) {
    this.writeErrors.push(errno);
  }
  receiveFailed() {}
}

type Driver = "poll" | "async";

function side(
  driver: Driver,
  net: FakeNetwork,
  local: Endpoint,
  prefix: number,
  peer?: Endpoint,
  keepaliveMs = 10_000,
) {
  const device = new FakeDevice(peer ? "client0" : "server0");
  const transport = net.bind(local);
  const waiter = driver === "poll" ? new FakeWaiter(device, transport) : undefined;
  const events = new Recorder();
  const session = new LegacySession(
    hex(K.shared_k),
    // Each side draws its own random bytes: the client's differ from the server's.
    new LegacyNonce(prefix, new Uint8Array(12).fill(peer ? 0xc1 : 0x5e)),
  );
  const engine = new LegacyEngine({ session, peer, now: monotonicNs(), keepaliveMs });
  const stats = engine.stats;
  const tunnel = new Tunnel({ device, transport, engine, clock: monotonicNs, events, waiter });
  assert.equal(tunnel.driver, driver);
  const done = tunnel.run();
  return { device, transport, stats, events, tunnel, done, session };
}

function frame(n: number, size = 100): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31 + n) & 0xff);
}

const until = async (cond: () => boolean, what: string, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Runs `body` with a server (nonce prefix 1) and a client (prefix
 * `clientPrefix`, default 1) of `driver` on a fresh fake network, both with
 * `keepaliveMs` when given; however `body` ends, stops both tunnels and
 * waits for their loops. */
async function withSides(
  driver: Driver,
  body: (net: FakeNetwork, server: ReturnType<typeof side>, client: ReturnType<typeof side>) => Promise<void>,
  o: { clientPrefix?: number; keepaliveMs?: number } = {},
): Promise<void> {
  const net = new FakeNetwork();
  const server = side(driver, net, SERVER, 1, undefined, o.keepaliveMs);
  const client = side(driver, net, CLIENT, o.clientPrefix ?? 1, SERVER, o.keepaliveMs);
  try {
    await body(net, server, client);
  } finally {
    client.tunnel.stop();
    server.tunnel.stop();
    await Promise.all([client.done, server.done]);
  }
}

for (const driver of ["poll", "async"] as const) {
  Deno.test(`tunnel (${driver}): hello, frames both ways, server learns the client`, async () => {
    const net = new FakeNetwork();
    const server = side(driver, net, SERVER, 1);
    server.device.inject(frame(0)); // queued before the peer is known: must wait
    const client = side(driver, net, CLIENT, 1, SERVER);
    try {
      await until(() => server.events.peers.length === 1, "server to learn its peer");
      assert.deepEqual(server.events.peers, ["first 198.18.9.1:40000"]);
      assert.equal(server.stats.rxKeepalives, 1, "the client's hello is a keepalive");
      await client.device.waitWritten(1);
      assert.deepEqual(
        client.device.written[0],
        frame(0),
        "the frame queued before the hello is sent after it",
      );
      for (let i = 1; i <= 50; i++) client.device.inject(frame(i, 60 + i));
      for (let i = 1; i <= 50; i++) server.device.inject(frame(100 + i, 1400));
      await server.device.waitWritten(50);
      await client.device.waitWritten(51);
      for (let i = 1; i <= 50; i++) {
        assert.deepEqual(server.device.written[i - 1], frame(i, 60 + i));
        assert.deepEqual(client.device.written[i], frame(100 + i, 1400));
      }
      assert.equal(server.stats.rxFrames, 50);
      assert.equal(client.stats.txFrames, 50);
      assert.equal(
        server.stats.dropReplay + client.stats.dropReplay,
        0,
        "in-order traffic is never a replay",
      );
      const status = server.tunnel.status();
      assert.equal(status.running, true);
      assert.deepEqual(status.peer, CLIENT);
      assert.deepEqual(status.local, SERVER);
      assert.equal(status.iface, "server0");
      assert.equal(status.counters.rxFrames, 50);
      server.stats.rxFrames++;
      assert.equal(status.counters.rxFrames, 50, "a status is a copy");
    } finally {
      client.tunnel.stop();
      server.tunnel.stop();
      await Promise.all([client.done, server.done]);
    }
    assert.ok(client.device.closed && server.device.closed, "run() closes the device");
    assert.ok(client.transport.closed && server.transport.closed, "run() closes the socket");
    assert.equal(server.tunnel.status().running, false);
  });

  Deno.test(`tunnel (${driver}): junk, replays, reflections and runts are dropped and counted; traffic goes on`, async () => {
    await withSides(driver, async (net, server, client) => {
      client.device.inject(frame(1));
      await server.device.waitWritten(1);
      const captured = net.sent.filter((d) => d.from === CLIENT).at(-1)!;
      const junkFrom = { hostname: "198.18.9.66", port: 666 };
      net.inject(junkFrom, SERVER, new Uint8Array(0));
      net.inject(junkFrom, SERVER, new Uint8Array(24));
      net.inject(junkFrom, SERVER, crypto.getRandomValues(new Uint8Array(200)));
      const flipped = captured.bytes.slice();
      flipped[HEADROOM + 3] ^= 1;
      net.inject(junkFrom, SERVER, flipped);
      net.inject(junkFrom, SERVER, captured.bytes); // an exact replay
      client.device.inject(frame(2));
      await server.device.waitWritten(2);
      assert.deepEqual(server.device.written[1], frame(2));
      assert.equal(server.stats.dropTooShort, 2);
      assert.equal(server.stats.dropBadTag, 2);
      assert.equal(server.stats.dropReplay, 1);
      assert.deepEqual(server.events.peers, ["first 198.18.9.1:40000"], "junk never moves the peer");
      // Reflection: the server's own datagram sent back to it, from the
      // client's address. Recognised by the server's own nonce prefix and
      // random bytes (PROTOCOL.md §1), before the replay rule.
      server.device.inject(frame(3));
      await client.device.waitWritten(1);
      const own = net.sent.filter((d) => d.from === SERVER).at(-1)!;
      net.inject(CLIENT, SERVER, own.bytes);
      client.device.inject(frame(4));
      await server.device.waitWritten(3);
      assert.equal(server.stats.dropReflected, 1, "the reflected datagram is recognised as the server's own");
      assert.equal(server.stats.dropReplay, 1);
      assert.equal(server.device.written.length, 3);
      // A runt: authenticated, fresh, but 20 bytes and not a keepalive.
      const forger = new LegacySession(hex(K.shared_k), new LegacyNonce(3, new Uint8Array(12)));
      const buf = new PacketBuffer(HEADROOM);
      const len = forger.seal(buf, 20, monotonicNs());
      net.inject(CLIENT, SERVER, buf.bytes.subarray(0, len));
      await until(() => server.stats.dropRunt === 1, "the runt to be counted");
      assert.equal(server.device.written.length, 3, "a runt never reaches the TAP");
    }, { clientPrefix: 2 });
  });

  Deno.test(`tunnel (${driver}): the server follows a client that changes address (roaming)`, async () => {
    await withSides(driver, async (net, server, client) => {
      client.device.inject(frame(1));
      await server.device.waitWritten(1);
      net.rebind(client.transport, { hostname: "198.18.9.7", port: 40001 });
      client.device.inject(frame(2));
      await server.device.waitWritten(2);
      assert.deepEqual(server.events.peers, ["first 198.18.9.1:40000", "moved 198.18.9.7:40001"]);
      server.device.inject(frame(3));
      await client.device.waitWritten(1);
      assert.deepEqual(client.device.written[0], frame(3), "replies go to the new address");
    });
  });

  Deno.test(`tunnel (${driver}): a keepalive after the silence interval, carrying the largest size received`, async () => {
    await withSides(driver, async (net, server, client) => {
      client.device.inject(frame(1, 1000));
      await server.device.waitWritten(1);
      const before = server.stats.txKeepalives;
      // Each side's keepalive restarts the other's silence: which one is
      // heard is chosen here, one direction at a time, not left to timing.
      net.filter = (d) => d.from !== CLIENT;
      // Junk does not count as traffic: it must not hold the keepalive back.
      const junk = setInterval(
        () => net.inject({ hostname: "198.18.9.66", port: 1 }, SERVER, new Uint8Array(80)),
        20,
      );
      try {
        await until(() => server.stats.txKeepalives > before, "a keepalive from the server", 2000);
      } finally {
        clearInterval(junk);
      }
      await until(() => client.stats.rxKeepalives > 0, "the client to get it");
      assert.equal(client.session.keepaliveSize, 1000 + 56 - 24, "the largest payload the server received");
      const heard = server.stats.rxKeepalives;
      net.filter = (d) => d.from !== SERVER;
      await until(() => server.stats.rxKeepalives > heard, "a keepalive from the client to reach the server");
      // The client only ever got keepalives: its next one reports their size.
      await until(() => server.session.largestPeerReceived === 3 + 56 - 24, "the client's report", 2000);
    }, { keepaliveMs: 150 });
  });

  Deno.test(`tunnel (${driver}): send failures and TAP write failures drop the frame, not the tunnel`, async () => {
    await withSides(driver, async (_net, server, client) => {
      await until(() => server.events.peers.length === 1, "the hello");
      client.transport.failWith = "EMSGSIZE";
      client.device.inject(frame(1, 1500));
      await until(() => client.events.sendFailures.length === 1, "the send failure");
      assert.equal(client.events.sendFailures[0].code, "EMSGSIZE");
      assert.equal(client.events.sendFailures[0].length, 1556);
      assert.equal(client.stats.dropTxError, 1);
      client.transport.failWith = undefined;
      server.device.writeErrno = 5; // EIO: interface down
      client.device.inject(frame(2));
      await until(() => server.stats.dropTapWrite === 1, "the refused write");
      server.device.writeErrno = 0;
      client.device.inject(frame(3));
      await server.device.waitWritten(1);
      assert.deepEqual(server.device.written[0], frame(3));
      assert.deepEqual(server.events.writeErrors, [5]);
      assert.equal(server.stats.rxFrames, 1);
      assert.equal(server.stats.rxBytes, frame(3).length, "the refused frame's bytes are not counted");
    });
  });

  Deno.test(`tunnel (${driver}): a failing receive is counted and the tunnel goes on`, async () => {
    await withSides(driver, async (_net, server, client) => {
      client.device.inject(frame(1));
      await server.device.waitWritten(1);
      server.transport.failReceive(new Error("recvmmsg: Connection refused"));
      await until(() => server.stats.rxErrors >= 3, "the receive errors to be counted");
      server.transport.failReceive(undefined);
      client.device.inject(frame(2));
      await server.device.waitWritten(2);
      assert.deepEqual(server.device.written[1], frame(2), "traffic resumes, nothing corrupted");
      assert.deepEqual(server.events.peers, ["first 198.18.9.1:40000"], "the peer is unchanged");
    });
  });
}
