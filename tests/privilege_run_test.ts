/**
 * `tappet run --user` (issue 13 item 1) in a real tunnel: started as root,
 * both ends give up root once the TAP, the socket, the control socket and
 * the files are open. Read from /proc/PID/status while a verified transfer
 * crosses the tunnel: the user's uid and gid in all four fields, no
 * supplementary group, no capability; the tunnel carries the transfer,
 * `status` answers, and SIGTERM stops it cleanly, removing its control
 * socket. An unknown user is one line and exit 1, before anything is opened.
 * The test user is made and deleted by the test.
 *
 * @module
 */

import { strict as assert } from "node:assert";
import { startTappets, transfer, withBed } from "../scripts/harness.ts";
import { sh, waitForPing } from "../scripts/netns.ts";
import { isRoot } from "./_util.ts";
import { tappet } from "./_cli.ts";
import { statusJson } from "./_ops.ts";

const USER = "tappet-drop";

/** The `Key:\tvalue` lines of /proc/PID/status. */
function procStatus(pid: number): Map<string, string> {
  const lines = Deno.readTextFileSync(`/proc/${pid}/status`).split("\n");
  return new Map(
    lines.filter((l) => l.includes(":")).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i), l.slice(i + 1).trim()];
    }),
  );
}

Deno.test({
  name: "run --user: root given up before the first datagram; the tunnel, status and a clean stop still work",
  ignore: !isRoot(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await sh(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
    try {
      const uid = (await sh(["id", "-u", USER])).trim();
      const gid = (await sh(["id", "-g", USER])).trim();
      await withBed({ id: 236 }, "tappet-priv-", async ({ pair, dir, procs }) => {
        // The key files stay root's, 0600: read before the drop.
        const ends = await startTappets(pair, dir, { protocol: "current", extra: ["--user", USER] });
        procs.push(...ends);
        assert(await waitForPing(pair.a.ns, pair.b.overlay, 20), "the tunnel carries pings");
        const xfer = transfer(pair, 8 * 1024 * 1024, 5236);
        await new Promise((r) => setTimeout(r, 300)); // while the transfer runs
        for (const end of ends) {
          const st = procStatus(end.pid);
          assert.equal(st.get("Uid"), `${uid}\t${uid}\t${uid}\t${uid}`, end.text());
          assert.equal(st.get("Gid"), `${gid}\t${gid}\t${gid}\t${gid}`);
          assert.equal(st.get("Groups"), "", "no supplementary group");
          for (const cap of ["CapEff", "CapPrm", "CapAmb"]) {
            assert.equal(st.get(cap), "0000000000000000", cap);
          }
        }
        const r = await xfer;
        assert.equal(r.received.sha256, r.sent.sha256, "the transfer arrived intact");
        const sb = await statusJson(pair.b.ns);
        assert(sb.rx_bytes >= 8 * 1024 * 1024, "status answers after the drop");
        const sockets = [pair.a.ns, pair.b.ns].map((ns) => `/run/tappet/netns-${ns}/${pair.b.tap}.sock`);
        for (const path of sockets) {
          const st = Deno.statSync(path); // there while it runs, and the user's
          assert.equal(String(st.uid), uid, `${path} belongs to ${USER}`);
        }
        for (const end of ends) {
          const status = await end.stop("SIGTERM");
          assert.equal(status.code, 0, end.text());
          assert.match(end.text(), new RegExp(`running as ${USER} \\(uid ${uid}, gid ${gid}\\)`));
          assert.match(end.text(), /closed every fd it opened/);
          assert.doesNotMatch(end.text(), /running as root/, "no root warning with --user");
        }
        for (const path of sockets) {
          let gone = false;
          try {
            Deno.statSync(path);
          } catch (e) {
            gone = e instanceof Deno.errors.NotFound;
          }
          assert(gone, `${path} was removed at exit`);
        }
      });
    } finally {
      await sh(["userdel", USER], { allowFail: true });
    }
  },
});

Deno.test({
  name: "run --user NOBODY-SUCH: one line, exit 1, nothing opened",
  ignore: !isRoot(),
  async fn() {
    const r = await tappet([
      "run",
      "--tap",
      "no-such-tap0",
      "--key",
      "/nonexistent/x.key",
      "--peer-key",
      "/nonexistent/y.pub",
      "--listen",
      "127.0.0.1:41999",
      "--user",
      "no-such-user-x",
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.lines.length, 1, r.lines.join("\n"));
    assert.match(r.lines[0], /no user 'no-such-user-x' for --user/);
  },
});
