/**
 * The objects on the packet path keep their hidden class (V8's map) when
 * the numbers they hold grow: TCP sequence numbers are 32-bit, and V8 keeps
 * integers below 2^30 as Smis. A field that starts as a Smi and later takes
 * a larger number gets a new representation, which changes the class of
 * every object of its kind and deoptimizes the compiled code that handles
 * them (`--trace-deopt`: "wrong map" in TsoSplitter.next, Coalescer.add,
 * readFrames, deliver, ...). A tunnel then ran its packet path in V8's
 * slower tiers for tens of seconds at 100 pings a second, whenever the first
 * TCP flow with a sequence number above 2^30 came (three flows in four).
 */

import { strict as assert } from "node:assert";
import { runScript } from "./_util.ts";

Deno.test("JIT shapes: cutting and joining segments with sequence numbers above 2^30 keeps the classes", async () => {
  const script = new URL("./_jit_shapes.ts", import.meta.url).pathname;
  const { out } = await runScript(script, ["--v8-flags=--allow-natives-syntax"]);
  assert.deepEqual(JSON.parse(out), { splitter: true, coalescer: true });
});
