/**
 * A peer from before probes, for real: b runs the current engine of the
 * last revision without them (main at a6dcd72, taken out of this git
 * repository into a temporary directory), a the probing one. The older
 * engine drops each probe at byte 0 (an unknown type: `dropMalformed`),
 * delivers nothing of them, and a stays at today's behaviour: its size
 * unknown, its traffic as before. Skipped outside a git checkout.
 */

import { strict as assert } from "node:assert";
import type { CurrentEngine } from "../core/current_engine.ts";
import { Type } from "../core/current_wire.ts";
import { assertFlows, frame, pair } from "./_engine_net.ts";

const OLD = "a6dcd72";
const ROOT = new URL("..", import.meta.url).pathname;

/** The older tree's directory, or undefined when git cannot give it. */
function oldTree(): string | undefined {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-old-engine-" });
  const out = new Deno.Command("sh", {
    args: ["-c", `git -C '${ROOT}' archive ${OLD} core ffi errors.ts | tar -x -C '${dir}'`],
    stderr: "null",
  }).outputSync();
  if (out.success) return dir;
  Deno.removeSync(dir, { recursive: true });
  return undefined;
}

const dir = oldTree();

Deno.test({
  name: dir === undefined
    ? `pmtud: SKIPPED, no git checkout with ${OLD}: an older peer drops probes unread`
    : "pmtud: an older peer drops probes unread, delivers nothing of them, and traffic is as before",
  ignore: dir === undefined,
  async fn() {
    try {
      const old = await import(`${dir}/core/current_engine.ts`);
      const { net, a, b, clock } = pair({}, { probeCeiling: 1472 });
      b.engine.close();
      b.engine = new old.CurrentEngine({
        secretKey: b.keys.secretKey,
        peerPublic: b.peerKeys.publicKey,
        now: clock.now,
        wallClock: () => clock.wall,
        random: () => 0.5,
      }) as CurrentEngine;
      assert.equal("maxDatagram" in b.engine, false, "the older engine knows nothing of probes");
      net.flush();
      net.frame(a, frame(1));
      net.tick(30_000, 100);
      const probes = net.log.filter((w) => w.bytes[0] === Type.Probe);
      assert.equal(probes.length, 3, "the base, three times");
      assert.equal(b.stats.dropMalformed, 3, "each dropped at byte 0");
      assert.equal(b.stats.dropBadTag + b.stats.dropReplay + b.stats.dropTapWrite, 0);
      assert.deepEqual(b.delivered, [frame(1)], "nothing of a probe was delivered");
      assert.equal(a.engine.maxDatagram, undefined, "a: unknown, today's behaviour");
      assertFlows(net, a, b, 5);
      net.tick(700_000, 1000);
      assertFlows(net, a, b, 9);
      assert.equal(a.engine.maxDatagram, undefined);
      b.engine.close();
    } finally {
      Deno.removeSync(dir!, { recursive: true });
    }
  },
});
