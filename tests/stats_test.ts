/** The tunnel's counters: one slot per name, printed as `name value`
 * lines, snapshots that are copies. */

import { strict as assert } from "node:assert";
import { COUNTERS, Stats } from "../core/stats.ts";

Deno.test("stats: every name is a field of its own, lines name the non-zero ones in order", () => {
  const s = new Stats();
  assert.equal(new Set(COUNTERS).size, COUNTERS.length, "no name twice");
  COUNTERS.forEach((name, i) => (s[name] = i + 1));
  COUNTERS.forEach((name, i) => assert.equal(s.values[i], i + 1, name));
  const fresh = new Stats();
  assert.deepEqual(fresh.lines(), []);
  fresh.txGsoDatagrams = 3;
  fresh.rxFrames += 2;
  fresh.rxBytes += 2 ** 40; // beyond the small-integer range, still exact
  assert.deepEqual(fresh.lines(), ["rxFrames 2", `rxBytes ${2 ** 40}`, "txGsoDatagrams 3"]);
});

Deno.test("stats: a snapshot holds every counter and does not follow later counts", () => {
  const s = new Stats();
  s.dropTapWrite = 4;
  const snap = s.snapshot();
  assert.deepEqual(Object.keys(snap), [...COUNTERS]);
  assert.equal(snap.dropTapWrite, 4);
  s.dropTapWrite++;
  assert.equal(snap.dropTapWrite, 4);
  assert.equal(s.rxDropped, 5, "a refused frame is a receive-side drop");
});
