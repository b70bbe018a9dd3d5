/** The checks made at start, over the loopback interface (no root, no
 * traffic: a path MTU is read from a socket connected to 127.0.0.1). */

import { strict as assert } from "node:assert";
import { interfaceState, startWarnings } from "../tunnel/iface.ts";

const LO = { hostname: "127.0.0.1", port: 9 };

Deno.test("start checks: the loopback interface is up, with its MTU", () => {
  const lo = interfaceState("lo");
  assert.ok(lo !== undefined && lo.up, "lo is up");
  assert.equal(String(lo.mtu), Deno.readTextFileSync("/sys/class/net/lo/mtu").trim());
  assert.equal(interfaceState("nosuch0"), undefined);
});

Deno.test("start checks: a TAP that is down, an MTU too big for the path, both, neither", () => {
  // The path MTU over lo: its MTU, but at most 65535 (an IPv4 packet's
  // total length field, RFC 791).
  const path = Math.min(interfaceState("lo")!.mtu, 65535);
  const fits = path - 20 - 8 - 24 - 14; // the largest TAP MTU for the current format over IPv4
  assert.deepEqual(startWarnings("tp0", { up: true, mtu: fits }, LO, 4, 24), []);
  assert.deepEqual(startWarnings("tp0", undefined, LO, 4, 24), [], "nothing known, nothing said");
  const down = startWarnings("tp0", { up: false, mtu: 1500 }, undefined, 4, 24);
  assert.deepEqual(down, ["interface tp0 is down: frames will not flow until 'ip link set tp0 up'"]);
  const both = startWarnings("tp0", { up: false, mtu: fits + 1 }, LO, 4, 24);
  assert.equal(both.length, 2);
  assert.equal(
    both[1],
    `the MTU of tp0 (${
      fits + 1
    }) is too big for the path to 127.0.0.1:9: tappet clamps TCP and answers larger packets with ICMP "too big" or fragments them, which costs speed; ` +
      `set the TAP MTU of tp0 to ${fits} (path MTU ${path} − 66) with 'ip link set tp0 mtu ${fits}' (or run with --set-mtu)`,
  );
  // The legacy format's 56 bytes of overhead leave 32 fewer.
  assert.match(startWarnings("tp0", { up: true, mtu: fits }, LO, 4, 56)[0], new RegExp(`to ${fits - 32} `));
});
