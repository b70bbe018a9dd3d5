/**
 * Running tappet as a user does, for the tests of mistakes and faults: as a
 * subprocess, optionally inside a network namespace, a private mount
 * namespace, or as an ordinary user.
 */

import { strict as assert } from "node:assert";
import { removeControlDir, sh } from "../scripts/netns.ts";
import { MAIN, RUN_FLAGS } from "../scripts/harness.ts";

/** The longest a run of {@linkcode tappet} may take, ms. */
const RUN_TIMEOUT_MS = 20_000;

/** What a run printed on stderr, and its exit status. */
export interface Outcome {
  code: number;
  lines: string[];
}

/** The unprivileged user the tests run tappet as. */
export const TEST_USER = "tappet-test";

/** Where the test user's runs find Deno's cache and tappet's source. */
interface UserSetup {
  /** An empty Deno cache of the user's own: the npm packages come from the
   * copy's node_modules, so nothing is downloaded. */
  denoDir: string;
  /** A copy of this checkout that the user can read (the checkout itself
   * may lie in a directory only root can enter, as a `mktemp -d` does). */
  root: string;
}

let userSetup: UserSetup | undefined;

/** What the copy for the test user leaves out: not needed to run tappet. */
const NOT_COPIED = new Set([".git", ".ci", "bench-results", "dist", "docs"]);

/**
 * Makes sure {@linkcode TEST_USER} exists and has an empty Deno cache of its
 * own and a copy of tappet's source it can read, with the node_modules that
 * setup made (pinned by deno.lock); returns where both are. Removed at exit
 * (the user too, when this made it).
 */
export async function unprivileged(): Promise<UserSetup> {
  if (userSetup !== undefined) return userSetup;
  // Made here, so deleted at exit: the machine is left as it was found.
  if ((await sh(["id", "-u", TEST_USER], { allowFail: true })).trim() === "") {
    await sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER]);
    globalThis.addEventListener("unload", () => {
      new Deno.Command("userdel", { args: [TEST_USER], stdout: "null", stderr: "null" }).outputSync();
    });
  }
  const dir = Deno.makeTempDirSync({ prefix: "tappet-test-deno-" });
  Deno.mkdirSync(`${dir}/deno`);
  const checkout = new URL("..", import.meta.url).pathname;
  const root = `${dir}/tappet`;
  Deno.mkdirSync(root);
  for (const entry of Deno.readDirSync(checkout)) {
    if (!NOT_COPIED.has(entry.name)) await sh(["cp", "-r", `${checkout}${entry.name}`, `${root}/`]);
  }
  await sh(["chown", "-R", TEST_USER, dir]);
  await sh(["chmod", "755", dir]);
  userSetup = { denoDir: `${dir}/deno`, root };
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  return userSetup;
}

/** How to run tappet as {@linkcode TEST_USER}: `deno run` of its copy of the
 * source, from that copy (where Deno finds deno.json), with its own cache. */
export async function asTestUser(
  args: string[],
  denoFlags: string[] = [],
): Promise<{ argv: string[]; env: Record<string, string>; cwd: string }> {
  const { denoDir, root } = await unprivileged();
  return {
    argv: [
      Deno.execPath(),
      "run",
      "--quiet",
      ...RUN_FLAGS,
      ...denoFlags,
      "--cached-only",
      `${root}/main.ts`,
      ...args,
    ],
    env: { DENO_DIR: denoDir },
    cwd: root,
  };
}

/** Options of {@linkcode tappet}. */
export interface RunOptions {
  /** Environment variables to add. */
  env?: Record<string, string>;
  /** Run inside this network namespace. */
  ns?: string;
  /** Run as {@linkcode TEST_USER}. */
  user?: boolean;
  /** Shell commands run first (as root) in a private mount namespace. */
  mountSetup?: string;
  /** Extra Deno flags, e.g. a wider --allow-env. */
  denoFlags?: string[];
}

/** Runs tappet with `args` to completion; returns its stderr lines and status. */
export async function tappet(args: string[], options: RunOptions = {}): Promise<Outcome> {
  const denoFlags = options.denoFlags ?? [];
  let argv = [Deno.execPath(), "run", "--quiet", ...RUN_FLAGS, ...denoFlags, MAIN, ...args];
  let env: Record<string, string> = { ...options.env };
  let cwd: string | undefined;
  if (options.user) {
    const user = await asTestUser(args, denoFlags);
    argv = ["setpriv", `--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, "--clear-groups", ...user.argv];
    env = { ...env, ...user.env };
    cwd = user.cwd;
  }
  if (options.mountSetup) {
    const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    argv = [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `${options.mountSetup} && exec ${quoted}`,
    ];
  }
  if (options.ns) argv = ["ip", "netns", "exec", options.ns, ...argv];
  const child = new Deno.Command(argv[0], { args: argv.slice(1), env, cwd, stdout: "piped", stderr: "piped" })
    .spawn();
  // A run that should have failed but started a tunnel must not hang the tests.
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  const out = await child.output();
  clearTimeout(timer);
  const lines = new TextDecoder().decode(out.stderr).split("\n").filter((l) => l !== "");
  return { code: out.code, lines };
}

/** Exactly one line, matching `pattern`, exit status `code`, no stack trace. */
export function oneLine(o: Outcome, code: number, pattern: RegExp): void {
  assert.equal(o.lines.length, 1, `want one line, got:\n${o.lines.join("\n")}`);
  assert.match(o.lines[0], /^tappet: /);
  assert.match(o.lines[0], pattern);
  assert.equal(o.code, code, o.lines[0]);
  assert.doesNotMatch(o.lines[0], /\bat .*\.ts:\d+/, "no stack trace");
}

/** A network namespace with a TAP (owned by `tapUser`, if given) and an
 * underlay address on a veth pair inside it; deleted by the returned
 * function. */
export async function namespace(
  name: string,
  options: { tapUser?: string; tap?: string; tun?: string; address?: string } = {},
): Promise<() => Promise<void>> {
  await sh(["ip", "netns", "add", name]);
  const del = async () => {
    await sh(["ip", "netns", "del", name], { allowFail: true });
    removeControlDir(name);
  };
  try {
    await setUp(name, options);
  } catch (e) {
    await del();
    throw e;
  }
  return del;
}

async function setUp(
  name: string,
  options: { tapUser?: string; tap?: string; tun?: string; address?: string },
) {
  const ip = ["ip", "-n", name];
  await sh([...ip, "link", "set", "lo", "up"]);
  // An underlay address on a veth pair kept inside the namespace (not every
  // kernel has the dummy driver).
  await sh([...ip, "link", "add", "du0", "type", "veth", "peer", "name", "du1"]);
  await sh([...ip, "addr", "add", `${options.address ?? "198.18.240.1"}/24`, "dev", "du0"]);
  await sh([...ip, "link", "set", "du0", "up"]);
  await sh([...ip, "link", "set", "du1", "up"]);
  if (options.tap) {
    const owner = options.tapUser ? ["user", options.tapUser] : [];
    await sh([...ip, "tuntap", "add", options.tap, "mode", "tap", ...owner]);
  }
  if (options.tun) await sh([...ip, "tuntap", "add", options.tun, "mode", "tun"]);
}
