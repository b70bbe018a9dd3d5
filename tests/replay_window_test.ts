/** The RFC 6479 anti-replay window: tables of counters, then a random run
 * against a reference model. */

import { strict as assert } from "node:assert";
import { MAX_COUNTER, ReplayWindow } from "../core/replay_window.ts";

const S = ReplayWindow.SIZE;
const TWO_48 = 2 ** 48;

/** A counter and whether it must be accepted. */
type Step = [counter: number, accepted: boolean];

const range = (from: number, to: number, accepted: boolean): Step[] =>
  Array.from({ length: to - from }, (_, i): Step => [from + i, accepted]);

const CASES: { name: string; steps: Step[] }[] = [
  { name: "counter 0 first, then in order", steps: [[0, true], ...range(1, 100, true)] },
  {
    name: "duplicates",
    steps: [[0, true], [0, false], [1, true], [1, false], [0, false], [5, true], [5, false], [1, false]],
  },
  {
    name: "reordering within the window",
    steps: [
      [10, true],
      [5, true],
      [7, true],
      [9, true],
      [5, false],
      [11, true],
      [8, true],
      [6, true],
      [0, true],
      [
        0,
        false,
      ],
      [10, false],
      [12, true],
    ],
  },
  {
    name: "exactly SIZE behind is rejected, SIZE − 1 behind accepted",
    steps: [[S + 100, true], [100, false], [101, true], [101, false], [S + 99, true], [S + 101, true], [
      101,
      false,
    ], [
      102,
      true,
    ]],
  },
  {
    name: "window edges with the highest at a word's first bit",
    steps: [[S, true], [0, false], [1, true], [31, true], [32, true]],
  },
  {
    name: "window edges with the highest at a word's last bit",
    steps: [[8191, true], [31, false], [32, true], [63, true], [0, false]],
  },
  { name: "SIZE − 1 behind the first counter", steps: [[S - 1, true], [0, true], [0, false], [1, true]] },
  {
    name: "a jump within the window keeps old counters and opens the skipped ones",
    steps: [
      ...range(0, 100, true),
      [5000, true],
      ...range(0, 100, false),
      [100, true],
      [4999, true],
      [2500, true],
      [2500, false],
      [5000, false],
    ],
  },
  {
    name: "a jump forward makes old counters too old, skipped ones in the new window acceptable",
    steps: [
      ...range(0, 100, true),
      [10_000, true],
      [50, false],
      [10_000 - S, false],
      [10_000 - S + 1, true],
      [10_000 - S + 1, false],
      [4999, true],
      [9999, true],
      [10_000, false],
    ],
  },
  {
    name: "a jump of exactly one ring clears the stale bits of the reused words",
    steps: [
      [8, true],
      [40, true],
      [40 + 256 * 32, true], // same ring word as 40
      [40, false], // 8192 behind: too old
      [8 + 256 * 32, true], // same word and bit as 8: the old bit is gone
      [72, false], // exactly SIZE behind
      [73, true],
      [73, false],
    ],
  },
  {
    name: "a full ring, then a jump larger than the whole ring",
    steps: [
      ...range(0, 8192, true),
      [8192 * 50 + 17, true],
      ...range(8192 * 50 + 17 - S + 1, 8192 * 50 + 17, true),
      [8192 * 50 + 17 - S, false],
      [8192 * 50 + 17, false],
      [8192 * 50 + 16, false],
      [3, false],
      [8192 * 1000, true],
      [8192 * 999, false],
      [8192 * 1000 - 1, true],
    ],
  },
  {
    name: "counters near 2^48",
    steps: [
      [MAX_COUNTER - 10, true],
      [MAX_COUNTER, true],
      [MAX_COUNTER, false],
      [MAX_COUNTER - 10, false],
      [MAX_COUNTER - 5, true],
      [MAX_COUNTER - S, false],
      [MAX_COUNTER - S + 1, true],
      [TWO_48, false],
      [TWO_48 + 1, false],
      [MAX_COUNTER - 1, true],
    ],
  },
  {
    name: "from 0 straight to near 2^48",
    steps: [
      [0, true],
      [TWO_48 - 2 ** 20, true],
      [0, false],
      [TWO_48 - 2 ** 20 - 1, true],
      ...range(
        TWO_48 - 64,
        TWO_48,
        true,
      ),
      [TWO_48 - 64, false],
    ],
  },
  {
    name: "not a counter",
    steps: [
      [-1, false],
      [1.5, false],
      [NaN, false],
      [Infinity, false],
      [-Infinity, false],
      [0, true],
      [
        -0,
        false,
      ],
      [2, true],
      [2 ** 53, false],
    ],
  },
];

for (const { name, steps } of CASES) {
  Deno.test(`replay window: ${name}`, () => {
    const w = new ReplayWindow();
    assert.equal(w.highest, -1);
    let highest = -1;
    for (const [i, [counter, accepted]] of steps.entries()) {
      const where = `step ${i}: counter ${counter}`;
      assert.equal(w.check(counter), accepted, `check, ${where}`);
      assert.equal(w.check(counter), accepted, `check changed the state, ${where}`);
      assert.equal(w.accept(counter), accepted, `accept, ${where}`);
      if (accepted) highest = Math.max(highest, counter);
      assert.equal(w.highest, highest, where);
      if (accepted) assert.equal(w.check(counter), false, `recorded, ${where}`);
    }
  });
}

Deno.test("replay window: SIZE is (256 − 1) × 32", () => {
  assert.equal(ReplayWindow.SIZE, 8160);
  assert.ok(ReplayWindow.SIZE >= 2048);
});

Deno.test("replay window: reset forgets everything", () => {
  const w = new ReplayWindow();
  for (let c = 0; c < 100; c++) assert.ok(w.accept(c * 3));
  w.reset();
  assert.equal(w.highest, -1);
  for (let c = 0; c < 100; c++) assert.ok(w.accept(c));
});

/** mulberry32: a small seeded generator, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The rule, spelled out: a set of every accepted counter and the highest. */
class Model {
  readonly seen = new Set<number>();
  highest = -1;
  /** How often each outcome occurred. */
  readonly outcomes = { accepted: 0, duplicate: 0, tooOld: 0, invalid: 0 };
  accept(c: number): boolean {
    const o = this.outcomes;
    if (!Number.isInteger(c) || c < 0 || c > MAX_COUNTER) return (o.invalid++, false);
    if (c <= this.highest && this.highest - c >= S) return (o.tooOld++, false);
    if (c <= this.highest && this.seen.has(c)) return (o.duplicate++, false);
    o.accepted++;
    this.seen.add(c);
    if (c > this.highest) this.highest = c;
    return true;
  }
}

for (const seed of [1, 2, 3]) {
  Deno.test(`replay window: 100k random operations agree with the model (seed ${seed})`, () => {
    const rand = prng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const w = new ReplayWindow();
    const m = new Model();
    // Start anywhere, including 2^40 below 2^48: the run drifts up by about
    // 2^39, so the last seed ends close to the top.
    const start = [0, int(1e9), MAX_COUNTER - 2 ** 40][seed - 1];
    const recent: number[] = []; // the last 64 counters tried, for replays
    for (let i = 0; i < 100_000; i++) {
      const r = rand();
      const h = Math.max(m.highest, start);
      let c: number;
      if (r < 0.40) c = h + 1 + int(4); // mostly forward
      else if (r < 0.70) c = h - int(S + 64); // reordered, too old
      else if (r < 0.85) c = recent.length ? recent[int(recent.length)] : 0; // replayed
      else if (r < 0.95) c = h - S + int(3) - 1; // the window's edge
      else if (r < 0.99) c = h + int(3 * 8192); // jumps up to three rings
      else c = h + int(2 ** 30); // far jumps
      if (c < 0) c = int(8);
      recent[i & 63] = c;
      const expect = m.accept(c);
      assert.equal(w.check(c), expect, `op ${i}: check(${c}) with highest ${w.highest}`);
      assert.equal(w.accept(c), expect, `op ${i}: accept(${c}) with highest ${w.highest}`);
      assert.equal(w.highest, m.highest);
    }
    // Every outcome must have been exercised plenty.
    const { accepted, duplicate, tooOld } = m.outcomes;
    assert.ok(accepted > 10_000 && duplicate > 1_000 && tooOld > 1_000, JSON.stringify(m.outcomes));
  });
}
