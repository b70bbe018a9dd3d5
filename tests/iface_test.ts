/** The checks made at start, over the loopback interface (no root, no
 * traffic), and the MTU warnings of a running tunnel: they take the path MTU
 * tappet works with, never the kernel's cached one (which a forged ICMP can
 * lower; over lo the kernel's is lo's MTU, 65536, far from the 1500 given). */

import { strict as assert } from "node:assert";
import { resetSync } from "@logtape/logtape";
import { setupLogging } from "../log.ts";
import { interfaceState, startWarnings } from "../tunnel/iface.ts";
import { tunnelEvents } from "../tunnel/report.ts";

const LO = { hostname: "127.0.0.1", port: 9 };
/** The path MTU tappet works with in these tests, bytes. */
const PATH = 1500;
/** The largest TAP MTU for the current format over IPv4 on it: 1500 − 20 −
 * 8 − 24 − 14. */
const FITS = 1434;

Deno.test("start checks: the loopback interface is up, with its MTU", () => {
  const lo = interfaceState("lo");
  assert.ok(lo !== undefined && lo.up, "lo is up");
  assert.equal(String(lo.mtu), Deno.readTextFileSync("/sys/class/net/lo/mtu").trim());
  assert.equal(interfaceState("nosuch0"), undefined);
});

Deno.test("start checks: a TAP that is down, an MTU too big for the path, both, neither", () => {
  assert.notEqual(interfaceState("lo")?.mtu, PATH, "the kernel's path MTU to lo differs from the one given");
  assert.deepEqual(startWarnings("tp0", { up: true, mtu: FITS }, LO, PATH, 4, 24), []);
  assert.deepEqual(startWarnings("tp0", undefined, LO, PATH, 4, 24), [], "nothing known, nothing said");
  assert.deepEqual(
    startWarnings("tp0", { up: true, mtu: 9000 }, LO, undefined, 4, 24),
    [],
    "no path MTU known",
  );
  const down = startWarnings("tp0", { up: false, mtu: 1500 }, undefined, PATH, 4, 24);
  assert.deepEqual(down, ["interface tp0 is down: frames will not flow until 'ip link set tp0 up'"]);
  const both = startWarnings("tp0", { up: false, mtu: FITS + 1 }, LO, PATH, 4, 24);
  assert.equal(both.length, 2);
  assert.equal(
    both[1],
    `the MTU of tp0 (${
      FITS + 1
    }) is too big for the path to 127.0.0.1:9: tappet clamps TCP and answers larger packets with ICMP "too big" or fragments them, which costs speed; ` +
      `set the TAP MTU of tp0 to ${FITS} (path MTU ${PATH} − 66) with 'ip link set tp0 mtu ${FITS}' (or run with --set-mtu)`,
  );
  // The legacy format's 56 bytes of overhead leave 32 fewer.
  assert.match(
    startWarnings("tp0", { up: true, mtu: FITS }, LO, PATH, 4, 56)[0],
    new RegExp(`to ${FITS - 32} `),
  );
});

Deno.test("running: a server's new peer and EMSGSIZE are checked against tappet's path MTU", () => {
  const lines: string[] = [];
  setupLogging(1, (l) => lines.push(l), { journal: false });
  try {
    let path: number | undefined = PATH;
    const events = tunnelEvents({
      iface: "tp0",
      family: 4,
      overhead: 24,
      mtu: 1500,
      listen: true,
      pathMtu: () => path,
    });
    events.peerChanged(LO, true);
    events.sendFailed({ code: "EMSGSIZE", length: 1500 + 24, to: LO, message: "Message too long" });
    const advice = `set the TAP MTU of tp0 to ${FITS} (path MTU ${PATH} − 66)`;
    assert.deepEqual(lines, [
      "tappet: peer is 127.0.0.1:9",
      `tappet: warning: the MTU of tp0 (1500) is too big for the path to 127.0.0.1:9: tappet clamps TCP and answers larger packets with ICMP "too big" or fragments them, which costs speed; ${advice} with 'ip link set tp0 mtu ${FITS}' (or run with --set-mtu)`,
      `tappet: warning: frame of 1500 bytes is too big for the path to 127.0.0.1:9: ${advice}; dropped`,
    ]);
    // Unknown: no warning for the peer, and the EMSGSIZE line says how.
    lines.length = 0;
    path = undefined;
    events.peerChanged({ hostname: "127.0.0.2", port: 9 }, false);
    events.sendFailed({ code: "EMSGSIZE", length: 1500 + 24, to: LO, message: "Message too long" });
    assert.deepEqual(lines, [
      "tappet: peer moved to 127.0.0.2:9",
      "tappet: warning: frame of 1500 bytes is too big for the path to 127.0.0.1:9: set the TAP MTU of tp0 to the path MTU − 66; dropped",
    ]);
  } finally {
    resetSync();
  }
});
