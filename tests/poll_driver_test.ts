/**
 * The poll driver's waiting, without root: over a FakeDevice, a
 * FakeTransport and a FakeWaiter that records every wait and park, with a
 * fake clock that a wait's timeout moves on. The engine here is a stand-in
 * that passes frames through and asks for its tick at a fixed interval: the
 * subject is the driver (when it blocks, for how long, when it lets the
 * event loop run, how it stops), not a wire format.
 */

import { strict as assert } from "node:assert";
import type { Endpoint } from "../core/endpoint.ts";
import type { PacketBuffer } from "../core/packet.ts";
import { monotonicNs } from "../ffi/libc.ts";
import { FakeDevice, FakeNetwork, type FakeTransport, FakeWaiter } from "../io/fake.ts";
import type { Waiter } from "../io/wait.ts";
import { Tunnel, type TunnelEvents } from "../tunnel/loop.ts";
import { IDLE_POLL_MS, PARK_MS, PARK_OVERDUE_MS, QUIET_MS } from "../tunnel/poll_driver.ts";
import { PassEngine, PEER } from "./_pass_engine.ts";

const LOCAL: Endpoint = { hostname: "198.18.9.2", port: 1011 };

const quiet: TunnelEvents = { peerChanged() {}, sendFailed() {}, writeFailed() {}, receiveFailed() {} };

/** A tunnel over fakes with a fake clock (ns) that waits move on. */
function rig(tickMs: number, wrap: (w: FakeWaiter) => Waiter = (w) => w) {
  let now = 0;
  const net = new FakeNetwork();
  const device = new FakeDevice();
  const transport = net.bind(LOCAL);
  const fake = new FakeWaiter(device, transport, (ms) => (now += ms * 1e6));
  const engine = new PassEngine(tickMs);
  const tunnel = new Tunnel({
    device,
    transport,
    engine,
    clock: () => now,
    events: quiet,
    waiter: wrap(fake),
  });
  assert.equal(tunnel.driver, "poll");
  return {
    net,
    device,
    transport,
    engine,
    tunnel,
    waiter: fake,
    now: () => now,
    setNow: (t: number) => (now = t),
  };
}

/** The next input {@linkcode timed} makes come: `at` (fake clock, ns),
 * and `come`, which injects it and moves the schedule on. */
interface Arrival {
  at: number;
  come(): void;
}

/**
 * A waiter over `r`'s that keeps time: input comes at the times `next`
 * gives (asked with the clock and the datagrams the tunnel has sent so
 * far), and a wait or a park whose timeout ends before the next arrival
 * times out. Records the parks: their start, and whether input came
 * during one. `r` is read only once the tunnel runs.
 */
function timed(r: () => ReturnType<typeof rig>, next: (now: number, sent: number) => Arrival) {
  const parks: { at: number; caught: boolean }[] = [];
  const arrive = (ms: number): boolean => {
    const { net, waiter } = r();
    if (waiter.ready > 0) return false;
    const a = next(r().now(), net.sent.filter((d) => d.from === LOCAL).length);
    if (a.at > r().now() + ms * 1e6) return false;
    r().setNow(Math.max(r().now(), a.at));
    a.come();
    return true;
  };
  const waiter: Waiter = {
    watchDevice: (on) => r().waiter.watchDevice(on),
    wait: (ms) => {
      arrive(ms);
      return r().waiter.wait(ms);
    },
    park: async (ms) => {
      parks.push({ at: r().now(), caught: arrive(ms) });
      const ready = await r().waiter.park(ms);
      // A real park always lets the event loop turn (a nonblocking FFI
      // call), even when input came at once.
      await new Promise((resolve) => setImmediate(resolve));
      return ready;
    },
  };
  return { waiter, parks };
}

/** Every `ms` of the fake clock, a datagram from the peer (`kind`
 * "datagram") or a frame from the TAP. */
function every(r: () => ReturnType<typeof rig>, ms: number, kind: "datagram" | "frame"): () => Arrival {
  let due = ms * 1e6;
  const come = () => {
    due += ms * 1e6;
    if (kind === "datagram") r().net.inject(PEER, LOCAL, new Uint8Array(70).fill(6));
    else r().device.inject(new Uint8Array(60).fill(5));
  };
  return () => ({ at: due, come });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("poll driver: idle, it blocks until the next timer or 50 ms at most, then parks once", async () => {
  for (const tickMs of [20, 1000]) {
    const r = rig(tickMs);
    const done = r.tunnel.run();
    await sleep(100);
    r.tunnel.stop();
    await done;
    const calls = r.waiter.calls;
    assert.ok(calls.length > 20, `it went round while idle (${calls.length} calls)`);
    const waits = calls.filter((c) => c.kind === "wait");
    assert.ok(waits.length > 10);
    for (const w of waits) {
      assert.ok(
        w.ms > 0 && w.ms <= Math.min(IDLE_POLL_MS, tickMs),
        `a wait of ${w.ms} ms with ticks every ${tickMs}`,
      );
    }
    assert.ok(waits.some((w) => w.ms === Math.min(IDLE_POLL_MS, tickMs)), "it waits as long as it may");
    // A wait that its timeout ended is followed by a park, which lets
    // Deno's runtime read its I/O (signals).
    for (let i = 0; i < calls.length - 1; i++) {
      if (calls[i].kind === "wait" && calls[i].ready === 0) {
        assert.equal(calls[i + 1].kind, "park", `call ${i + 1} after an empty wait`);
        assert.equal(calls[i + 1].ms, PARK_MS);
      }
    }
    // The timers ran when due, not more often than they asked.
    const ticks = r.engine.ticks;
    for (let i = 1; i < ticks.length; i++) {
      assert.ok(ticks[i] - ticks[i - 1] >= tickMs * 1e6, "no tick before it is due");
    }
    assert.ok(ticks.length >= 3, "the timers ran");
  }
});

Deno.test("poll driver: sparse traffic visits the event loop only to park, every 50 ms, not per frame", async () => {
  // A datagram every 10 ms, as with a ping every 10 ms.
  const t = timed(() => r, every(() => r, 10, "datagram"));
  const r = rig(1000, () => t.waiter);
  // Event-loop turns between one frame and the next: only a yield or a park
  // lets this chain of immediates run while the loop runs.
  let visits = 0;
  let seen = 0;
  let stopped = false;
  const watch = () => {
    if (r.device.written.length !== seen) {
      seen = r.device.written.length;
      visits++;
    }
    if (!stopped) setImmediate(watch);
  };
  watch();
  const done = r.tunnel.run();
  await until(() => r.device.written.length >= 200);
  r.tunnel.stop();
  await done;
  stopped = true;
  const frames = r.device.written.length;
  const parks = r.waiter.calls.filter((c) => c.kind === "park").length;
  const span = r.now() / 1e6;
  // A park falls due 50 ms after the last, is noticed when the loop next
  // falls idle (at most one ping later), and waits QUIET_MS.
  assert.ok(
    parks >= span / (IDLE_POLL_MS + 10 + QUIET_MS) - 1 && parks <= span / IDLE_POLL_MS + 2,
    `${parks} parks in ${span} ms`,
  );
  assert.ok(visits <= parks + 1, `${visits} event-loop visits for ${frames} frames and ${parks} parks`);
});

Deno.test("poll driver: a park waits for a quiet spell, so the answer to a frame just sent is not caught in it", async () => {
  // A frame from the TAP every 10 ms (a ping), each answered by the peer
  // 0.5 ms after it went out.
  const pings = every(() => r, 10, "frame");
  const answers: number[] = [];
  let seen = 0;
  const t = timed(() => r, (now, sent) => {
    for (; seen < sent; seen++) answers.push(now + 0.5e6);
    const ping = pings();
    if (answers.length > 0 && answers[0] < ping.at) {
      return {
        at: answers[0],
        come: () => (answers.shift(), r.net.inject(PEER, LOCAL, new Uint8Array(70).fill(6))),
      };
    }
    return ping;
  });
  const r = rig(1000, () => t.waiter);
  const done = r.tunnel.run();
  await until(() => r.device.written.length >= 100);
  r.tunnel.stop();
  await done;
  const span = r.now() / 1e6;
  const parks = t.parks;
  assert.ok(parks.length >= span / (IDLE_POLL_MS + 10 + QUIET_MS) - 1, `${parks.length} parks in ${span} ms`);
  assert.deepEqual(parks.filter((p) => p.caught), [], "no answer came during a park");
  assert.ok(r.device.written.length >= 100, "the answers were forwarded");
});

Deno.test("poll driver: traffic that never leaves a quiet spell still parks within PARK_OVERDUE_MS", async () => {
  assert.ok(QUIET_MS > 1);
  // A datagram every millisecond.
  const t = timed(() => r, every(() => r, 1, "datagram"));
  const r = rig(1000, () => t.waiter);
  const done = r.tunnel.run();
  await until(() => r.now() >= 1000e6);
  r.tunnel.stop();
  await done;
  const at = t.parks.map((p) => p.at / 1e6);
  assert.ok(at.length >= 1000 / PARK_OVERDUE_MS - 1, `${at.length} parks in ${r.now() / 1e6} ms`);
  for (let i = 1; i < at.length; i++) {
    assert.ok(at[i] - at[i - 1] <= PARK_OVERDUE_MS + 2, `parks at ${at[i - 1]} and ${at[i]} ms`);
  }
});

Deno.test("poll driver: a frame or a datagram ends a park early and is forwarded at once", async () => {
  const r = rig(1000);
  const done = r.tunnel.run();
  await sleep(20);
  r.device.inject(new Uint8Array(60).fill(7));
  r.net.inject(PEER, LOCAL, new Uint8Array(70).fill(9));
  await r.device.waitWritten(1);
  await until(() => r.engine.stats.txFrames === 1);
  r.tunnel.stop();
  await done;
  assert.deepEqual(r.device.written[0], new Uint8Array(70).fill(9), "the datagram reached the TAP");
  assert.equal(r.engine.stats.txFrames, 1, "the frame was sealed");
  assert.ok(r.net.sent.some((d) => d.from === LOCAL && d.bytes.length === 60), "and sent to the peer");
  assert.ok(r.waiter.calls.some((c) => c.kind === "park" && c.ready > 0), "a park ended on it");
});

Deno.test("poll driver: the TAP is not waited for while the engine takes no frames", async () => {
  const r = rig(1000);
  r.engine.acceptsFrames = false;
  r.device.inject(new Uint8Array(60)); // stays queued in the "kernel"
  const done = r.tunnel.run();
  await sleep(50);
  const before = r.waiter.calls.length;
  assert.ok(before > 5);
  assert.ok(r.waiter.calls.every((c) => !c.device && c.ready === 0), "the queued frame does not end waits");
  assert.equal(r.device.toTunnel.length, 1, "and is not read");
  r.engine.acceptsFrames = true;
  await until(() => r.device.toTunnel.length === 0);
  r.tunnel.stop();
  await done;
  assert.equal(r.engine.stats.txFrames, 1, "once frames are taken it goes");
  assert.ok(r.waiter.calls.slice(before).some((c) => c.device), "the TAP is waited for again");
});

Deno.test("poll driver: stop() while parked ends the loop, and the socket is closed only after it", async () => {
  const socket: { t?: FakeTransport } = {};
  const closedWhenParkEnded: boolean[] = [];
  const r = rig(1000, (w) => ({
    watchDevice: (on) => w.watchDevice(on),
    wait: (ms) => w.wait(ms),
    park: async (ms) => {
      const n = await w.park(ms);
      closedWhenParkEnded.push(socket.t!.closed);
      return n;
    },
  }));
  socket.t = r.transport;
  const done = r.tunnel.run();
  await sleep(30);
  const stoppedAt = monotonicNs();
  r.tunnel.stop();
  await done;
  const ms = (monotonicNs() - stoppedAt) / 1e6;
  assert.ok(ms < 500, `the loop ended ${ms.toFixed(1)} ms after stop()`);
  assert.ok(closedWhenParkEnded.length > 0, "it parked");
  assert.ok(closedWhenParkEnded.every((c) => !c), "no park ended with the socket already closed");
  assert.ok(r.transport.closed && r.device.closed, "both are closed once run() has settled");
});

Deno.test("poll driver: under continuous load it still lets timers run, so stop() is heard", async () => {
  const net = new FakeNetwork();
  const device = new FakeDevice();
  // A TAP that always has a full batch waiting.
  device.readFrames = (_bufs: PacketBuffer[], lengths: Int32Array, max: number) => {
    for (let i = 0; i < max; i++) lengths[i] = 60;
    return max;
  };
  const transport = net.bind(LOCAL);
  const engine = new PassEngine(1000);
  const tunnel = new Tunnel({
    device,
    transport,
    engine,
    clock: monotonicNs,
    events: quiet,
    waiter: new FakeWaiter(device, transport),
  });
  const done = tunnel.run();
  let timerRan = 0;
  const t0 = monotonicNs();
  const timer = setInterval(() => timerRan++, 5);
  setTimeout(() => tunnel.stop(), 100);
  await done;
  clearInterval(timer);
  const ms = (monotonicNs() - t0) / 1e6;
  assert.ok(ms < 2000, `stopped after ${ms.toFixed(0)} ms of load`);
  assert.ok(timerRan >= 3, `a 5 ms interval ran ${timerRan} times in ${ms.toFixed(0)} ms of load`);
  assert.ok(engine.stats.txFrames > 1000, "it was forwarding all along");
});

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(5);
  }
}
