/**
 * Run by tests/jit_shapes_test.ts with `--v8-flags=--allow-natives-syntax`:
 * cuts a TCP super-frame whose sequence numbers lie above 2^30 and joins
 * the segments back, then prints, as JSON, whether the TsoSplitter and the
 * Coalescer that did it still have the hidden class (V8's map) of ones
 * made before. A field that held a small integer (a Smi) and then takes a
 * larger number changes the class of every such object, which throws the
 * packet path's optimized code away (README, "Performance").
 */

import { Coalescer, TsoSplitter, VNET_HDR_LEN } from "../io/offload.ts";
import { rxBuffer, superFrame, view } from "./_frames.ts";

const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;

const freshSplitter = new TsoSplitter();
const freshCoalescer = new Coalescer(() => 0);

const splitter = new TsoSplitter();
const coalescer = new Coalescer(() => 0);
const src = superFrame(false, new Uint8Array(4000).fill(7), 1000);
if (!splitter.load(src, view(src), 0, 0, src.length)) throw new Error("the super-frame was not taken");
const rx = rxBuffer(8);
for (let n; (n = splitter.next(rx.payload, rx.view, rx.payloadAt)) > 0;) {
  coalescer.add(rx.front(VNET_HDR_LEN), rx.view, rx.payloadAt, n);
}
coalescer.flush();
if (coalescer.joined !== 4) throw new Error(`joined ${coalescer.joined} segments, not 4`);

console.log(JSON.stringify({
  splitter: sameMap(freshSplitter, splitter),
  coalescer: sameMap(freshCoalescer, coalescer),
}));
