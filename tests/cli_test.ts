/** The command line, parsed without side effects. */

import { strict as assert } from "node:assert";
import { cli, parseArgs } from "../cli/args.ts";
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
  assert.deepEqual(ok(["keygen", "alice"]), { cmd: "keygen", name: "alice" });
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
  assert.deepEqual(ok(["genpsk", "x.psk"]), { cmd: "genpsk", file: "x.psk" });
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
  assert.match(out.at(-1)!, /complete/);
  assert.equal(cli(["tp0", "n", "a", "b", "1.2.3.4", "0"], "1", io), 2);
  assert.equal(err.length, 3);
  assert.match(err[0], /^tappet: PORT: port 0 is out of range/);
  assert.match(err[1], /^usage: /);
  assert.match(err[2], /--help/);
});
