/**
 * log.ts: the network-message throttle with a fake clock (a known answer:
 * 5 lines per message per 10 s, then one summary line), and the journald
 * form under systemd (`JOURNAL_STREAM`), checked in a child process with the
 * variable set, unset, and not permitted.
 */

import { strict as assert } from "node:assert";
import { resetSync } from "@logtape/logtape";
import { log, netLog, setupLogging } from "../log.ts";
import { runScript } from "./_util.ts";

Deno.test("network messages: 5 per message per 10 s, then a summary of the rest", () => {
  const lines: string[] = [];
  let now = 1_000_000;
  setupLogging(0, (l) => lines.push(l), { journal: false, clock: () => now });
  try {
    for (let i = 0; i < 12; i++) netLog.warn`sending to ${`198.18.0.${i}:1011`} failed; frame dropped`;
    for (let i = 0; i < 2; i++) netLog.warn`interface ${"tap0"} is down; frame dropped`;
    now += 9_999;
    netLog.warn`sending to ${"198.18.0.99:1011"} failed; frame dropped`;
    assert.deepEqual(lines, [
      "tappet: warning: sending to 198.18.0.0:1011 failed; frame dropped",
      "tappet: warning: sending to 198.18.0.1:1011 failed; frame dropped",
      "tappet: warning: sending to 198.18.0.2:1011 failed; frame dropped",
      "tappet: warning: sending to 198.18.0.3:1011 failed; frame dropped",
      "tappet: warning: sending to 198.18.0.4:1011 failed; frame dropped",
      "tappet: warning: interface tap0 is down; frame dropped",
      "tappet: warning: interface tap0 is down; frame dropped",
    ]);
    lines.length = 0;
    now += 1; // the 10 s window of the first message is over
    netLog.warn`sending to ${"198.18.0.100:1011"} failed; frame dropped`;
    assert.deepEqual(lines, [
      "tappet: warning: 8 similar messages suppressed",
      "tappet: warning: sending to 198.18.0.100:1011 failed; frame dropped",
    ]);
    // Start-up and state messages are never throttled.
    lines.length = 0;
    for (let i = 0; i < 7; i++) log.warn`peer moved to ${i}`;
    assert.equal(lines.length, 7);
  } finally {
    resetSync();
  }
});

Deno.test("journald form: a syslog priority, no prefix, no timestamp", () => {
  const lines: string[] = [];
  setupLogging(2, (l) => lines.push(l), { journal: true });
  try {
    log.error`cannot go on`;
    log.warn`interface ${"tap0"} is down`;
    log.info`peer is ${"198.18.0.2:1011"}`;
    log.debug`socket buffers ${4194304}`;
    assert.deepEqual(lines, [
      "<3>cannot go on",
      "<4>interface tap0 is down",
      "<6>peer is 198.18.0.2:1011",
      "<7>socket buffers 4194304",
    ]);
  } finally {
    resetSync();
  }
});

async function childLog(env: Record<string, string>, allowEnv: boolean): Promise<string> {
  const url = new URL("../log.ts", import.meta.url).href;
  const code = `import { log, setupLogging } from ${JSON.stringify(url)};
    setupLogging(1); log.warn\`interface \${"tap0"} is down\`; log.info\`started\`;`;
  const file = Deno.makeTempFileSync({ suffix: ".ts" });
  try {
    Deno.writeTextFileSync(file, code);
    // `deno run` grants nothing unasked (`deno eval` would grant everything).
    const perms = ["--allow-read", "--allow-ffi", ...(allowEnv ? ["--allow-env=JOURNAL_STREAM"] : [])];
    return (await runScript(file, perms, env)).err;
  } finally {
    Deno.removeSync(file);
  }
}

Deno.test("JOURNAL_STREAM picks the journald form; without it, or without the permission, lines are as before", async () => {
  const home = { HOME: Deno.env.get("HOME") ?? "/root", PATH: Deno.env.get("PATH") ?? "/usr/bin" };
  assert.equal(
    await childLog({ ...home, JOURNAL_STREAM: "8:12345" }, true),
    "<4>interface tap0 is down\n<6>started\n",
  );
  assert.equal(
    await childLog(home, true),
    "tappet: warning: interface tap0 is down\ntappet: started\n",
  );
  assert.equal(
    await childLog({ ...home, JOURNAL_STREAM: "8:12345" }, false),
    "tappet: warning: interface tap0 is down\ntappet: started\n",
  );
});
