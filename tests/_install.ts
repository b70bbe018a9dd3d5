/**
 * The `tappet` command as scripts/install.sh installs it (under a scratch
 * prefix, so a test never touches a real install), and an ordinary user's
 * shell to run it from: an empty home, a clean environment, optionally in a
 * network namespace with no network.
 */

import { sh } from "../scripts/netns.ts";
import { TEST_USER, unprivileged } from "./_cli.ts";

const INSTALL = new URL("../scripts/install.sh", import.meta.url).pathname;

/** An install: its prefix, and how to undo it. */
export interface Install {
  readonly prefix: string;
  /** Runs `install.sh --uninstall` for this prefix and removes it. */
  remove(): Promise<void>;
}

/** Runs `bash scripts/install.sh --prefix DIR` into a new directory every
 * user can enter. Throws with the script's output when it fails. */
export async function install(): Promise<Install> {
  const prefix = Deno.makeTempDirSync({ prefix: "tappet-prefix-" });
  Deno.chmodSync(prefix, 0o755);
  await sh(["bash", INSTALL, "--prefix", prefix]);
  return {
    prefix,
    remove: async () => {
      await sh(["bash", INSTALL, "--uninstall", "--prefix", prefix], { allowFail: true });
      Deno.removeSync(prefix, { recursive: true });
    },
  };
}

/** An empty home directory of {@linkcode TEST_USER}'s, mode 0700. */
export async function emptyHome(): Promise<string> {
  await unprivileged();
  const home = Deno.makeTempDirSync({ prefix: "tappet-home-" });
  await sh(["chown", TEST_USER, home]);
  return home;
}

/** argv that runs shell line `line` as {@linkcode TEST_USER}, from `home`,
 * with only HOME and a PATH that finds the install's `tappet` and `deno`;
 * in netns `ns` when given. With `exec`, the shell execs the line (a single
 * command), so that signals reach it. */
export function asUser(install: Install, home: string, line: string, ns?: string, exec = false): string[] {
  const drop = ["setpriv", `--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, "--clear-groups"];
  const env = ["env", "-i", `HOME=${home}`, `PATH=${install.prefix}/bin:/usr/local/bin:/usr/bin:/bin`];
  const argv = [...drop, ...env, "sh", "-c", `cd "$HOME" && ${exec ? "exec " : ""}${line}`];
  return ns ? ["ip", "netns", "exec", ns, ...argv] : argv;
}

/** Runs `argv` to completion: status, stdout, stderr. */
export async function output(argv: string[], stdin?: Uint8Array) {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}
