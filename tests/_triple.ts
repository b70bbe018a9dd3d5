/**
 * The bed of the MTU tests: three namespaces a — r — b (scripts/netns3.ts)
 * whose r—b link has MTU 1280 while the TAPs stay at 1500.
 */

import { createTriple, type NetnsTriple } from "../scripts/netns3.ts";
import type { NsProcess } from "../scripts/harness.ts";

/** Runs `body` over a fresh triple `id` of `family` (path MTU 1280, TAPs
 * 1500) with a temporary directory named `prefix`…; the processes `body`
 * puts in `procs` have their logs printed when it throws, and are killed
 * (SIGKILL, 1 s) when it ends, before the triple and the directory go. */
export async function withTriple(
  id: number,
  family: 4 | 6,
  prefix: string,
  body: (t: NetnsTriple, dir: string, procs: NsProcess[]) => Promise<void>,
): Promise<void> {
  const t = await createTriple({ id, family, pathMtu: 1280, tapMtu: 1500 });
  const dir = Deno.makeTempDirSync({ prefix });
  const procs: NsProcess[] = [];
  try {
    await body(t, dir, procs);
  } catch (e) {
    for (const p of procs) console.error(`--- ${p.log}\n${p.text().slice(-3000)}`);
    throw e;
  } finally {
    for (const p of procs) await p.stop("SIGKILL", 1000);
    await t.destroy();
    Deno.removeSync(dir, { recursive: true });
  }
}
