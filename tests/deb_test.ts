/**
 * The Debian package, end to end, as root: `scripts/deb.sh` builds it,
 * lintian finds no error, `dpkg -i` installs it (user, host key pair,
 * /etc/tappet), the installed command prints its version, makes keys, and
 * carries pings between two namespaces running as the tappet user; then
 * `dpkg --purge` leaves the machine as it was. Whatever fails, the finally
 * blocks purge the package and delete the namespaces.
 *
 * @module
 */

import { strict as assert } from "node:assert";
import denoJson from "../deno.json" with { type: "json" };
import { isRoot } from "./_util.ts";
import { createPair, sh, waitForPing } from "../scripts/netns.ts";
import { NsProcess, runArgs, v8Flags } from "../scripts/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BIN = "/usr/bin/tappet";
const PATHS = [
  "/etc/tappet",
  "/var/lib/tappet",
  "/usr/lib/tappet",
  BIN,
  "/lib/systemd/system/tappet@.service",
];
const PAIR_ID = 213;
const PORT = 51011;

function has(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What the package touches: paths, the user and group, dpkg's record. */
async function machineState(): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {};
  for (const p of PATHS) state[p] = exists(p);
  state.user = (await sh(["getent", "passwd", "tappet"], { allowFail: true })).trim();
  state.group = (await sh(["getent", "group", "tappet"], { allowFail: true })).trim();
  state.dpkg = (await sh(["dpkg-query", "-W", "-f=${Status}", "tappet"], { allowFail: true })).trim();
  return state;
}

async function run(cmd: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  const o = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    ...options,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const d = new TextDecoder();
  return { ok: o.success, code: o.code, out: d.decode(o.stdout), err: d.decode(o.stderr) };
}

/** Runs `cmd`, retrying while another dpkg holds the lock. */
async function dpkg(args: string[]): Promise<string> {
  for (let i = 0;; i++) {
    const r = await run(["dpkg", ...args], { env: { DEBIAN_FRONTEND: "noninteractive" } });
    if (r.ok) return r.out;
    if (i < 30 && /lock/i.test(r.err)) {
      await new Promise((res) => setTimeout(res, 2000));
      continue;
    }
    throw new Error(`dpkg ${args.join(" ")} failed (${r.code}): ${r.err}`);
  }
}

Deno.test({
  name: "deb: build, lintian, install, version, keygen, a tunnel as the tappet user, purge leaves nothing",
  ignore: !isRoot() || !has("dpkg-deb"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const before = await machineState();
    assert.deepEqual(
      before,
      Object.fromEntries([...PATHS.map((p) => [p, false]), ["user", ""], ["group", ""], ["dpkg", ""]]),
      "tappet is already installed on this machine (or left over): the test would change it",
    );
    const dir = Deno.makeTempDirSync({ prefix: "tappet-deb-" });
    Deno.chmodSync(dir, 0o755);
    let installed = false;
    try {
      const built = await run(["bash", "scripts/deb.sh"], { cwd: ROOT, env: { TAPPET_DEB_OUT: dir } });
      assert.ok(built.ok, `deb.sh failed:\n${built.err}`);
      const arch = (await sh(["dpkg", "--print-architecture"])).trim();
      const deb = `${dir}/tappet_${denoJson.version}_${arch}.deb`;
      assert.ok(exists(deb), built.err);
      if (has("lintian")) {
        const lint = await run(["lintian", "--tag-display-limit", "0", deb]);
        assert.ok(!/^E: /m.test(lint.out), `lintian errors:\n${lint.out}`);
      }
      const info = await sh(["dpkg-deb", "--field", deb, "Depends"]);
      assert.match(info, /libsodium23/);
      assert.match(info, /iproute2/);

      installed = true;
      await dpkg(["-i", deb]);
      await checkInstalled();
      await tunnel(dir);

      await dpkg(["--remove", "tappet"]);
      assert.ok(
        exists("/var/lib/tappet") && exists("/etc/tappet/example.toml.sample"),
        "remove lost keys or configs",
      );
      assert.ok(!exists(BIN));
      await dpkg(["--purge", "tappet"]);
      installed = false;
      assert.deepEqual(await machineState(), before);
    } finally {
      if (installed) await dpkg(["--purge", "tappet"]).catch((e) => console.error(e));
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

async function checkInstalled(): Promise<void> {
  const version = await run([BIN, "--version"], { cwd: "/" });
  assert.ok(version.ok, version.err);
  // Built here, it is the wrapper of the bundled runtime: it runs tappet with
  // the compile task's V8 flags (a compiled executable has them built in).
  const wrapper = new TextDecoder("latin1").decode(Deno.readFileSync(BIN));
  if (wrapper.startsWith("#!")) {
    for (const f of v8Flags()) assert.ok(wrapper.includes(f), `${BIN} lacks ${f}`);
  }
  assert.match(version.out.trim(), new RegExp(`^(tappet )?${denoJson.version.replaceAll(".", "\\.")}$`));
  const host = (await sh(["uname", "-n"])).trim().split(".")[0];
  const key = Deno.statSync(`/var/lib/tappet/${host}.key`);
  const uid = Number((await sh(["id", "-u", "tappet"])).trim());
  assert.equal(key.mode! & 0o777, 0o600);
  assert.equal(key.uid, uid);
  assert.ok(exists(`/var/lib/tappet/${host}.pub`));
  const etc = Deno.statSync("/etc/tappet");
  assert.equal(etc.mode! & 0o777, 0o750);
  assert.equal(etc.gid, Number((await sh(["id", "-g", "tappet"])).trim()));
  assert.equal(Deno.statSync("/var/lib/tappet").uid, uid);
  if (has("systemd-analyze")) {
    // The installed templates, with their man page, as systemd would load them.
    const v = await run(["systemd-analyze", "verify", "tappet@check.service", "tappet-legacy@check.service"]);
    assert.ok(v.ok && v.err.trim() === "", `systemd-analyze verify: ${v.err}`);
  }
}

/** Keys made by the installed command, as the tappet user, in `dir`; then a
 * tunnel between two namespaces, each end the installed command run as the
 * tappet user on a TAP that user owns (as the systemd unit runs it). */
async function tunnel(dir: string): Promise<void> {
  const keys = `${dir}/keys`;
  Deno.mkdirSync(keys, { mode: 0o700 });
  await sh(["chown", "tappet:tappet", keys]);
  const asTappet = ["setpriv", "--reuid=tappet", "--regid=tappet", "--clear-groups", "--"];
  for (const name of ["a", "b"]) {
    const r = await run([...asTappet, BIN, "keygen", name], { cwd: keys });
    assert.ok(r.ok, `tappet keygen ${name}: ${r.err}`);
    assert.equal(Deno.statSync(`${keys}/${name}.key`).mode! & 0o777, 0o600);
  }
  // After issue 11, every tappet has a control socket: give each end its own
  // in a directory the tappet user may write.
  const help = await run([BIN, "run", "--help"]);
  const control = (n: string) => help.out.includes("--control") ? ["--control", `${keys}/${n}.sock`] : [];
  const pair = await createPair({ id: PAIR_ID, tapUser: "tappet" });
  const procs: NsProcess[] = [];
  try {
    // a listens, then b connects to it.
    const ends = [["a", "b", "--listen"], ["b", "a", "--connect"]] as const;
    for (const [me, peer, role] of ends) {
      procs.push(
        new NsProcess(
          pair[me].ns,
          [BIN, ...runArgs(keys, me, peer), ...control(me), role, `${pair.a.underlay}:${PORT}`],
          `${dir}/${me}.log`,
          { user: "tappet", cwd: keys },
        ),
      );
    }
    const ok = await waitForPing(pair.b.ns, pair.a.overlay, 30);
    assert.ok(ok, `no ping through the tunnel:\n${procs.map((p) => p.text()).join("\n")}`);
  } finally {
    for (const p of procs) await p.stop();
    await pair.destroy();
  }
}
