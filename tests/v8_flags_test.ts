/**
 * The V8 flags of deno.json's `tappet` task (README, "Performance") are part
 * of every way of running tappet: the `compile` task has the same (the
 * release executables and the .deb take their flags from it), the harness
 * that the tests, the demo and the benchmark start tappet with adds them,
 * and this Deno's V8 knows them (a flag that a later V8 renamed stops Deno
 * before tappet starts, so this would fail first). The installed command
 * and the package are checked in tests/install_test.ts and tests/deb_test.ts.
 */

import { strict as assert } from "node:assert";
import { RUN_FLAGS, tappetArgv, v8Flags } from "../scripts/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).tasks;
const words = (task: string) => task.split(/\s+/).filter((w) => w.startsWith("--v8-flags="));

Deno.test("V8 flags: the tappet and compile tasks have the same, and the harness runs tappet with them", () => {
  const flags = words(tasks.tappet);
  assert.equal(flags.length, 1, "one --v8-flags= in the tappet task");
  assert.deepEqual(words(tasks.compile), flags);
  assert.deepEqual(v8Flags(), flags);
  for (const f of flags) {
    assert.ok(RUN_FLAGS.includes(f));
    assert.ok(tappetArgv(["--version"]).includes(f));
  }
});

Deno.test("V8 flags: another checkout (bench --baseline) runs with its own deno.json's, not these", () => {
  const other = Deno.makeTempDirSync({ prefix: "tappet-v8-" });
  try {
    const theirs = "--v8-flags=--invocation-count-for-turbofan=1234";
    const task = `deno run --cached-only ${theirs} --allow-ffi main.ts`;
    Deno.writeTextFileSync(`${other}/deno.json`, JSON.stringify({ tasks: { tappet: task } }));
    const argv = tappetArgv(["--version"], [], `${other}/main.ts`);
    assert.ok(argv.includes(theirs), argv.join(" "));
    for (const f of words(tasks.tappet)) assert.ok(!argv.includes(f), argv.join(" "));
    assert.equal(argv.at(-2), `${other}/main.ts`);
    // Without a flag in its task, it runs with none.
    Deno.writeTextFileSync(`${other}/deno.json`, JSON.stringify({ tasks: { tappet: "deno run main.ts" } }));
    const bare = tappetArgv(["--version"], [], `${other}/main.ts`);
    assert.ok(!bare.some((w) => w.startsWith("--v8-flags=")), bare.join(" "));
  } finally {
    Deno.removeSync(other, { recursive: true });
  }
});

Deno.test("V8 flags: this Deno's V8 accepts them, and tappet runs with them", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: tappetArgv(["--version"]).slice(1),
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(err, "");
  assert.match(new TextDecoder().decode(out.stdout), /^tappet \d+\.\d+\.\d+\n$/);
});

Deno.test("V8 flags: the README's command for running from source has them", () => {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  for (const f of words(tasks.tappet)) assert.ok(readme.includes(`deno run --cached-only ${f} `), f);
});
