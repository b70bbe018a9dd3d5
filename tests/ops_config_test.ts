/**
 * Issue 11 items 4 and 5 through the real command: each bad config file is
 * one line and exit status 1; a config file that says what a command line
 * says gives the same tunnel (and the command line overrides the file); a
 * host name that does not resolve is one line at start; and a client given
 * a host name follows the server to another address once its hosts entry
 * (`/etc/netns/NS/hosts`) changes, and keeps the last address with a
 * warning once the name stops resolving.
 */

import { strict as assert } from "node:assert";
import { keygen } from "../scripts/harness.ts";
import { sh, waitForPing } from "../scripts/netns.ts";
import { isRoot } from "./_util.ts";
import { namespace, tappet } from "./_cli.ts";
import { bedTest, startBoth, startEnd, statusJson, waitForStatus } from "./_ops.ts";

Deno.test({
  name: "config file: each bad file is one line and exit 1, through the real command",
  ignore: !isRoot(),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "tappet-ops-cf-" });
    const ns = `tptcf${Deno.pid}`;
    const del = await namespace(ns, { tap: "tp0", address: "198.18.243.1" });
    try {
      const good = 'tap = "tp0"\nkey = "a.key"\npeer-key = "b.pub"\n';
      const cases: [string, string, RegExp][] = [
        [
          "unknown",
          good + 'tapp = "x"\nlisten = "198.18.243.1:41011"\n',
          /unknown\.toml:4: key "tapp" is not a tappet run option: did you mean "tap"\?$/,
        ],
        [
          "type",
          good + 'keepalive = "25"\nconnect = "198.18.243.2:41011"\n',
          /type\.toml:4: key "keepalive": "25" is not a whole number of seconds from 1 to 3600$/,
        ],
        [
          "value",
          good + 'offload = "maybe"\nconnect = "198.18.243.2:41011"\n',
          /value\.toml:4: key "offload": "maybe" is not "on" or "off": give "on" or "off", or true or false$/,
        ],
        ["port", good + 'connect = "198.18.243.2:70000"\n', /port\.toml:4: key "connect": .*70000/],
        [
          "missing",
          'tap = "tp0"\nkey = "a.key"\nconnect = "198.18.243.2:41011"\n',
          /missing\.toml: key "peer-key" is missing: add peer-key = "\.\.\.", or give --peer-key$/,
        ],
        [
          "both",
          good + 'listen = "198.18.243.1:41011"\nconnect = "198.18.243.2:41011"\n',
          /both\.toml:5: keys "listen" \(line 4\) and "connect" \(line 5\) are both set: keep one/,
        ],
        ["syntax", good + "listen = 198.18.243.1:41011\n", /syntax\.toml:4: not valid TOML: /],
        [
          "noname",
          good + 'connect = "nosuch.tappet.test:41011"\n',
          /^tappet: host name nosuch\.tappet\.test does not resolve \(.+\): check the name, \/etc\/hosts and DNS, or give an address$/,
        ],
        [
          "user",
          good + 'user = "no-such-user-x"\nlisten = "198.18.243.1:41011"\n',
          /^tappet: no user 'no-such-user-x' for --user on this system; create it/,
        ],
      ];
      for (const [name, text, want] of cases) {
        Deno.writeTextFileSync(`${dir}/${name}.toml`, text);
        const o = await tappet(["run", "--config", `${dir}/${name}.toml`], { ns });
        assert.equal(o.code, 1, `${name}: ${o.lines.join("\n")}`);
        assert.equal(o.lines.length, 1, `${name}: ${o.lines.join("\n")}`);
        assert.match(o.lines[0], want, name);
        assert.match(o.lines[0], /^tappet: /);
      }
      const none = await tappet(["run", "--config", `${dir}/absent.toml`], { ns });
      assert.deepEqual([none.code, none.lines], [1, [
        `tappet: cannot read config file ${dir}/absent.toml: no such file`,
      ]]);
      // A metrics address that cannot be bound: one line, no fd left, no nonce prefix burnt.
      await keygen(dir);
      Deno.writeFileSync(`${dir}/nonce`, new Uint8Array(4));
      const busy = await tappet([
        "run",
        ...["--tap", "tp0", "--key", `${dir}/a.key`, "--peer-key", `${dir}/b.pub`, "--protocol", "legacy"],
        ...[
          "--nonce-file",
          `${dir}/nonce`,
          "--listen",
          "198.18.243.1:41011",
          "--metrics",
          "198.18.243.99:9595",
        ],
      ], { ns });
      assert.equal(busy.code, 1, busy.lines.join("\n"));
      assert.equal(
        busy.lines.filter((l) => !/warning: running as root/.test(l)).length,
        1,
        busy.lines.join("\n"),
      );
      assert.match(busy.lines.at(-1)!, /198\.18\.243\.99:9595/);
      assert.deepEqual([...Deno.readFileSync(`${dir}/nonce`)], [0, 0, 0, 0], "no prefix burnt");
      // On the command line too: a name that does not resolve.
      const cli = await tappet([
        "run",
        "--tap",
        "tp0",
        "--key",
        "a",
        "--peer-key",
        "b",
        "--connect",
        "nosuch.tappet.test:1",
      ], { ns });
      assert.equal(cli.code, 1);
      assert.match(cli.lines.join("\n"), /^tappet: host name nosuch\.tappet\.test does not resolve/);
    } finally {
      await del();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

bedTest(
  "config file: the same tunnel as the command line, which overrides it",
  244,
  "tappet-ops-eq-",
  async ({ pair, dir, procs }) => {
    const bind = `${pair.a.underlay}:41244`;
    const { a: cli } = await startBoth({ pair, dir, procs }, {
      extra: ["--bind", bind, "--keepalive", "5", "--offload", "off"],
    });
    const fromCli = await statusJson(pair.a.ns);
    assert.equal((await cli.stop()).code, 0);
    // Relative paths are relative to the file's directory.
    Deno.writeTextFileSync(
      `${dir}/a.toml`,
      [
        `tap = "${pair.a.tap}"`,
        'key = "a.key"',
        'peer-key = "b.pub"',
        `connect = "${pair.b.underlay}:7011"`,
        `bind = "${bind}"`,
        "keepalive = 5",
        "offload = false",
        'transport = "deno"',
        "verbose = 1",
        "",
      ].join("\n"),
    );
    const file = startEnd(
      pair,
      dir,
      "a",
      { args: ["--config", `${dir}/a.toml`, "--transport", "ffi"] },
      "a2",
    );
    procs.push(file);
    assert(await waitForPing(pair.a.ns, pair.b.overlay, 20));
    const fromFile = await statusJson(pair.a.ns);
    for (
      const k of ["interface", "format", "role", "listen", "transport", "offloads", "tap_mtu"] as const
    ) {
      assert.deepEqual(fromFile[k], fromCli[k], k);
    }
    assert.equal(fromFile.transport, "ffi", "the command line overrides the file");
    assert.equal(fromFile.offloads, false);
    assert.deepEqual(fromFile.peer.public_key, fromCli.peer.public_key);
    assert.deepEqual(fromFile.peer.endpoint, fromCli.peer.endpoint);
    await file.waitFor(/session started/, 5000); // the file's verbose = 1
  },
);

bedTest(
  "host names: the client follows the server to a new address when its hosts entry changes",
  245,
  "tappet-ops-rr-",
  async ({ pair, dir, procs }) => {
    const etc = `/etc/netns/${pair.a.ns}`;
    Deno.mkdirSync(etc, { recursive: true });
    try {
      const hosts = `${etc}/hosts`;
      // No DNS server: a missing name fails at once (127.0.0.1 refuses).
      Deno.writeTextFileSync(`${etc}/resolv.conf`, "options attempts:1 timeout:1\n");
      Deno.writeTextFileSync(hosts, `127.0.0.1 localhost\n${pair.b.underlay} vpn.tappet.test\n`);
      const moved = "198.18.245.3";
      await sh(["ip", "-n", pair.b.ns, "addr", "add", `${moved}/24`, "dev", `tv${Deno.pid % 100000}b245`]);
      const server = (at: string, name: string) => {
        const p = startEnd(pair, dir, "b", { role: ["--listen", `${at}:7011`] }, name);
        procs.push(p);
        return p;
      };
      const b1 = server(pair.b.underlay, "b1");
      await b1.waitFor(/listening on/);
      const env = { TAPPET_TEST_TIMERS: JSON.stringify({ reresolveAfterMs: 3000 }) };
      const a = startEnd(pair, dir, "a", { role: ["--connect", "vpn.tappet.test:7011"], env });
      procs.push(a);
      await a.waitFor(/sending to vpn\.tappet\.test = 198\.18\.245\.2:7011/);
      assert(await waitForPing(pair.a.ns, pair.b.overlay, 20));
      const before = await statusJson(pair.a.ns);
      assert.equal(before.peer.host, "vpn.tappet.test");
      assert.equal(before.peer.endpoint, `${pair.b.underlay}:7011`);
      // The server moves; its name follows (the file is changed in place).
      assert.equal((await b1.stop()).code, 0);
      const b2 = server(moved, "b2");
      await b2.waitFor(/listening on/);
      Deno.writeTextFileSync(hosts, `127.0.0.1 localhost\n${moved} vpn.tappet.test\n`);
      await a.waitFor(
        /host name vpn\.tappet\.test now resolves to 198\.18\.245\.3 \(was 198\.18\.245\.2\)/,
        20_000,
      );
      assert(await waitForPing(pair.a.ns, pair.b.overlay, 40), "the tunnel works again at the new address");
      await waitForStatus(pair.a.ns, (s) => s.peer.endpoint === `${moved}:7011`);
      // The name stops resolving: a warning, and the last address is kept.
      Deno.writeTextFileSync(hosts, "127.0.0.1 localhost\n");
      await a.waitFor(
        /warning: host name vpn\.tappet\.test does not resolve now .*; keeping 198\.18\.245\.3/,
        30_000,
      );
      assert(await waitForPing(pair.a.ns, pair.b.overlay, 5));
      assert.equal((await statusJson(pair.a.ns)).peer.endpoint, `${moved}:7011`);
    } finally {
      Deno.removeSync(etc, { recursive: true });
    }
  },
);
