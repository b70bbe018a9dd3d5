/**
 * Starting tappet (and other programs) inside namespaces, stopping them, and
 * measuring a transfer: shared by the integration tests, the demo and the
 * benchmark.
 *
 * @module
 */

import { createPair, type NetnsPair, type PairOptions } from "./netns.ts";
import { Stats } from "../core/stats.ts";

/** Path of tappet's entry point. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** Path of the transfer tool. */
export const TCP_XFER = new URL("./tcp_xfer.ts", import.meta.url).pathname;

/** The permissions `deno run` needs for tappet: the README's set. */
export const PERMISSION_FLAGS = [
  "--allow-ffi",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=TAPPET_LIBSODIUM",
];

/**
 * The `--v8-flags=…` words of the `tappet` task in `root`/deno.json (this
 * checkout's by default): the V8 settings every way of running tappet has
 * (README, "Performance"), so that the tests and the benchmark run what a
 * user runs, and `bench --baseline DIR` runs DIR's own.
 */
export function v8Flags(root = new URL("..", import.meta.url).pathname): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`));
  const task: string = config.tasks?.tappet ?? "";
  return task.split(/\s+/).filter((w) => w.startsWith("--v8-flags="));
}

/** The Deno flags of a tappet run from this checkout: the permissions and
 * the V8 flags of deno.json's `tappet` task. */
export const RUN_FLAGS = [...PERMISSION_FLAGS, ...v8Flags()];

/** The start of `tappet run` on TAP `tp0` with the key pair `dir/ME.key`
 * and the peer's `dir/PEER.pub`: the arguments after the program. */
export function runArgs(dir: string, me: string, peer: string): string[] {
  return ["run", "--tap", "tp0", "--key", `${dir}/${me}.key`, "--peer-key", `${dir}/${peer}.pub`];
}

/** argv for `deno run <flags> main.ts ARGS`, with extra Deno flags if given;
 * `main` is the entry point (another checkout's for `bench --baseline`, run
 * with the V8 flags of that checkout's deno.json). */
export function tappetArgv(args: string[], denoFlags: string[] = [], main = MAIN): string[] {
  const flags = main === MAIN
    ? RUN_FLAGS
    : [...PERMISSION_FLAGS, ...v8Flags(main.slice(0, main.lastIndexOf("/")))];
  return [Deno.execPath(), "run", "--quiet", ...flags, ...denoFlags, main, ...args];
}

/** The value after `--NAME` in the script's arguments, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] !== undefined ? Deno.args[i + 1] : fallback;
}

/** Runs `tappet keygen DIR/NAME` for each name; throws with its stderr if one fails. */
export async function keygen(dir: string, names: string[] = ["a", "b"]): Promise<void> {
  for (const name of names) {
    const argv = tappetArgv(["keygen", `${dir}/${name}`]);
    const out = await new Deno.Command(argv[0], { args: argv.slice(1) }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  }
}

/** A namespace pair, a scratch directory, and the processes started in them. */
export interface Bed {
  pair: NetnsPair;
  dir: string;
  /** Push every process started here: they are killed at the end. */
  procs: NsProcess[];
}

/**
 * Creates the pair and a temporary directory (named from `dirPrefix`) and
 * runs `body`. If it throws, prints the end of every process's log first.
 * Always kills the processes, deletes the namespaces and the directory.
 */
export async function withBed(
  pairOptions: PairOptions,
  dirPrefix: string,
  body: (bed: Bed) => Promise<void>,
): Promise<void> {
  const pair = await createPair(pairOptions);
  const bed: Bed = { pair, dir: Deno.makeTempDirSync({ prefix: dirPrefix }), procs: [] };
  try {
    await body(bed);
  } catch (e) {
    for (const p of bed.procs) console.error(`--- ${p.log}\n${p.text().slice(-3000)}`);
    throw e;
  } finally {
    for (const p of bed.procs) await p.stop("SIGKILL", 1000);
    await pair.destroy();
    Deno.removeSync(bed.dir, { recursive: true });
  }
}

/** How {@linkcode startTappets} runs the two ends. */
export interface TappetPairOptions {
  /** Wire format; legacy ends get a fresh nonce file each. */
  protocol: "current" | "legacy";
  /** `--transport` value. */
  transport?: "ffi" | "deno";
  /** Extra Deno flags for both ends (for example `--cpu-prof`); `me` is "a" or "b". */
  denoFlags?: (me: "a" | "b") => string[];
  /** UDP port the server (b) listens on. */
  port?: number;
  /** More `tappet run` options for both ends (for example `--offload off`). */
  extra?: string[];
  /** The root of another checkout whose tappet runs instead of this one
   * (`bench --baseline`), with its own deno.json; keys still come from this one. */
  checkout?: string;
}

/**
 * Makes keys with `tappet keygen` in `dir` (and nonce files for the legacy
 * format), then starts b (listening on its underlay address) and, 300 ms
 * later, a (connecting to it), each with `-v` and its stderr in
 * `dir/{a,b}.log`. Returns [b, a]; the caller stops them.
 */
export async function startTappets(pair: NetnsPair, dir: string, o: TappetPairOptions): Promise<NsProcess[]> {
  const legacy = o.protocol === "legacy";
  await keygen(dir);
  for (const n of legacy ? ["a", "b"] : []) Deno.writeFileSync(`${dir}/nonce-${n}`, new Uint8Array(4));
  const side = (me: "a" | "b") => {
    const s = me === "a" ? pair.a : pair.b;
    const peer = me === "a" ? "b" : "a";
    const args = ["run", "--tap", s.tap, "--key", `${dir}/${me}.key`, "--peer-key", `${dir}/${peer}.pub`];
    const extra = legacy ? ["--protocol", "legacy", "--nonce-file", `${dir}/nonce-${me}`] : [];
    const role = me === "b" ? "--listen" : "--connect";
    const host = pair.family === 6 ? `[${pair.b.underlay}]` : pair.b.underlay;
    const argv = tappetArgv(
      [
        ...args,
        ...extra,
        ...o.extra ?? [],
        "--transport",
        o.transport ?? "ffi",
        role,
        `${host}:${o.port ?? 7011}`,
        "-v",
      ],
      [...o.checkout ? ["--config", `${o.checkout}/deno.json`] : [], ...o.denoFlags?.(me) ?? []],
      o.checkout ? `${o.checkout}/main.ts` : MAIN,
    );
    return new NsProcess(s.ns, argv, `${dir}/${me}.log`);
  };
  const b = side("b");
  await new Promise((r) => setTimeout(r, 300));
  return [b, side("a")];
}

/** A process started in a namespace, with its stderr kept in a file. */
export class NsProcess {
  readonly #child: Deno.ChildProcess;
  readonly log: string;
  #status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(
    ns: string,
    argv: string[],
    log: string,
    options: { user?: string; env?: Record<string, string>; cwd?: string } = {},
  ) {
    const drop = options.user
      ? ["setpriv", `--reuid=${options.user}`, `--regid=${options.user}`, "--clear-groups"]
      : [];
    const file = Deno.openSync(log, { write: true, create: true, truncate: true });
    this.log = log;
    this.#child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, ...drop, ...argv],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Deno's own update check would look up its download server from
      // inside the test's namespaces: never.
      env: { DENO_NO_UPDATE_CHECK: "1", ...options.env },
      cwd: options.cwd,
    }).spawn();
    // Copy both streams to the log as they come, so a hung process still
    // leaves its messages behind. (Synchronous writes: a file's writable
    // stream holds its chunks back until it is closed.)
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) {
        for (let off = 0; off < chunk.length;) off += file.writeSync(chunk.subarray(off));
      }
    };
    const pumps = Promise.all([pump(this.#child.stdout), pump(this.#child.stderr)]).finally(() =>
      file.close()
    );
    this.#status = this.#child.status.then(async (s) => {
      await pumps;
      this.#exited = true;
      return s;
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** The exit status, once it has exited. */
  get status(): Promise<Deno.CommandStatus> {
    return this.#status;
  }

  /** Sends `signal` and waits up to `ms` for the exit; SIGKILL after that.
   * Resolves to the exit status. */
  async stop(signal: Deno.Signal = "SIGTERM", ms = 5000): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch { /* already exited */ }
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms));
    const first = await Promise.race([this.#status, timer]);
    if (first === "timeout") {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    return await this.#status;
  }

  /** Waits until the log matches `pattern`; throws, with the log, when the
   * process exits first or `ms` pass. */
  async waitFor(pattern: RegExp, ms = 15_000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!pattern.test(this.text())) {
      if (this.#exited || performance.now() > deadline) {
        throw new Error(`${this.log} never matched ${pattern}:\n${this.text()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The log so far. */
  text(): string {
    try {
      return Deno.readTextFileSync(this.log);
    } catch {
      return "";
    }
  }
}

/** Result of {@linkcode transfer}. */
export interface TransferResult {
  readonly sent: { bytes: number; sha256: string; seconds: number };
  readonly received: { bytes: number; sha256: string; seconds: number };
  /** Throughput seen by the receiver, Mbit/s. */
  readonly mbps: number;
}

/** Sends `bytes` over TCP from side a to side b's overlay address through
 * the tunnel, and returns both ends' accounts of it. */
export async function transfer(
  pair: NetnsPair,
  bytes: number,
  port = 5201,
  seed = 7,
): Promise<TransferResult> {
  const run = (ns: string, args: string[]) =>
    new Deno.Command("ip", {
      args: ["netns", "exec", ns, Deno.execPath(), "run", "--quiet", "--allow-net", TCP_XFER, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const receiver = run(pair.b.ns, ["recv", pair.b.overlay, String(port)]);
  await new Promise((r) => setTimeout(r, 300));
  const sender = await run(pair.a.ns, ["send", pair.b.overlay, String(port), String(bytes), String(seed)]);
  const recv = await receiver;
  const parse = (o: Deno.CommandOutput, who: string) => {
    const text = new TextDecoder().decode(o.stdout).trim();
    if (!o.success || text === "") {
      throw new Error(`tcp_xfer ${who} failed: ${new TextDecoder().decode(o.stderr).trim()}`);
    }
    return JSON.parse(text);
  };
  const sent = parse(sender, "send");
  const received = parse(recv, "recv");
  return { sent, received, mbps: (received.bytes * 8) / received.seconds / 1e6 };
}

/** The counters a tappet run with -v logged at exit (a `counters:` line,
 * then the non-zero ones as `  name value` lines), every counter present. */
export function counters(log: string): Record<string, number> {
  const lines = log.split("\n");
  const start = lines.findLastIndex((l) => l === "tappet: counters:");
  if (start < 0) throw new Error(`no counters in the log:\n${log}`);
  const out: Record<string, number> = { ...new Stats().snapshot() };
  for (const line of lines.slice(start + 1)) {
    const m = line.match(/^tappet: {3}(\w+) (\S+)$/);
    if (m === null) break;
    out[m[1]] = Number(m[2]);
  }
  return out;
}
