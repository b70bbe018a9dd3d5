/** The legacy nonce source: never repeating, strictly increasing. */

import { strict as assert } from "node:assert";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { LegacyReplay } from "../core/legacy_replay.ts";
import { toHex } from "./_util.ts";

const counter = (n: Uint8Array) => toHex(n.subarray(16));

Deno.test("nonce: layout is prefix, 12 random bytes, big-endian clock", () => {
  const n = new LegacyNonce(0x01020304, new Uint8Array(12).fill(0xaa));
  assert.equal(toHex(n.next(1e9)), "01020304" + "aa".repeat(12) + "000000003b9aca00");
});

Deno.test("nonce: many nonces within one clock tick stay unique and increasing", () => {
  const n = new LegacyNonce(1, new Uint8Array(12));
  const seen = new Set<string>();
  let last = "";
  for (let i = 0; i < 100_000; i++) {
    const c = counter(n.next(5_000_000_000)); // the clock never moves
    assert.ok(c > last, `counter ${c} not above ${last}`);
    seen.add(c);
    last = c;
  }
  assert.equal(seen.size, 100_000);
  assert.equal(last, (5_000_000_000 + 99_999).toString(16).padStart(16, "0"));
});

Deno.test("nonce: a clock that goes backwards does not move the counter back", () => {
  const n = new LegacyNonce(1, new Uint8Array(12));
  assert.equal(counter(n.next(1000)), "00000000000003e8");
  assert.equal(counter(n.next(10)), "00000000000003e9");
  assert.equal(counter(n.next(2000)), "00000000000007d0");
});

Deno.test("nonce: the +1 carries into the high word, and clocks above 2^53 ns still increase", () => {
  const n = new LegacyNonce(1, new Uint8Array(12));
  assert.equal(counter(n.next(2 ** 32 - 1)), "00000000ffffffff");
  assert.equal(counter(n.next(2 ** 32 - 1)), "0000000100000000");
  const m = new LegacyNonce(1, new Uint8Array(12));
  const big = 2 ** 54; // 208 days of uptime: doubles step by 4 ns here
  let last = "";
  for (let i = 0; i < 10; i++) {
    const c = counter(m.next(big));
    assert.ok(c > last);
    last = c;
  }
  assert.equal(last, (2n ** 54n + 9n).toString(16).padStart(16, "0"));
});

Deno.test("nonce: prefix must be 1..2^32-1", () => {
  assert.throws(() => new LegacyNonce(0, new Uint8Array(12)), RangeError);
  assert.throws(() => new LegacyNonce(2 ** 32, new Uint8Array(12)), RangeError);
});

Deno.test("replay rule: memcmp order over all 24 bytes, equal is a replay", () => {
  const r = new LegacyReplay();
  const n = (last: number, first = 1) => {
    const b = new Uint8Array(24);
    b[0] = first;
    b[23] = last;
    return b;
  };
  assert.ok(r.isFresh(n(5)));
  r.accept(n(5));
  assert.ok(!r.isFresh(n(5)), "the same nonce twice");
  assert.ok(!r.isFresh(n(4)), "an older nonce");
  assert.ok(r.isFresh(n(6)));
  assert.ok(r.isFresh(n(0, 2)), "a larger prefix sorts above any counter");
});
