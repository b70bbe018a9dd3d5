/**
 * V8's helper threads run under SCHED_BATCH (io/sched.ts), seen from outside
 * the process with `ps`, as an operator would look: in a program that calls
 * {@linkcode batchHelperThreads}, and in both ends of a running tunnel
 * (namespaces, needs root). The main thread and the runtime's own threads
 * keep SCHED_OTHER ("TS" in ps's class column, "B" for batch).
 */

import { strict as assert } from "node:assert";
import { waitForPing } from "../scripts/netns.ts";
import { startTappets, withBed } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";

/** Each thread of process `pid` as [scheduling class, name], from ps. */
async function threadClasses(pid: number): Promise<[string, string][]> {
  const out = await new Deno.Command("ps", { args: ["-L", "-o", "cls=,comm=", "-p", String(pid)] }).output();
  assert.ok(out.success, `ps -L -p ${pid} failed`);
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => {
    const m = l.trim().match(/^(\S+)\s+(.*)$/)!;
    return [m[1], m[2]];
  });
}

/** Asserts that every V8 helper thread of `pid` (at least one) is under
 * SCHED_BATCH and every other thread under SCHED_OTHER. */
async function assertHelpersBatched(pid: number, who: string): Promise<void> {
  const threads = await threadClasses(pid);
  const helpers = threads.filter(([, name]) => name.startsWith("V8 "));
  assert.ok(helpers.length >= 1, `${who}: no V8 helper thread among ${JSON.stringify(threads)}`);
  for (const [cls, name] of threads) {
    assert.equal(cls, name.startsWith("V8 ") ? "B" : "TS", `${who}: thread ${name} is in class ${cls}`);
  }
}

Deno.test("batchHelperThreads: V8's helpers go to SCHED_BATCH, every other thread stays", async () => {
  const sched = new URL("../io/sched.ts", import.meta.url).href;
  const code = `import { batchHelperThreads } from "${sched}";
    const r = batchHelperThreads();
    console.log(JSON.stringify({ batched: r.batched, error: r.error?.message }));
    for await (const _ of Deno.stdin.readable) { /* until the test closes stdin */ }`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--no-config", code],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const first = JSON.parse((await reader.read()).value!);
    assert.equal(first.error, undefined);
    const before = (await threadClasses(child.pid)).filter(([, n]) => n.startsWith("V8 ")).length;
    assert.equal(first.batched, before, "it reports the helpers it moved");
    await assertHelpersBatched(child.pid, "deno eval");
  } finally {
    await child.stdin.close();
    await reader.cancel();
    await child.status;
  }
});

Deno.test({
  name: "a running tunnel: both ends' V8 helpers are under SCHED_BATCH, the packet thread is not",
  ignore: !isRoot(),
  fn: () =>
    withBed({ id: 191 }, "tappet-sched-", async (bed) => {
      const procs = await startTappets(bed.pair, bed.dir, { protocol: "current" });
      bed.procs.push(...procs);
      assert.ok(await waitForPing(bed.pair.a.ns, bed.pair.b.overlay), "the tunnel works");
      for (const [p, who] of [[procs[0], "listening end"], [procs[1], "connecting end"]] as const) {
        await assertHelpersBatched(p.pid, who);
      }
    }),
});
