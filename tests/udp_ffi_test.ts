/**
 * The FFI UDP socket on loopback: every datagram arrives once, with its
 * length and source, whatever its size (empty ones included), whether the
 * kernel joins them (GRO) or the sender groups them (GSO), however many are
 * sent at once. No root needed.
 */

import { strict as assert } from "node:assert";
import { FfiUdpTransport } from "../io/udp_ffi.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { Endpoint } from "../core/endpoint.ts";
import { Stats } from "../core/stats.ts";
import { slot } from "../io/counters.ts";
import { gsoGroups } from "../io/gso.ts";

/** Receives until `want` datagrams came or 2 s passed; returns their bytes. */
async function receiveAll(
  t: FfiUdpTransport,
  want: number,
): Promise<{ data: Uint8Array[]; from: Endpoint[] }> {
  const bufs = Array.from({ length: 64 }, () => new PacketBuffer(0));
  const lengths = new Int32Array(64);
  const from: Endpoint[] = new Array(64);
  const out = { data: [] as Uint8Array[], from: [] as Endpoint[] };
  const deadline = performance.now() + 2000;
  while (out.data.length < want && performance.now() < deadline) {
    const n = t.receiveNow(bufs, lengths, from);
    if (n === 0) {
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    for (let i = 0; i < n; i++) {
      out.data.push(bufs[i].bytes.slice(0, lengths[i]));
      out.from.push(from[i]);
    }
  }
  return out;
}

/** Runs `body` with two IPv4 FFI sockets on 127.0.0.1, a receiver and a
 * sender (counting into `stats` when given); closes both however it ends. */
async function withPair(
  body: (rx: FfiUdpTransport, tx: FfiUdpTransport) => Promise<void>,
  stats?: Stats,
): Promise<void> {
  const rx = FfiUdpTransport.bind("127.0.0.1", 0, 4);
  const tx = FfiUdpTransport.bind("127.0.0.1", 0, 4, stats ? { stats } : undefined);
  try {
    await body(rx, tx);
  } finally {
    rx.close();
    tx.close();
  }
}

/** Sends `datagrams` one per call (no GSO grouping) from `t` to `to`. */
function sendEach(t: FfiUdpTransport, to: Endpoint, datagrams: Uint8Array[]) {
  const buf = [new PacketBuffer(0)];
  const len = new Int32Array(1);
  for (const d of datagrams) {
    buf[0].bytes.set(d);
    len[0] = d.length;
    t.sendNow(buf, len, 1, to, (f) => assert.fail(`send failed: ${f.message}`));
  }
}

Deno.test("ffi socket: datagrams of every size, empty ones too, arrive once with their source", () =>
  withPair(async (rx, tx) => {
    const sizes = [0, 1, 7, 0, 64, 1400, 0, 9000, 60000];
    const datagrams = sizes.map((n, i) => new Uint8Array(n).fill(i + 1));
    sendEach(tx, rx.local, datagrams);
    const got = await receiveAll(rx, sizes.length);
    assert.deepEqual(got.data.map((d) => d.length), sizes);
    assert.deepEqual(got.data, datagrams);
    for (const f of got.from) assert.deepEqual(f, tx.local);
  }));

Deno.test("ffi socket: a batch sent at once (GSO groups) arrives whole and in order", () =>
  withPair(async (rx, tx) => {
    // Runs of equal sizes, as a TCP transfer makes them, with odd ones between.
    const sizes = [...Array(20).fill(1200), 300, ...Array(10).fill(1200), 0, 1200, 1200];
    const bufs = sizes.map(() => new PacketBuffer(0));
    const lengths = new Int32Array(sizes);
    sizes.forEach((n, i) => bufs[i].bytes.fill(i + 1, 0, n));
    tx.sendNow(bufs, lengths, sizes.length, rx.local, (f) => assert.fail(`send failed: ${f.message}`));
    const got = await receiveAll(rx, sizes.length);
    assert.deepEqual(got.data.map((d) => d.length), sizes);
    got.data.forEach((d, i) => assert.ok(d.every((b) => b === i + 1), `datagram ${i} intact`));
  }));

Deno.test("ffi socket: a batch of more than 64 datagrams is sent whole, counted in the Stats given", async () => {
  const stats = new Stats();
  await withPair(async (rx, tx) => {
    assert.equal(tx.batch, 64);
    // 200 = 64 + 64 + 64 + 8: four chunks, with runs across the chunk edges
    // and odd sizes between.
    const sizes = Array.from({ length: 200 }, (_, i) => (i % 50 === 49 ? 77 : 1000));
    const bufs = sizes.map(() => new PacketBuffer(0));
    const lengths = new Int32Array(sizes);
    sizes.forEach((n, i) => {
      bufs[i].bytes.fill(i & 0xff, 0, n);
      bufs[i].bytes[0] = i >> 8;
    });
    tx.sendNow(bufs, lengths, sizes.length, rx.local, (f) => assert.fail(`send failed: ${f.message}`));
    const got = await receiveAll(rx, sizes.length);
    assert.equal(got.data.length, 200, "every datagram arrived");
    assert.deepEqual(got.data.map((d) => d.length), sizes);
    got.data.forEach((d, i) => {
      assert.equal(d[0], i >> 8, `datagram ${i} in its place`);
      assert.ok(d.subarray(1).every((b) => b === (i & 0xff)), `datagram ${i} intact`);
    });
    // Grouped: within each chunk of 64, runs of 1000s ended by a 77 (the
    // last of a run may be shorter); every group but a lone datagram counts.
    const starts = new Int32Array(65);
    let grouped = 0;
    for (let from = 0; from < 200; from += 64) {
      const to = Math.min(from + 64, 200);
      const n = gsoGroups(lengths, from, to, starts);
      for (let k = 0; k < n; k++) if (starts[k + 1] - starts[k] > 1) grouped += starts[k + 1] - starts[k];
    }
    assert.equal(grouped, 200);
    assert.equal(stats.values[slot("txGsoDatagrams")], grouped, "GSO datagrams counted in the given Stats");
    assert.equal(tx.gsoDatagrams, grouped);
    // On loopback a GSO message reaches a GRO socket whole, and is cut here.
    if (rx.info.gro) assert.ok(rx.groDatagrams > 0 && rx.groDatagrams <= 200, `${rx.groDatagrams} joined`);
  }, stats);
});

Deno.test("ffi socket: a refused datagram is reported and counted by errno, the rest still go", async () => {
  const stats = new Stats();
  await withPair(async (rx, tx) => {
    // 65535 bytes cannot fit one IPv4 datagram (65507 at most): EMSGSIZE.
    const sizes = [100, 65535, 100];
    const bufs = sizes.map(() => new PacketBuffer(0));
    const failures: string[] = [];
    tx.sendNow(bufs, new Int32Array(sizes), 3, rx.local, (f) => failures.push(`${f.code} ${f.length}`));
    assert.deepEqual(failures, ["EMSGSIZE 65535"]);
    assert.equal(stats.values[slot("dropTxMsgSize")], 1);
    const got = await receiveAll(rx, 2);
    assert.deepEqual(got.data.map((d) => d.length), [100, 100]);
  }, stats);
});
