/**
 * Two network namespaces joined by a veth pair, with a TAP interface in each:
 * the test bed of the integration tests, the demo and the benchmark. Needs
 * root and iproute2.
 *
 * Address plan (RFC 2544/5180 benchmarking ranges, never routed):
 * - underlay IPv4 198.18.ID.1 (a) and .2 (b), or IPv6 2001:2:0:ID::1 and ::2;
 * - overlay (the TAPs) 198.19.ID.1 (a) and .2 (b).
 * No address outside the two namespaces is ever used.
 *
 * @module
 */

/** Runs a command; resolves to its stdout, or throws with its stderr. */
export async function sh(cmd: string[], options: { allowFail?: boolean } = {}): Promise<string> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success && !options.allowFail) {
    throw new Error(`${cmd.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return text;
}

/** Removes the control socket directory tappet makes for namespace `ns`
 * (io/control_path.ts), if there is one: a tappet killed there leaves its
 * socket behind. */
export function removeControlDir(ns: string): void {
  try {
    Deno.removeSync(`/run/tappet/netns-${ns}`, { recursive: true });
  } catch {
    // None.
  }
}

/** One side of a {@linkcode NetnsPair}. */
export interface Side {
  /** Namespace name. */
  readonly ns: string;
  /** Underlay address (IPv4 or IPv6 literal) on the veth. */
  readonly underlay: string;
  /** Overlay IPv4 address on the TAP. */
  readonly overlay: string;
  /** TAP interface name inside the namespace. */
  readonly tap: string;
}

/** Two namespaces `a` and `b`; delete them with {@linkcode NetnsPair.destroy}. */
export interface NetnsPair {
  readonly a: Side;
  readonly b: Side;
  readonly family: 4 | 6;
  /** The TAP MTU set on both sides. */
  readonly mtu: number;
  /** Runs `cmd` inside namespace `ns`. */
  exec(ns: string, cmd: string[], options?: { allowFail?: boolean }): Promise<string>;
  /** Kills every process left in the namespaces and deletes them. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Options for {@linkcode createPair}. */
export interface PairOptions {
  /** 1..254: the third octet of every address; unique per concurrent pair. */
  readonly id: number;
  /** Underlay address family. */
  readonly family?: 4 | 6;
  /** TAP MTU; default: the largest a legacy frame allows on a 1500-byte path. */
  readonly mtu?: number;
  /** Owner of the TAP interfaces (`ip tuntap add ... user`), if not root. */
  readonly tapUser?: string;
  /** Namespace name prefix; default derived from the process id. */
  readonly prefix?: string;
  /** False: make no TAP (the program under test makes its own interface;
   * see {@linkcode configureOverlay}). */
  readonly tap?: boolean;
}

/** Creates the two namespaces, the veth pair and the TAPs, all up. Deletes
 * whatever it made if any step fails. */
export async function createPair(options: PairOptions): Promise<NetnsPair> {
  const id = options.id;
  const family = options.family ?? 4;
  const mtu = options.mtu ?? (family === 6 ? 1382 : 1402);
  const prefix = options.prefix ?? `tpt${Deno.pid}x${id}`;
  const nsA = `${prefix}-a`;
  const nsB = `${prefix}-b`;
  const vethA = `tv${Deno.pid % 100000}a${id}`;
  const vethB = `tv${Deno.pid % 100000}b${id}`;
  const under = family === 6
    ? [`2001:2:0:${id}::1`, `2001:2:0:${id}::2`]
    : [`198.18.${id}.1`, `198.18.${id}.2`];
  const plen = family === 6 ? 64 : 24;
  const a: Side = { ns: nsA, underlay: under[0], overlay: `198.19.${id}.1`, tap: "tp0" };
  const b: Side = { ns: nsB, underlay: under[1], overlay: `198.19.${id}.2`, tap: "tp0" };
  let destroyed = false;
  const exec = (ns: string, cmd: string[], o?: { allowFail?: boolean }) =>
    sh(["ip", "netns", "exec", ns, ...cmd], o);
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of [nsA, nsB]) await deleteNamespace(ns);
    await sh(["ip", "link", "del", vethA], { allowFail: true });
  };
  try {
    await sh(["ip", "netns", "add", nsA]);
    await sh(["ip", "netns", "add", nsB]);
    await sh(["ip", "link", "add", vethA, "type", "veth", "peer", "name", vethB]);
    await sh(["ip", "link", "set", vethA, "netns", nsA]);
    await sh(["ip", "link", "set", vethB, "netns", nsB]);
    for (const [side, veth] of [[a, vethA], [b, vethB]] as const) {
      const ip = ["ip", "-n", side.ns];
      await sh([...ip, "link", "set", "lo", "up"]);
      await sh([...ip, "link", "set", veth, "up"]);
      if (family === 6) {
        await sh([...ip, "-6", "addr", "add", `${side.underlay}/${plen}`, "dev", veth, "nodad"]);
      } else await sh([...ip, "addr", "add", `${side.underlay}/${plen}`, "dev", veth]);
      if (options.tap === false) continue;
      const owner = options.tapUser ? ["user", options.tapUser] : [];
      await sh([...ip, "tuntap", "add", side.tap, "mode", "tap", ...owner]);
      await configureOverlay(side.ns, side.tap, side.overlay, mtu);
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return { a, b, family, mtu, exec, destroy };
}

/** Gives `iface` in `ns` its overlay address and MTU, and brings it up. */
export async function configureOverlay(
  ns: string,
  iface: string,
  address: string,
  mtu: number,
): Promise<void> {
  await sh(["ip", "-n", ns, "link", "set", iface, "mtu", String(mtu)]);
  await sh(["ip", "-n", ns, "addr", "add", `${address}/24`, "dev", iface]);
  await sh(["ip", "-n", ns, "link", "set", iface, "up"]);
}

/** Waits until interface `iface` exists in `ns`; false after `seconds`. */
export async function waitForInterface(ns: string, iface: string, seconds = 10): Promise<boolean> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if ((await sh(["ip", "-n", ns, "link", "show", iface], { allowFail: true })).includes(iface)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The MAC address of `iface` in namespace `ns`. */
export async function macOf(ns: string, iface: string): Promise<string> {
  const [link] = JSON.parse(await sh(["ip", "-n", ns, "-j", "link", "show", iface]));
  return link.address;
}

/** Pings `to` from namespace `ns`; returns the number of replies. */
export async function ping(
  ns: string,
  to: string,
  options: {
    count?: number;
    size?: number;
    dontFragment?: boolean;
    interval?: number;
    timeout?: number;
    pattern?: string;
  } = {},
): Promise<number> {
  const args = ["ping", "-n", "-q", "-c", String(options.count ?? 3), "-i", String(options.interval ?? 0.2)];
  args.push("-W", String(options.timeout ?? 2));
  if (options.size !== undefined) args.push("-s", String(options.size));
  if (options.dontFragment) args.push("-M", "do");
  if (options.pattern !== undefined) args.push("-p", options.pattern);
  const out = await sh(["ip", "netns", "exec", ns, ...args, to], { allowFail: true });
  const m = /(\d+) received/.exec(out);
  return m ? Number(m[1]) : 0;
}

/** Runs `deno run FLAGS SCRIPT ARGS` in namespace `ns` to the end, with
 * {@linkcode sh}'s rules (throws on a non-zero exit): its output. */
export function denoRunIn(ns: string, flags: string[], script: string, args: string[]): Promise<string> {
  return sh(["ip", "netns", "exec", ns, Deno.execPath(), "run", ...flags, script, ...args]);
}

/** Kills (SIGKILL) every process in namespace `ns`, then deletes it and its
 * control socket directory under /run/tappet; what fails (a process or the
 * namespace already gone) is passed over. */
export async function deleteNamespace(ns: string): Promise<void> {
  const pids = (await sh(["ip", "netns", "pids", ns], { allowFail: true })).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch { /* already gone */ }
  }
  await sh(["ip", "netns", "del", ns], { allowFail: true });
  removeControlDir(ns); // a killed tappet's socket directory (io/control_path.ts)
}

/** Pings until one reply arrives or `seconds` pass; true on a reply. */
export async function waitForPing(ns: string, to: string, seconds = 15): Promise<boolean> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (await ping(ns, to, { count: 1, timeout: 1 }) === 1) return true;
  }
  return false;
}
