/**
 * tunnel/watch.ts with a fake clock and a stand-in engine: when the
 * diagnosis is said (15 s after start or after the session ended, then at
 * most every 5 minutes; never for an idle tunnel after a session), the
 * session lines of `-v`, and the wall-clock time of a handshake. The
 * namespace tests (ops_diagnose_test.ts) check the same with real tunnels.
 */

import { strict as assert } from "node:assert";
import type { Engine, SessionInfo } from "../core/engine.ts";
import { Stats } from "../core/stats.ts";
import { runnerTimers, Watch } from "../tunnel/watch.ts";

const S = 1e9;

function bed() {
  const stats = new Stats();
  const t = { now: 1000 * S, wall: 1_800_000_000_000 };
  const session: { info: SessionInfo } = {
    info: { established: false, latestHandshakeAt: undefined, sessionAgeNs: undefined, sessionsStarted: 0 },
  };
  const engine = {
    stats,
    peer: { hostname: "198.18.0.2", port: 41011 },
    sessionInfo: () => session.info,
  } as unknown as Engine;
  const lines: string[] = [];
  const watch = new Watch({
    engine,
    format: "current",
    counters: () => stats.snapshot(),
    clock: () => t.now,
    wallClock: () => t.wall,
    timers: runnerTimers("current"),
    log: { info: (l) => lines.push(`info ${l}`), warn: (l) => lines.push(`warn ${l}`) },
  });
  /** Moves both clocks by `s` seconds, ticking once a second. */
  const run = (s: number) => {
    for (let i = 0; i < s; i++) {
      t.now += S;
      t.wall += 1000;
      watch.tick();
    }
  };
  return { stats, t, session, watch, lines, run };
}

Deno.test("watch: no answer is said once after 15 s, then not before 5 minutes", () => {
  const { stats, lines, run } = bed();
  stats.hsInitSent = 1;
  run(14);
  assert.deepEqual(lines, []);
  run(1);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^warn no handshake completed in 15 s: 1 handshake initiation\(s\) sent, no answer/);
  stats.hsInitSent = 3;
  run(2);
  assert.deepEqual(lines.slice(1), ["info 3 handshake initiations unanswered so far; still trying"]);
  run(300 - 3);
  assert.equal(lines.length, 2, "nothing more within 5 minutes");
  run(1);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /^warn no handshake completed in 315 s: 3 handshake initiation/);
});

Deno.test("watch: session lines at -v; the handshake's wall time; an idle end is not a fault", () => {
  const { stats, t, session, watch, lines, run } = bed();
  run(3);
  const at = t.now - 0.5 * S;
  stats.sessionsStarted = 1;
  session.info = { established: true, latestHandshakeAt: at, sessionAgeNs: 0.5 * S, sessionsStarted: 1 };
  const wallThen = t.wall - 500;
  run(1);
  assert.deepEqual(lines, ["info session started with 198.18.0.2:41011"]);
  assert.equal(watch.latestHandshakeMs, wallThen, "the wall clock at the handshake, though seen 1 s later");
  t.wall += 3_600_000; // the system clock steps: the handshake's time stays
  assert.equal(watch.latestHandshakeMs, wallThen);
  stats.sessionsStarted = 2;
  session.info = { ...session.info, sessionsStarted: 2, latestHandshakeAt: t.now };
  run(1);
  assert.equal(lines[1], "info rekeyed with 198.18.0.2:41011");
  // The session expires on an idle tunnel: one -v line, and no warning later.
  session.info = {
    established: false,
    latestHandshakeAt: t.now,
    sessionAgeNs: undefined,
    sessionsStarted: 2,
  };
  run(60);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /^info no session now/);
  // Then traffic starts a handshake that is never answered: said 15 s after
  // the session ended, counted from then.
  stats.hsInitSent += 2;
  run(1);
  assert.equal(lines.length, 4);
  assert.match(lines[3], /^warn no handshake completed in 60 s: 2 handshake initiation\(s\) sent, no answer/);
});
