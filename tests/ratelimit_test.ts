/**
 * The responder's rate limiter (review M3): keyed by IPv4 address and IPv6
 * /64, bounded without ever being cleared at once, idle entries swept.
 */

import { strict as assert } from "node:assert";
import { RateLimiter, sourceKey } from "../core/ratelimit.ts";
import { timersNs } from "../core/timers.ts";
import { generateKeyPair } from "../core/noise.ts";
import { B_ADDR, KB, MS, pair, S, Side } from "./_engine_net.ts";

Deno.test("ratelimit: sources are IPv4 addresses and IPv6 /64 prefixes, whatever the spelling", () => {
  assert.equal(sourceKey("198.18.0.1"), "4:198.18.0.1");
  assert.notEqual(sourceKey("198.18.0.1"), sourceKey("198.18.0.2"));
  assert.equal(sourceKey("2001:db8:1:2::1"), "6:2001:db8:1:2");
  assert.equal(sourceKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), sourceKey("2001:0db8:0001:0002::9"));
  assert.equal(sourceKey("2001:DB8:1:2::1%eth0"), sourceKey("2001:db8:1:2::2"));
  assert.notEqual(sourceKey("2001:db8:1:2::1"), sourceKey("2001:db8:1:3::1"));
  assert.equal(sourceKey("::"), "6:0:0:0:0");
  assert.equal(sourceKey("::1"), "6:0:0:0:0");
  assert.equal(sourceKey("fe80::1:2:3:4"), "6:fe80:0:0:0");
  assert.equal(sourceKey("::ffff:198.18.0.1"), sourceKey("198.18.0.1"), "IPv4-mapped is the IPv4 address");
  assert.equal(sourceKey("1:2:3:4:5:6:1.2.3.4"), "6:1:2:3:4");
  assert.equal(sourceKey("1::2::3"), "?:1::2::3", "not an address: its own key");
});

const T = timersNs();

Deno.test("ratelimit: a burst of 5, then 20 a second, per /64", () => {
  const r = new RateLimiter(T);
  const now = 1000 * S;
  for (let i = 0; i < 5; i++) assert.ok(r.allow(`2001:db8:1:2::${i + 1}`, now), `burst ${i}`);
  assert.equal(r.allow("2001:db8:1:2::99", now), false, "the whole /64 shares one bucket");
  assert.ok(r.allow("2001:db8:1:3::1", now), "the next /64 has its own");
  assert.equal(r.allow("2001:db8:1:2::1", now + 49 * MS), false);
  assert.ok(r.allow("2001:db8:1:2::1", now + 50 * MS), "one token per 50 ms");
  assert.equal(r.size, 2);
});

Deno.test("ratelimit: a full table refuses new sources and is never cleared; idle entries are swept", () => {
  const r = new RateLimiter({ ...T, rateLimitMaxSources: 100 });
  let now = 1000 * S;
  for (let i = 0; i < 5; i++) r.allow("198.18.9.9", now); // exhausted
  assert.equal(r.allow("198.18.9.9", now), false);
  for (let i = 0; i < 99; i++) assert.ok(r.allow(`2001:db8:${i.toString(16)}::1`, now));
  assert.equal(r.size, 100);
  for (let i = 0; i < 500; i++) {
    assert.equal(r.allow(`2001:db9:${i.toString(16)}::1`, now), false, "new: refused");
  }
  assert.equal(r.allow("198.18.9.9", now), false, "the exhausted source is still limited: no reset");
  assert.ok(r.allow("2001:db8:0::1", now), "a known source with tokens still gets through");
  now += T.rateLimitIdle + T.rateLimitSweep;
  assert.ok(r.allow("2001:db9:1::1", now), "after the sweep there is room again");
  assert.equal(r.size, 1, "the idle entries were removed");
});

/** Ten initiators (with the wrong key, so each costs b one DH) at the
 * given addresses, against a responder that is always under load; each
 * gets a cookie and retries with mac2. Returns b's counters. */
function underLoadFrom(hosts: string[]) {
  const { net, b, clock } = pair({ underLoadPerSecond: 0 }, {}, { timers: { underLoadPerSecond: 0 } });
  net.sides.splice(net.sides.findIndex((s) => s.name === "a"), 1); // only the strangers
  for (const [i, hostname] of hosts.entries()) {
    net.add(new Side(`m${i}`, { hostname, port: 4000 + i }, generateKeyPair(), KB, clock, B_ADDR));
  }
  net.flush();
  assert.equal(b.stats.hsCookieSent, hosts.length, "each first initiation got a cookie (no DH)");
  net.tick(5500); // each retries once, with mac2, within the same instant
  return b.stats;
}

Deno.test("ratelimit: under load, one /64 gets a burst of 5 DH; ten /64s get 10", () => {
  const same = underLoadFrom([...Array(10).keys()].map((i) => `2001:db8:7:7::${i + 1}`));
  assert.equal(same.dropUnknownPeer, 5, "5 processed (each one DH)");
  assert.equal(same.dropRateLimited, 5, "the rest refused before any DH");
  const spread = underLoadFrom([...Array(10).keys()].map((i) => `2001:db8:7:${i + 1}::1`));
  assert.equal(spread.dropUnknownPeer, 10);
  assert.equal(spread.dropRateLimited, 0);
});
