/** The command line, parsed without side effects. */

import { strict as assert } from "node:assert";
import { parseArgs } from "../cli/args.ts";
import { cli } from "../cli/cli.ts";
import { tunnelConfigFromArgs } from "../cli/config.ts";

function ok(args: string[]) {
  const r = parseArgs(args);
  if (!r.ok) throw new Error(`${args.join(" ")}: ${r.error}`);
  return r.command;
}

function fails(args: string[], pattern: RegExp): void {
  const r = parseArgs(args);
  assert.ok(!r.ok, `${args.join(" ")} should fail`);
  assert.match(r.error, pattern);
}

Deno.test("cli: the 2014 command line, unchanged", () => {
  const c = ok(["tp0", "nonce", "a.key", "b.pub", "198.18.0.2", "1011", "-l"]);
  assert.equal(c.cmd, "legacy");
  const cfg = tunnelConfigFromArgs(c as Extract<typeof c, { cmd: "legacy" }>);
  assert.deepEqual(cfg, {
    protocol: "legacy",
    transport: "ffi",
    offload: true,
    iface: "tp0",
    nonceFile: "nonce",
    keyFile: "a.key",
    peerKeyFile: "b.pub",
    listen: true,
    host: "198.18.0.2",
    port: 1011,
    family: 4,
  });
  const client = ok(["tp0", "nonce", "a.key", "b.pub", "2001:db8::2", "65535"]);
  assert.ok(
    client.cmd === "legacy" && !client.listen && client.port === 65535 && client.address.family === 6,
  );
});

Deno.test("cli: the named-option form", () => {
  const c = ok([
    "run",
    "--tap",
    "tp0",
    "--key",
    "a.key",
    "--peer-key",
    "b.pub",
    "--connect",
    "[2001:db8::1]:1011",
  ]);
  assert.ok(c.cmd === "run");
  assert.equal(c.role, "connect");
  assert.deepEqual(c.addr, { host: "2001:db8::1", port: 1011, family: 6 });
  assert.equal(c.nonceFile, undefined);
  const s = ok([
    "run",
    "--listen",
    "198.18.0.2:1011",
    "--tap",
    "tp0",
    "--key",
    "a",
    "--peer-key",
    "b",
    "--nonce-file",
    "n",
    "-vv",
  ]);
  assert.ok(s.cmd === "run" && s.role === "listen" && s.nonceFile === "n" && s.verbose === 2);
});

Deno.test("cli: keygen NAME", () => {
  assert.deepEqual(ok(["keygen", "alice"]), { cmd: "keygen", name: "alice", verbose: 0 });
  assert.deepEqual(ok(["keygen", "-v", "X"]), { cmd: "keygen", name: "X", verbose: 1 }, "keygen -v X");
  assert.deepEqual(ok(["pubkey"]), { cmd: "pubkey", verbose: 0 });
});

Deno.test("cli: bad arguments are named", () => {
  fails(["tp0", "nonce", "a.key", "b.pub", "198.18.0.300", "1011"], /198\.18\.0\.300.*not an IPv4 or IPv6/);
  fails(["tp0", "nonce", "a.key", "b.pub", "198.18.0.2", "0"], /port 0 is out of range/);
  fails(["tp0", "nonce", "a.key", "b.pub", "198.18.0.2", "65536"], /port 65536 is out of range/);
  fails(["tp0", "nonce", "a.key", "b.pub", "198.18.0.2", "http"], /port "http" is not a number/);
  fails(["tp0", "nonce", "a.key"], /THEIRPUB/);
  fails(["run", "--tap", "tp0", "--key", "a", "--peer-key", "b"], /--listen or --connect/);
  fails(
    ["run", "--tap", "tp0", "--key", "a", "--peer-key", "b", "--connect", "2001:db8::1:1011"],
    /brackets/,
  );
  fails([
    "run",
    "--tap",
    "t",
    "--key",
    "a",
    "--peer-key",
    "b",
    "--listen",
    "1.2.3.4:1",
    "--connect",
    "1.2.3.4:2",
  ], /together/);
});

Deno.test("cli: run uses the current format by default; options of the other format are refused", () => {
  const base = ["run", "--tap", "tp0", "--key", "a", "--peer-key", "b", "--connect", "198.18.0.2:1011"];
  type Run = Extract<ReturnType<typeof ok>, { cmd: "run" }>;
  const cfg = (args: string[]) => tunnelConfigFromArgs(ok(args) as Run);
  assert.equal(cfg(base).protocol, "current");
  assert.deepEqual(cfg([...base, "--psk", "p", "--keepalive", "25"]), {
    protocol: "current",
    transport: "ffi",
    offload: true,
    iface: "tp0",
    keyFile: "a",
    peerKeyFile: "b",
    listen: false,
    host: "198.18.0.2",
    port: 1011,
    family: 4,
    pskFile: "p",
    keepaliveSeconds: 25,
  });
  assert.equal(cfg([...base, "--protocol", "legacy", "--nonce-file", "n"]).protocol, "legacy");
  assert.throws(() => cfg([...base, "--protocol", "legacy"]), /legacy format needs --nonce-file/);
  assert.throws(() => cfg([...base, "--nonce-file", "n"]), /--nonce-file is for the legacy format only/);
  assert.throws(
    () => cfg([...base, "--protocol", "legacy", "--nonce-file", "n", "--psk", "p"]),
    /--psk works with the current/,
  );
  fails([...base, "--protocol", "wireguard"], /wireguard/);
  assert.equal(cfg([...base, "--transport", "deno"]).transport, "deno");
  fails([...base, "--transport", "dpdk"], /dpdk/);
  fails([...base, "--keepalive", "0"], /keepalive/i);
});

Deno.test("cli: genpsk FILE", () => {
  assert.deepEqual(ok(["genpsk", "x.psk"]), { cmd: "genpsk", file: "x.psk", verbose: 0 });
});

/** Runs cli() on `args`; what it printed on each channel, and its result. */
function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const r = cli(args, "9.9.9", { out: (t) => out.push(t), err: (l) => err.push(l) });
  return { r, out: out.join(""), err };
}

Deno.test("cli: the first hour's command lines (issue 12, 4)", () => {
  const typo = run(["keygn", "X"]);
  assert.equal(typo.r, 2);
  assert.deepEqual(typo.err, [
    "tappet: unknown command 'keygn'; did you mean 'keygen'?",
    "Try 'tappet --help' for more information.",
  ]);
  assert.match(run(["rn", "--tap", "t"]).err[0], /unknown command 'rn'; did you mean 'run'\?/);
  assert.match(run(["genspk", "x"]).err[0], /did you mean 'genpsk'/);
  const version = run(["version"]);
  assert.equal(version.r, 0);
  assert.equal(version.out, "tappet 9.9.9\n");
  assert.equal(run(["--version"]).out, "tappet 9.9.9\n");
  for (const h of [["-h"], ["--help"], ["help"]]) {
    const top = run(h);
    assert.equal(top.r, 0, h.join(" "));
    assert.match(top.out, /^tappet: an encrypted Ethernet tunnel/);
    assert.match(top.out, /Commands:[\s\S]*keygen[\s\S]*completion/);
  }
  const completionHelp = run(["completion", "--help"]);
  assert.equal(completionHelp.r, 0);
  assert.match(
    completionHelp.out,
    /^Print a shell completion script\.\nUsage: tappet completion bash\|zsh\|fish/,
  );
  assert.equal(run(["help", "completion"]).out, completionHelp.out, "help completion = completion --help");
  assert.deepEqual(run(["keygen", "-v", "X"]).r, { cmd: "keygen", name: "X", verbose: 1 });
  assert.deepEqual(run(["-vv", "keygen", "X"]).r, { cmd: "keygen", name: "X", verbose: 2 });
  // A 2014 command line whose interface looks like a subcommand is still one.
  const legacy = run(["run0", "n", "a.key", "b.pub", "198.18.0.1", "41011"]).r;
  assert.ok(typeof legacy === "object" && legacy.cmd === "legacy" && legacy.iface === "run0");
});

Deno.test("cli: -h is --help everywhere, and each command has its own help ending with examples", () => {
  for (const sub of ["keygen", "genpsk", "pubkey", "run", "completion", "help", "version"]) {
    const a = run([sub, "--help"]);
    assert.equal(a.r, 0, sub);
    assert.equal(run([sub, "-h"]).out, a.out, `${sub} -h`);
    assert.equal(run(["help", sub]).out, a.out, `help ${sub}`);
    assert.match(a.out, new RegExp(`\nUsage: tappet ${sub}`), sub);
    const examples = a.out.split("\nExamples:\n")[1];
    assert.ok(examples !== undefined, `${sub}: no examples`);
    for (const line of examples.trimEnd().split("\n")) assert.match(line, /^ {2}(\S.*)?\btappet /, sub);
  }
  assert.match(run(["run", "--tap", "x", "-h"]).out, /--peer-key FILE/, "-h after other options");
  assert.match(run(["help", "legacy"]).out, /Usage: tappet IFACE NONCEFILE/);
  assert.match(run(["tp0", "-h"]).out, /Usage: tappet IFACE NONCEFILE/, "the 2014 form's help");
  assert.doesNotMatch(run(["run", "--help"]).out, /:1011\b/, "example ports are above 1023");
});

Deno.test("cli: error forms (issue 11, 7): a bad value is 2 lines; a missing or unknown argument 3", () => {
  const TRY = "Try 'tappet --help' for more information.";
  const RUN =
    "usage: tappet run --tap IFACE --key FILE --peer-key FILE (--listen | --connect) ADDRESS:PORT [options]";
  const cases: [string[], string[]][] = [
    [["tp0", "n", "a", "b", "1.2.3.4", "0"], [
      "tappet: port 0 is out of range: give a port from 1 to 65535",
      TRY,
    ]],
    [
      ["run", "--tap", "t", "--key", "a", "--peer-key", "b", "--connect", "1.2.3:5"],
      [
        'tappet: --connect: address "1.2.3" is not an IPv4 or IPv6 literal: give one like 192.0.2.1 or 2001:db8::1',
        TRY,
      ],
    ],
    [["completion", "tcsh"], ["tappet: unknown shell 'tcsh': give bash, zsh, fish", TRY]],
    [["run", "--tap", "t", "--key", "a", "--connect", "1.2.3.4:5"], [
      "tappet: missing option --peer-key",
      RUN,
      TRY,
    ]],
    [
      ["run", "--tap", "t", "--key", "a", "--peer-key", "b", "--conect", "1.2.3.4:5"],
      ["tappet: unknown argument '--conect'; did you mean --connect or --config?", RUN, TRY],
    ],
    [["keygen"], ["tappet: missing NAME", "usage: tappet keygen NAME", TRY]],
    [["keygen", "a", "b"], ["tappet: unknown argument 'b'", "usage: tappet keygen NAME", TRY]],
    [["tp0", "n", "a"], [
      "tappet: missing THEIRPUB",
      "usage: tappet IFACE NONCEFILE OURKEY THEIRPUB ADDRESS PORT [-l]",
      TRY,
    ]],
    [["completion"], [
      "tappet: missing SHELL: give bash, zsh, fish",
      "usage: tappet completion bash|zsh|fish",
      TRY,
    ]],
  ];
  for (const [args, want] of cases) {
    const o = run(args);
    assert.equal(o.r, 2, args.join(" "));
    assert.deepEqual(o.err, want, args.join(" "));
  }
  const bare = run([]);
  assert.equal(bare.r, 2);
  assert.ok(bare.err.length >= 6, "the whole usage block only for a bare tappet");
  assert.match(bare.err[0], /^usage: tappet keygen NAME$/);
});

Deno.test("cli: --bind gives the client a fixed local address and port", () => {
  const base = ["run", "--tap", "tp0", "--key", "a", "--peer-key", "b"];
  type Run = Extract<ReturnType<typeof ok>, { cmd: "run" }>;
  const cfg = tunnelConfigFromArgs(
    ok([...base, "--connect", "198.18.0.2:41011", "--bind", "198.18.0.1:41012"]) as Run,
  );
  assert.deepEqual(cfg.bind, { host: "198.18.0.1", port: 41012, family: 4 });
  const v6 = tunnelConfigFromArgs(
    ok([...base, "--connect", "[2001:db8::2]:41011", "--bind", "[2001:db8::1]:5"]) as Run,
  );
  assert.deepEqual(v6.bind, { host: "2001:db8::1", port: 5, family: 6 });
  assert.equal(tunnelConfigFromArgs(ok([...base, "--connect", "198.18.0.2:1"]) as Run).bind, undefined);
  fails(
    [...base, "--connect", "198.18.0.2:1", "--bind", "198.18.0.1"],
    /--bind: "198\.18\.0\.1" is not ADDRESS:PORT/,
  );
  fails([...base, "--connect", "198.18.0.2:1", "--bind", "198.18.0.1:0"], /--bind: port 0 is out of range/);
  assert.throws(
    () => tunnelConfigFromArgs(ok([...base, "--listen", "198.18.0.2:1", "--bind", "198.18.0.1:2"]) as Run),
    /--bind is for the client/,
  );
  assert.throws(
    () =>
      tunnelConfigFromArgs(ok([...base, "--connect", "198.18.0.2:1", "--bind", "[2001:db8::1]:2"]) as Run),
    /different address families/,
  );
});

Deno.test("cli: help, version, completion and usage errors return exit codes, never exit", () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (l: string) => err.push(l) };
  assert.equal(cli(["--version"], "9.9.9", io), 0);
  assert.match(out.join(""), /9\.9\.9/);
  assert.equal(cli(["run", "--help"], "1", io), 0);
  assert.match(out.join(""), /--peer-key FILE/);
  assert.equal(cli(["help", "keygen"], "1", io), 0);
  assert.equal(cli(["completion", "bash"], "1", io), 0);
  assert.match(out.at(-1)!, /complete -F _tappet tappet/);
  assert.equal(cli(["tp0", "n", "a", "b", "1.2.3.4", "0"], "1", io), 2);
  assert.equal(err.length, 2);
  assert.match(err[0], /^tappet: port 0 is out of range/);
  assert.match(err[1], /--help/);
});
