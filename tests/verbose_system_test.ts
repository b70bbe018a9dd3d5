/**
 * What `-v` says, seen as a user sees it, in namespaces (needs root): the
 * start line (no address twice), both ends naming their peer, one stop
 * line, the counters as `name value` lines; and the checks made at start
 * rather than at the first frame: a TAP that is down, a TAP MTU too big for
 * the path, each a warning with the command that fixes it.
 */

import { strict as assert } from "node:assert";
import { sh, waitForPing } from "../scripts/netns.ts";
import {
  counters,
  keygen,
  NsProcess,
  runArgs,
  startTappets,
  tappetArgv,
  transfer,
  withBed,
} from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { namespace } from "./_cli.ts";

const root = { ignore: !isRoot() };

/** The lines of a log, without the `tappet: ` prefix checks. */
const linesOf = (text: string) => text.trim().split("\n");

Deno.test({
  ...root,
  name: "-v: start lines, both peers, one stop line, counters as name value lines",
  fn: () =>
    withBed({ id: 233 }, "tappet-verbose-", async (bed) => {
      const { a, b } = bed.pair;
      const [server, client] = await startTappets(bed.pair, bed.dir, { protocol: "current" });
      bed.procs.push(server, client);
      assert.ok(await waitForPing(a.ns, b.overlay), "the tunnel works");
      await client.waitFor(/peer is/);
      const t = await transfer(bed.pair, 4 * 1024 * 1024);
      assert.equal(t.received.sha256, t.sent.sha256);
      assert.equal((await client.stop("SIGTERM")).code, 0);
      assert.equal((await server.stop("SIGTERM")).code, 0);
      const s = linesOf(server.text());
      const c = linesOf(client.text());
      const where = `${b.underlay}:7011`;
      assert.ok(
        s.includes(`tappet: listening on ${where}, interface ${b.tap}, current format, ffi socket`),
        s[0],
      );
      assert.ok(
        c.some((l) =>
          new RegExp(`^tappet: sending to ${where} from 0\\.0\\.0\\.0:\\d+, interface ${a.tap}`).test(l)
        ),
        c.join("\n"),
      );
      assert.ok(
        s.some((l) => new RegExp(`^tappet: peer is ${a.underlay}:\\d+$`).test(l)),
        "the server names its peer",
      );
      assert.ok(c.includes(`tappet: peer is ${where}`), "the client names its peer too");
      for (const [who, lines] of [["server", s], ["client", c]] as const) {
        const stops = lines.filter((l) => /stopped/.test(l));
        assert.equal(stops.length, 1, `${who}: one stop line:\n${stops.join("\n")}`);
        assert.match(stops[0], /^tappet: stopped after \d+\.\d s; closed every fd it opened$/);
        const at = lines.indexOf("tappet: counters:");
        assert.ok(at > lines.indexOf(stops[0]), `${who}: counters after the stop line`);
        const rest = lines.slice(at + 1);
        assert.ok(rest.length >= 5, `${who}: several counters`);
        for (const l of rest) assert.match(l, /^tappet: {3}[a-zA-Z]+ \d+$/, `${who}: a name value line`);
        assert.ok(!lines.some((l) => l.includes("{")), `${who}: no JSON`);
        assert.doesNotMatch(
          lines.join("\n"),
          /is down|too big for the path/,
          `${who}: nothing to warn about`,
        );
      }
      const sc = counters(server.text());
      const cc = counters(client.text());
      assert.ok(sc.rxFrames > 0 && sc.rxBytes > sc.rxFrames * 14, "the counters parse back");
      // The TAP's and the socket's own counts reach -v too: TCP from a to b
      // leaves a's TAP as super-frames, cut and sent in GSO groups, and is
      // joined again for b's TAP.
      assert.ok(cc.txGsoDatagrams > 0, "the client's GSO datagrams are counted");
      assert.ok(sc.rxJoined > 0, "the server's joined frames are counted");
    }),
});

Deno.test({
  ...root,
  name: "-v: a TAP that is down and an MTU too big for the path are warned about at start",
  fn: async () => {
    const ns = `tptvb${Deno.pid}`;
    const del = await namespace(ns, { tap: "tp0" }); // made down, MTU 1500
    const dir = Deno.makeTempDirSync({ prefix: "tappet-verbose-" });
    const run = async (name: string, extra: string[] = []) => {
      const p = new NsProcess(
        ns,
        tappetArgv([...runArgs(dir, "a", "b"), "--connect", "198.18.240.2:41011", "-v", ...extra]),
        `${dir}/${name}.log`,
      );
      try {
        await p.waitFor(/sending to/);
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        assert.equal((await p.stop("SIGTERM")).code, 0);
      }
      return linesOf(p.text());
    };
    try {
      await keygen(dir);
      const first = await run("first");
      const start = first.findIndex((l) => l.startsWith("tappet: sending to"));
      const down = first.findIndex((l) => l.includes("interface tp0 is down"));
      assert.match(first[down], /^tappet: warning: interface tp0 is down: .*'ip link set tp0 up'/);
      const mtu = first.findIndex((l) => l.includes("too big for the path"));
      // Current format over IPv4 on a 1500-byte path: 1500 − 20 − 8 − 24 − 14.
      assert.match(
        first[mtu],
        /^tappet: warning: the MTU of tp0 \(1500\) is too big for the path to 198\.18\.240\.2:41011: .*set the TAP MTU of tp0 to 1434 \(path MTU 1500 − 66\) with 'ip link set tp0 mtu 1434' \(or run with --set-mtu\)$/,
      );
      assert.ok(start >= 0 && down > start && mtu > start, "said at start");
      assert.ok(first.findIndex((l) => l.includes("stopped after")) > mtu, "before anything was sent");
      await sh(["ip", "-n", ns, "link", "set", "tp0", "mtu", "1434", "up"]);
      const second = await run("second");
      assert.doesNotMatch(second.join("\n"), /is down|too big/, "nothing to say once both are fixed");
      // The check takes the path MTU tappet works with (here --path-mtu),
      // not the kernel's cached one (1500, the route's).
      const third = await run("third", ["--path-mtu", "1400"]);
      assert.ok(
        third.some((l) =>
          l.startsWith(
            "tappet: warning: the MTU of tp0 (1434) is too big for the path to 198.18.240.2:41011: ",
          ) &&
          l.endsWith(
            "set the TAP MTU of tp0 to 1334 (path MTU 1400 − 66) with 'ip link set tp0 mtu 1334' (or run with --set-mtu)",
          )
        ),
        third.join("\n"),
      );
    } finally {
      await del();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...root,
  name: "-v: a server checks the path MTU when it first hears its peer",
  fn: () =>
    withBed({ id: 234, mtu: 1500 }, "tappet-verbose-", async (bed) => {
      const { a, b } = bed.pair;
      const [server, client] = await startTappets(bed.pair, bed.dir, { protocol: "current" });
      bed.procs.push(server, client);
      await server.waitFor(/peer is/);
      await server.waitFor(/too big for the path/, 5000);
      await client.stop("SIGTERM");
      await server.stop("SIGTERM");
      // Current format over IPv4 on the veth's 1500-byte path: 1434.
      const advice = (tap: string) =>
        `to 1434 (path MTU 1500 − 66) with 'ip link set ${tap} mtu 1434' (or run with --set-mtu)`;
      assert.ok(
        linesOf(server.text()).some((l) =>
          l.startsWith(
            `tappet: warning: the MTU of ${b.tap} (1500) is too big for the path to ${a.underlay}:`,
          ) &&
          l.endsWith(advice(b.tap))
        ),
        server.text(),
      );
      assert.ok(
        linesOf(client.text()).some((l) =>
          l.startsWith(
            `tappet: warning: the MTU of ${a.tap} (1500) is too big for the path to ${b.underlay}:7011`,
          ) &&
          l.endsWith(advice(a.tap))
        ),
        client.text(),
      );
    }),
});
