/**
 * io/privilege.ts against the real kernel: as root, a child process drops to
 * a user this test creates (and deletes), and its /proc status files show the
 * result on every thread. The lookup errors need no root.
 *
 * @module
 */

import { strict as assert } from "node:assert";
import { isRoot } from "./_util.ts";
import { UserError } from "../errors.ts";
import { lookupUser } from "../io/privilege.ts";

const PRIVILEGE = new URL("../io/privilege.ts", import.meta.url).href;
const LIBC_USER = new URL("../ffi/libc_user.ts", import.meta.url).href;

/** Whether a user other than root can read this checkout's modules: every
 * directory above them searchable by others (a clone in a `mktemp -d`
 * directory, mode 0700, is not). The test that starts as such a user needs it. */
function othersCanImport(): boolean {
  let dir = new URL("../io/", import.meta.url).pathname;
  while (dir !== "/") {
    if (((Deno.statSync(dir).mode ?? 0) & 0o001) === 0) return false;
    dir = dir.replace(/\/[^/]*\/?$/, "") || "/";
  }
  return true;
}
const IMPORTABLE = othersCanImport();
const SUPPLEMENTARY = "4,27"; // any gids: the child must start with some

/** What the child reports: its own and every thread's status lines. */
interface Report {
  before: string;
  main: Record<string, string>;
  threads: Record<string, string>[];
  setuid0: number;
  error?: string;
}

const CHILD = `
import { dropPrivileges, lookupUser } from "${PRIVILEGE}";
import { libcUser } from "${LIBC_USER}";
const fields = (t) => Object.fromEntries(t.split("\\n").filter((l) => l.includes(":"))
  .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
const before = fields(Deno.readTextFileSync("/proc/self/status")).Groups;
const out = { before };
try {
  const keep = Deno.args[1] ? Deno.args[1].split(",") : [];
  dropPrivileges(lookupUser(Deno.args[0]), { keepCapabilities: keep });
} catch (e) { out.error = e.name + ": " + e.message; }
out.main = fields(Deno.readTextFileSync("/proc/self/status"));
out.threads = [...Deno.readDirSync("/proc/self/task")]
  .map((t) => fields(Deno.readTextFileSync("/proc/self/task/" + t.name + "/status")));
out.setuid0 = libcUser().setuid(0);
console.log(JSON.stringify(out));
`;

async function sh(cmd: string[]): Promise<string> {
  const o = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  if (!o.success) throw new Error(`${cmd.join(" ")}: ${d.decode(o.stderr)}`);
  return d.decode(o.stdout);
}

async function child(prefix: string[], args: string[]): Promise<Report> {
  const deno = Deno.execPath();
  const out = await sh([...prefix, deno, "eval", "--ext=ts", CHILD, ...args]);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

/** Creates a system user and group for the test; deletes both afterwards. */
async function withUser(fn: (name: string, uid: number, gid: number) => Promise<void>): Promise<void> {
  const name = `tptpriv${Deno.pid}`;
  await sh(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name]);
  try {
    const uid = Number((await sh(["id", "-u", name])).trim());
    const gid = Number((await sh(["id", "-g", name])).trim());
    await fn(name, uid, gid);
  } finally {
    await sh(["userdel", name]);
    await sh(["getent", "group", name]).then(() => sh(["groupdel", name]), () => {});
  }
}

const ids = (v: number) => `${v}\t${v}\t${v}\t${v}`;
const NO_CAPS = "0000000000000000";

Deno.test({
  name: "privilege drop: uid and gid in all four fields, no groups, no capability, on every thread",
  ignore: !isRoot(),
  fn: () =>
    withUser(async (name, uid, gid) => {
      const r = await child(["setpriv", `--groups=${SUPPLEMENTARY}`, "--"], [name]);
      assert.equal(r.error, undefined);
      assert.equal(r.before, SUPPLEMENTARY.replace(",", " "), "the child did not start with groups");
      assert.ok(r.threads.length > 1, "expected Deno's other threads too");
      for (const s of [r.main, ...r.threads]) {
        assert.equal(s.Uid, ids(uid));
        assert.equal(s.Gid, ids(gid));
        assert.equal(s.Groups, "");
        assert.equal(s.CapEff, NO_CAPS);
        assert.equal(s.CapPrm, NO_CAPS);
        assert.equal(s.CapAmb, NO_CAPS);
      }
      assert.equal(r.setuid0, -1, "setuid(0) succeeded after the drop");
    }),
});

Deno.test({
  name: "privilege drop keeping CAP_NET_ADMIN: on the calling thread only, and root stays out of reach",
  ignore: !isRoot(),
  fn: () =>
    withUser(async (name, uid) => {
      const r = await child([], [name, "CAP_NET_ADMIN"]);
      assert.equal(r.error, undefined);
      const netAdmin = (1 << 12).toString(16).padStart(16, "0"); // CAP_NET_ADMIN is 12
      assert.equal(r.main.Uid, ids(uid));
      assert.equal(r.main.CapEff, netAdmin);
      assert.equal(r.main.CapPrm, netAdmin);
      assert.equal(r.main.CapAmb, NO_CAPS);
      const others = r.threads.filter((t) => t.Pid !== r.main.Pid);
      assert.ok(others.length > 0);
      for (const t of others) assert.equal(t.CapEff, NO_CAPS);
      assert.equal(r.setuid0, -1);
    }),
});

Deno.test({
  name: IMPORTABLE
    ? "privilege drop: not root and not that user is a UserError; already that user changes nothing"
    : "privilege drop: SKIPPED, other users cannot read this checkout (a directory above it lacks o+x): not root and not that user",
  ignore: !isRoot() || !IMPORTABLE,
  fn: () =>
    withUser(async (name, uid, gid) => {
      const asUser = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
      const same = await child(asUser, [name]);
      assert.equal(same.error, undefined);
      assert.equal(same.main.Uid, ids(uid));
      const other = await child(asUser, ["root"]);
      assert.match(other.error ?? "", /^UserError: --user root needs tappet to be started as root/);
    }),
});

Deno.test("lookupUser: an unknown user is a one-line UserError naming it, exit status 1", () => {
  const name = "no-such-tappet-user";
  assert.throws(() => lookupUser(name), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.exitCode, 1);
    assert.ok(e.message.includes(`'${name}'`) && e.message.includes("useradd"), e.message);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
  assert.throws(() => lookupUser(""), UserError);
});

Deno.test("lookupUser: root from NSS", () => {
  const root = lookupUser("root");
  assert.deepEqual([root.uid, root.gid, root.home], [0, 0, "/root"]);
});
