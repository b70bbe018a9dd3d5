/**
 * Helpers of the operations tests (issue 11): tunnels started in a
 * namespace pair with their own options per end, `tappet status` run inside
 * a namespace as a user runs it, and Prometheus's tools.
 */

import { strict as assert } from "node:assert";
import { type Bed, keygen, NsProcess, tappetArgv, withBed } from "../scripts/harness.ts";
import { type NetnsPair, type PairOptions, waitForPing } from "../scripts/netns.ts";
import type { TunnelStatus } from "../tunnel/status.ts";
import { isRoot } from "./_util.ts";

/** The Deno flag that lets a test shorten timers (TAPPET_TEST_TIMERS). */
export const TIMERS_FLAG = "--allow-env=TAPPET_LIBSODIUM,JOURNAL_STREAM,TAPPET_TEST_TIMERS";

/** How one end is started. */
export interface EndOptions {
  /** More `tappet run` options. */
  extra?: string[];
  /** Instead of `--connect B:PORT` (client) or `--listen B:PORT` (server). */
  role?: string[];
  /** Key names: ours and the peer's public one; default a/b. */
  key?: string;
  peerKey?: string;
  /** `-v` or not (the default level). */
  verbose?: boolean;
  /** Environment (TAPPET_TEST_TIMERS). */
  env?: Record<string, string>;
  /** Replace the whole argument list after `run`. */
  args?: string[];
}

/** The address:port of b's listener. */
export function serverAddr(pair: NetnsPair, port = 7011): string {
  return `${pair.family === 6 ? `[${pair.b.underlay}]` : pair.b.underlay}:${port}`;
}

/** Starts `me`'s tappet in its namespace (keys in `dir`, made by
 * {@linkcode keys}); its log in `dir/NAME.log`. */
export function startEnd(
  pair: NetnsPair,
  dir: string,
  me: "a" | "b",
  o: EndOptions = {},
  name: string = me,
): NsProcess {
  const side = me === "a" ? pair.a : pair.b;
  const role = o.role ?? (me === "b" ? ["--listen", serverAddr(pair)] : ["--connect", serverAddr(pair)]);
  const key = o.key ?? me;
  const peerKey = o.peerKey ?? (me === "a" ? "b" : "a");
  const args = o.args ??
    ["--tap", side.tap, "--key", `${dir}/${key}.key`, "--peer-key", `${dir}/${peerKey}.pub`, ...role];
  const argv = tappetArgv(
    ["run", ...args, ...o.extra ?? [], ...(o.verbose === false ? [] : ["-v"])],
    o.env ? [TIMERS_FLAG] : [],
  );
  return new NsProcess(side.ns, argv, `${dir}/${name}.log`, { env: o.env });
}

/** The test `name`, run as root only and not when `skip`: a bed
 * ({@linkcode withBed}) of pair `id` (or of all of a pair's options) and a
 * temporary directory named `prefix`…, with the keys of {@linkcode keys}
 * made in it, for `body`. */
export function bedTest(
  name: string,
  id: number | PairOptions,
  prefix: string,
  body: (bed: Bed) => Promise<void>,
  skip = false,
): void {
  Deno.test({
    name,
    ignore: !isRoot() || skip,
    async fn() {
      await withBed(typeof id === "number" ? { id } : id, prefix, async (bed) => {
        await keys(bed.dir);
        await body(bed);
      });
    },
  });
}

/** Starts b's tappet and waits until it listens, then a's, both with
 * {@linkcode startEnd} and into `bed.procs` (the bed stops them); asserts,
 * with message `why`, that a ping from a crosses the overlay within 20 s.
 * The keys must be made first ({@linkcode keys}). */
export async function startBoth(
  bed: Bed,
  a: EndOptions = {},
  b: EndOptions = {},
  why?: string,
): Promise<{ a: NsProcess; b: NsProcess }> {
  const pb = startEnd(bed.pair, bed.dir, "b", b);
  bed.procs.push(pb);
  await pb.waitFor(/listening on/);
  const pa = startEnd(bed.pair, bed.dir, "a", a);
  bed.procs.push(pa);
  assert(await waitForPing(bed.pair.a.ns, bed.pair.b.overlay, 20), why);
  return { a: pa, b: pb };
}

/** Makes key pairs a, b and c (a stranger's) in `dir`. */
export async function keys(dir: string): Promise<void> {
  await keygen(dir, ["a", "b", "c"]);
}

/** Runs `tappet ARGS` in namespace `ns` to the end. */
export async function tappetIn(
  ns: string,
  args: string[],
  user?: string,
): Promise<{ code: number; out: string; err: string[] }> {
  const drop = user ? ["setpriv", `--reuid=${user}`, `--regid=${user}`, "--clear-groups"] : [];
  const argv = tappetArgv(args);
  const o = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, ...drop, ...argv],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: o.code, out: dec(o.stdout), err: dec(o.stderr).split("\n").filter((l) => l !== "") };
}

/** `tappet status --json` in `ns`: the one tunnel's status. */
export async function statusJson(ns: string, extra: string[] = []): Promise<TunnelStatus> {
  const o = await tappetIn(ns, ["status", "--json", ...extra]);
  assert.equal(o.code, 0, o.err.join("\n"));
  const lines = o.out.trim().split("\n");
  assert.equal(lines.length, 1, `one tunnel: ${o.out}`);
  return JSON.parse(lines[0]);
}

/** Waits until `check` holds for `ns`'s status, or throws after `ms`. */
export async function waitForStatus(
  ns: string,
  check: (s: TunnelStatus) => boolean,
  ms = 20_000,
): Promise<TunnelStatus> {
  const until = Date.now() + ms;
  let last: TunnelStatus | undefined;
  while (Date.now() < until) {
    try {
      last = await statusJson(ns);
      if (check(last)) return last;
    } catch {
      // Not up yet.
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`status in ${ns} never matched: ${JSON.stringify(last)}`);
}

/** Whether `cmd` is on the PATH. */
export function have(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Runs a Deno script's text inside namespace `ns` with net access; its stdout. */
export async function denoIn(ns: string, code: string): Promise<string> {
  const o = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, Deno.execPath(), "eval", "--quiet", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!o.success) throw new Error(new TextDecoder().decode(o.stderr));
  return new TextDecoder().decode(o.stdout);
}

/** Asserts that `promtool check metrics` accepts `text` without a word. */
export async function promtoolCheck(text: string): Promise<void> {
  const check = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = check.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await check.output();
  const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert(out.success, `promtool check metrics: ${said}`);
  assert.equal(said.trim(), "", `promtool found problems: ${said}`);
}

/** The lines of `log` that match `re`. */
export function linesMatching(log: string, re: RegExp): string[] {
  return log.split("\n").filter((l) => re.test(l));
}
