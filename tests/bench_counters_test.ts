/** The benchmark's frame count against an outside reader: the TCP segment
 * counters it takes from a namespace's /proc/net/snmp (scripts/bench/measure.ts)
 * must be the ones iproute2's `nstat` reports for the same namespace, after
 * real TCP traffic there. Needs root (it makes a network namespace). */

import { strict as assert } from "node:assert";
import { deleteNamespace, sh } from "../scripts/netns.ts";
import { snmpTcpSegments } from "../scripts/bench/measure.ts";

/** One MiB over TCP on the namespace's loopback, with Deno on both ends. */
const TRANSFER = `
const l = Deno.listen({ hostname: "127.0.0.1", port: 7099 });
const got = (async () => {
  const c = await l.accept();
  const b = new Uint8Array(65536);
  let n = 0;
  for (let r = await c.read(b); r !== null; r = await c.read(b)) n += r;
  c.close();
  return n;
})();
const c = await Deno.connect({ hostname: "127.0.0.1", port: 7099 });
await c.write(new Uint8Array(1 << 20));
c.close();
console.log(await got);
l.close();
`;

Deno.test({
  name: "snmpTcpSegments: a namespace's TCP segments in and out, as nstat counts them",
  ignore: Deno.uid() !== 0,
  async fn() {
    const ns = `tpt-snmp-${Deno.pid}`;
    await sh(["ip", "netns", "add", ns]);
    try {
      const inNs = (cmd: string[]) => sh(["ip", "netns", "exec", ns, ...cmd]);
      await inNs(["ip", "link", "set", "lo", "up"]);
      const before = snmpTcpSegments(await inNs(["cat", "/proc/net/snmp"]));
      assert.equal((await inNs([Deno.execPath(), "eval", TRANSFER])).trim(), String(1 << 20));
      const after = snmpTcpSegments(await inNs(["cat", "/proc/net/snmp"]));
      // -a absolute, -s without touching nstat's history file, -z zeros too.
      const nstat = await inNs(["nstat", "-asz", "TcpOutSegs", "TcpInSegs"]);
      const value = (name: string) => Number(nstat.match(new RegExp(`^${name}\\s+(\\d+)`, "m"))?.[1]);
      assert.deepEqual(after, { out: value("TcpOutSegs"), in: value("TcpInSegs") });
      // A loopback MiB is at least 16 segments of 64 KiB, and each was counted both ways.
      assert.ok(
        after.out - before.out >= 16 && after.in - before.in >= 16,
        JSON.stringify({ before, after }),
      );
    } finally {
      await deleteNamespace(ns);
    }
  },
});
