/** Parsing of addresses and ports as users type them. */

import { strict as assert } from "node:assert";
import { formatHostPort, ipFamily, parseHostPort, parsePort } from "../core/address.ts";

Deno.test("address: IP literals", () => {
  for (const s of ["198.18.0.1", "0.0.0.0", "255.255.255.255"]) assert.equal(ipFamily(s), 4, s);
  for (const s of ["::1", "2001:db8::1", "::", "fe80::1:2:3:4", "::ffff:198.18.0.1", "1:2:3:4:5:6:7:8"]) {
    assert.equal(ipFamily(s), 6, s);
  }
  for (
    const s of [
      "",
      "1.2.3",
      "256.1.1.1",
      "01.2.3.4",
      "host.example",
      "1:2:3:4:5:6:7:8:9",
      "[::1]",
      "fe80::1%eth0",
      "::g",
    ]
  ) {
    assert.equal(ipFamily(s), undefined, s);
  }
});

Deno.test("address: every port from 1 to 65535, nothing else", () => {
  assert.deepEqual(parsePort("1"), { ok: true, value: 1 });
  assert.deepEqual(parsePort("65535"), { ok: true, value: 65535 });
  for (const s of ["0", "65536", "99999", "-1", "1011x", "", " 1", "0x10", "1e3"]) {
    const p = parsePort(s);
    assert.ok(!p.ok, s);
    assert.match(p.error, /port/);
  }
});

Deno.test("address: ADDRESS:PORT with IPv6 in brackets", () => {
  assert.deepEqual(parseHostPort("198.18.0.2:1011"), {
    ok: true,
    value: { host: "198.18.0.2", family: 4, port: 1011 },
  });
  assert.deepEqual(parseHostPort("[2001:db8::1]:1011"), {
    ok: true,
    value: { host: "2001:db8::1", family: 6, port: 1011 },
  });
  const bare = parseHostPort("2001:db8::1:1011");
  assert.ok(!bare.ok && /brackets/.test(bare.error));
  assert.ok(!parseHostPort("[198.18.0.2]:1011").ok);
  assert.ok(!parseHostPort("198.18.0.2").ok);
  assert.ok(!parseHostPort("198.18.0.2:0").ok);
  assert.ok(!parseHostPort("[::1]").ok);
});

Deno.test("address: formatting brackets IPv6 only", () => {
  assert.equal(formatHostPort({ hostname: "::1", port: 5 }), "[::1]:5");
  assert.equal(formatHostPort({ host: "198.18.0.1", port: 5 }), "198.18.0.1:5");
});
