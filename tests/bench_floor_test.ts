/** The benchmark's `deno-floor` row (scripts/bench/floor.ts) is a working
 * tunnel at the MTU it claims: between two namespaces, pings of every size
 * up to a full-size frame cross it with DF set. Needs root (namespaces and
 * TAPs). */

import { strict as assert } from "node:assert";
import { createPair, ping, waitForPing } from "../scripts/netns.ts";
import { floorRow } from "../scripts/bench/floor.ts";
import type { NsProcess } from "../scripts/harness.ts";

/** The third octet of the test's addresses (scripts/netns.ts). */
const PAIR_ID = 177;
/** ICMP echo payload of a full-size frame: the MTU less the IPv4 (20) and ICMP (8) headers. */
const FULL = floorRow.mtu - 28;

Deno.test({
  name: "deno-floor row: carries small and full-size frames between two namespaces",
  ignore: Deno.uid() !== 0,
  async fn() {
    const pair = await createPair({ id: PAIR_ID, mtu: floorRow.mtu, prefix: "tpt-floor" });
    const dir = Deno.makeTempDirSync({ prefix: "tappet-floor-" });
    let procs: NsProcess[] = [];
    try {
      procs = await floorRow.start(pair, dir);
      assert.ok(await waitForPing(pair.a.ns, pair.b.overlay, 15), "no ping crossed the floor tunnel");
      for (const size of [0, 100, FULL]) {
        assert.equal(
          await ping(pair.a.ns, pair.b.overlay, { count: 3, size, dontFragment: true }),
          3,
          `size ${size}`,
        );
      }
    } finally {
      for (const p of procs) await p.stop("SIGTERM", 3000);
      await pair.destroy();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
