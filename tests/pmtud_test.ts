/**
 * core/pmtud.ts on its own: the search's steps against a fake path, the
 * base by address family, the ceiling's rules, and what a received probe
 * message is answered with (or dropped for).
 */

import { strict as assert } from "node:assert";
import { BASE_IPV4, BASE_IPV6, PathProbe, probeBase, Received } from "../core/pmtud.ts";
import { Stats } from "../core/stats.ts";
import { timersNs } from "../core/timers.ts";

const V4 = { hostname: "198.18.0.2", port: 1011 };
const V6 = { hostname: "2001:2::2", port: 1011 };
const S = 1e9;

/** A prober whose probes cross a path of `limit` bytes (acked at once);
 * returns the sizes probed, in order, and the result. */
function search(ceiling: number, limit: number, peer = V4) {
  const stats = new Stats();
  const queued: string[] = [];
  const p = new PathProbe(timersNs(), stats, ceiling, (c) => queued.push(c));
  const sizes: number[] = [];
  const payload = new Uint8Array(2000);
  for (let now = 0; now < 120 * S && (p.searching || now === 0); now += S / 10) {
    p.tick(now, true, peer);
    while (queued.length > 0) {
      queued.shift();
      const n = p.writeProbe(payload);
      const size = n + 24;
      sizes.push(size);
      if (size <= limit) {
        // The peer's ack: kind 2, the same id and size.
        payload[0] = 2;
        p.received(payload, 7, 31, now);
        p.tick(now, true, peer);
      }
    }
  }
  return { sizes, result: p.maxDatagram, stats };
}

Deno.test("pmtud: the base by family; IPv4-mapped is IPv4", () => {
  assert.equal(BASE_IPV4, 548);
  assert.equal(BASE_IPV6, 1232);
  assert.equal(probeBase(V4), 548);
  assert.equal(probeBase(V6), 1232);
  assert.equal(probeBase({ hostname: "::ffff:198.18.0.2", port: 1 }), 548);
});

Deno.test("pmtud: base, ceiling first, then bisection to the byte", () => {
  const { sizes, result } = search(1472, 1252);
  assert.equal(result, 1252);
  assert.deepEqual(sizes.slice(0, 4), [548, 1472, 1472, 1472], "the base, then the ceiling three times");
  const distinct = [...new Set(sizes)];
  assert.equal(distinct[2], Math.floor((548 + 1472) / 2));
  assert.ok(distinct.length <= 2 + 11, `${distinct.length} sizes for a 924-byte range`);
  assert.deepEqual(search(1472, 1472).sizes, [548, 1472], "a full path: two probes");
  assert.equal(search(1472, 100).result, undefined, "nothing crosses: unknown");
  assert.equal(search(1400, 65535, V6).sizes[0], 1232, "IPv6: from 1232");
  assert.deepEqual(search(500, 65535).sizes, [500], "a ceiling below the base is the base");
});

Deno.test("pmtud: the ceiling's rules", () => {
  const p = new PathProbe(timersNs(), new Stats(), undefined, () => {});
  p.tick(0, true, V4);
  assert.equal(p.searching, false, "no ceiling: no probing");
  p.setCeiling(30);
  p.tick(0, true, V4);
  assert.equal(p.searching, false, "below 31 bytes: no probing");
  p.setCeiling(1472);
  p.tick(0, false, V4);
  assert.equal(p.searching, false, "no session that seals: nothing");
  p.tick(0, true, undefined);
  assert.equal(p.searching, false, "no peer: nothing");
  p.tick(0, true, V4);
  assert.equal(p.searching, true);
  p.setCeiling(1472);
  assert.equal(p.searching, true, "the same ceiling changes nothing");
  p.setCeiling(1400);
  assert.equal(p.searching, false, "a new ceiling: a new search at the next tick");
});

Deno.test("pmtud: received probe messages: answered, counted, or dropped", () => {
  const stats = new Stats();
  const queued: string[] = [];
  const p = new PathProbe(timersNs(), stats, undefined, (c) => queued.push(c));
  const probe = (id: number, size: number, length: number) => {
    const b = new Uint8Array(Math.max(length, 7));
    b.set([1, id & 0xff, id >> 8, 0, 0, size & 0xff, size >> 8]);
    return b;
  };
  assert.equal(p.received(probe(7, 100, 76), 76, 100, 0), Received.Probe, "answered without probing itself");
  assert.deepEqual(queued, ["ack"]);
  const ack = new Uint8Array(7);
  assert.equal(p.writeAck(ack), 7);
  assert.deepEqual([...ack], [2, 7, 0, 0, 0, 100, 0]);
  assert.equal(stats.probesAnswered, 1);
  assert.equal(p.writeAck(ack), 0, "nothing more owed");
  assert.equal(p.received(probe(8, 101, 76), 76, 100, 0), Received.Malformed, "size ≠ datagram length");
  assert.equal(p.received(probe(8, 100, 6), 6, 30, 0), Received.Malformed, "too short");
  assert.equal(p.received(new Uint8Array([9, 0, 0, 0, 0, 0, 0]), 7, 31, 0), Received.Malformed, "kind 9");
  assert.equal(p.received(new Uint8Array(8).fill(2, 0, 1), 8, 32, 0), Received.Malformed, "an ack of 8");
  assert.equal(stats.dropMalformed, 4);
  assert.equal(p.received(ack, 7, 31, 0), Received.Ack, "a stray ack: counted, changes nothing");
  assert.equal(stats.probeAcks, 1);
  assert.equal(p.maxDatagram, undefined);
  for (let i = 0; i < 6; i++) p.received(probe(20 + i, 100, 76), 76, 100, 0);
  const ids: number[] = [];
  while (p.writeAck(ack) > 0) ids.push(ack[1]);
  assert.deepEqual(ids, [22, 23, 24, 25], "at most 4 owed: the newest");
});
