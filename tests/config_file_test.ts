/**
 * cli/config_file.ts: every key, each kind of bad file as one line naming
 * the file, the line and the key, relative paths, the merge with the command
 * line, and the README's example config.
 */

import { strict as assert } from "node:assert";
import {
  closestKey,
  CONFIG_KEYS,
  mergeRunOptions,
  parseConfig,
  readConfigFile,
  type RunOptions,
} from "../cli/config_file.ts";
import { UserError } from "../errors.ts";
import { parseArgs } from "../cli/args.ts";

const FILE = "/etc/tappet/office.toml";

function bad(source: string, message: string | RegExp): void {
  assert.throws(() => parseConfig(source, FILE), (e: unknown) => {
    assert(e instanceof UserError, `not a UserError: ${e}`);
    assert(!e.message.includes("\n"), `more than one line: ${e.message}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

Deno.test("config: every key, its values, paths relative to the file", () => {
  const o = parseConfig(
    [
      'tap = "tap0"',
      'key = "a.key"',
      'peer-key = "/keys/b.pub"',
      'connect = "vpn.example.com:1011"',
      'protocol = "current"',
      'psk = "sub/ab.psk"',
      "keepalive = 25",
      'transport = "deno"',
      "offload = false",
      'control = "run/tap0.sock"',
      'metrics = "127.0.0.1:9595"',
      'bind = "[2001:db8::2]:40000"',
      'user = "tappet"',
      'clamp-mss = "off"',
      "path-mtu = 1420",
      "set-mtu = true",
      "verbose = 1",
    ].join("\n"),
    FILE,
  );
  assert.deepEqual(o, {
    tap: "tap0",
    key: "/etc/tappet/a.key",
    peerKey: "/keys/b.pub",
    role: "connect",
    addr: { name: "vpn.example.com", port: 1011 },
    protocol: "current",
    psk: "/etc/tappet/sub/ab.psk",
    keepalive: 25,
    transport: "deno",
    offload: "off",
    control: "/etc/tappet/run/tap0.sock",
    metrics: { host: "127.0.0.1", port: 9595, family: 4 },
    bind: { host: "2001:db8::2", port: 40000, family: 6 },
    user: "tappet",
    clampMss: "off",
    pathMtu: 1420,
    setMtu: "on",
    verbose: 1,
  });
  const legacy = parseConfig(
    'listen = "198.18.0.1:1011"\nnonce-file = "n"\nprotocol = "legacy"\n',
    "rel/x.toml",
  );
  assert.deepEqual(legacy.addr, { host: "198.18.0.1", port: 1011, family: 4 });
  assert.equal(legacy.role, "listen");
  assert.equal(legacy.nonceFile, `${Deno.cwd()}/rel/n`);
  assert.equal(CONFIG_KEYS.length, 19);
});

Deno.test("config: an unknown key names the closest known one", () => {
  bad(
    'tap = "t"\npeer_key = "b.pub"\n',
    `${FILE}:2: key "peer_key" is not a tappet run option: did you mean "peer-key"?`,
  );
  bad(
    "\n\nkeep-alive = 25\n",
    `${FILE}:3: key "keep-alive" is not a tappet run option: did you mean "keepalive"?`,
  );
  bad('noncefile = "n"', `${FILE}:1: key "noncefile" is not a tappet run option: did you mean "nonce-file"?`);
  bad(
    '[peer]\nkey = "b.pub"\n',
    `${FILE}:1: key "peer" is not a tappet run option: did you mean "peer-key"?`,
  );
  assert.equal(closestKey("offloads"), "offload");
  assert.equal(closestKey("CONTROL"), "control");
});

Deno.test("config: a wrong type", () => {
  bad("tap = 5", `${FILE}:1: key "tap": give the TAP interface's name as a string`);
  bad("x = 1\n", /^\/etc\/tappet\/office\.toml:1: key "x" is not/);
  bad(
    'tap = "t"\nkeepalive = "25"',
    `${FILE}:2: key "keepalive": "25" is not a whole number of seconds from 1 to 3600`,
  );
  bad("listen = 1011", `${FILE}:1: key "listen": give "ADDRESS:PORT" as a string`);
  bad('key = ["a"]', `${FILE}:1: key "key": give a file name as a string`);
  bad("[tap]\nname = 1", `${FILE}:1: key "tap": give the TAP interface's name as a string`);
});

Deno.test("config: a bad value", () => {
  bad(
    'offload = "maybe"',
    `${FILE}:1: key "offload": "maybe" is not "on" or "off": give "on" or "off", or true or false`,
  );
  bad(
    'protocol = "wireguard"',
    `${FILE}:1: key "protocol": "wireguard" is not "current" or "legacy": give "current" or "legacy"`,
  );
  bad("keepalive = 0", `${FILE}:1: key "keepalive": 0 is not a whole number of seconds from 1 to 3600`);
  bad("keepalive = 2.5", `${FILE}:1: key "keepalive": 2.5 is not a whole number of seconds from 1 to 3600`);
  bad(
    'listen = "198.18.0.1:70000"',
    /^\/etc\/tappet\/office\.toml:1: key "listen": port 70000 is out of range/,
  );
  bad(
    'listen = "vpn.example.com:1011"',
    /:1: key "listen": address "vpn\.example\.com" is not an IPv4 or IPv6 literal/,
  );
  bad('connect = "2001:db8::1:1011"', /:1: key "connect": .*IPv6 address goes in brackets/);
  bad('metrics = "localhost"', /:1: key "metrics": "localhost" is not ADDRESS:PORT/);
  bad("path-mtu = 100", `${FILE}:1: key "path-mtu": 100 is not a whole number of bytes from 576 to 65535`);
  bad('tap = ""', `${FILE}:1: key "tap": give the TAP interface's name as a string`);
});

Deno.test("config: not TOML, both listen and connect", () => {
  bad('tap = "t"\nkey = "unterminated\n', /^\/etc\/tappet\/office\.toml:2: not valid TOML: /);
  bad('tap = "t"\ntap = "u"\n', /^\/etc\/tappet\/office\.toml:2: not valid TOML: /);
  bad(
    'listen = "0.0.0.0:1011"\nconnect = "198.18.0.1:1011"\n',
    `${FILE}:2: keys "listen" (line 1) and "connect" (line 2) are both set: keep one (listen for the server, connect for the client)`,
  );
});

Deno.test("config: a missing required key, a file that cannot be read", () => {
  const file = parseConfig('key = "a.key"\npeer-key = "b.pub"\nlisten = "0.0.0.0:1011"\n', FILE);
  assert.throws(
    () => mergeRunOptions(file, {}, FILE),
    (e: unknown) =>
      e instanceof UserError && e.message === `${FILE}: key "tap" is missing: add tap = "...", or give --tap`,
  );
  assert.throws(
    () => mergeRunOptions(parseConfig('tap = "t"\nkey = "a"\npeer-key = "b"\n', FILE), {}, FILE),
    (e: unknown) =>
      e instanceof UserError &&
      /^\/etc\/tappet\/office\.toml: key "listen" or "connect" is missing/.test(e.message),
  );
  assert.throws(
    () => readConfigFile("/nonexistent/tappet.toml"),
    (e: unknown) =>
      e instanceof UserError &&
      e.message === "cannot read config file /nonexistent/tappet.toml: no such file",
  );
});

Deno.test("config: the command line overrides the file; defaults fill the rest", () => {
  const file = parseConfig(
    'tap = "tap0"\nkey = "a.key"\npeer-key = "b.pub"\nconnect = "198.18.0.1:1011"\noffload = "off"\nkeepalive = 25\n',
    FILE,
  );
  const onlyFile = mergeRunOptions(file, {}, FILE);
  assert.deepEqual(
    onlyFile,
    {
      tap: "tap0",
      key: "/etc/tappet/a.key",
      peerKey: "/etc/tappet/b.pub",
      role: "connect",
      addr: { host: "198.18.0.1", port: 1011, family: 4 },
      protocol: "current",
      transport: "ffi",
      offload: "off",
      clampMss: "on",
      keepalive: 25,
    } satisfies RunOptions,
  );
  const cli = {
    tap: "tap9",
    offload: "on" as const,
    role: "listen" as const,
    addr: { host: "::", port: 1011, family: 6 as const },
    key: undefined, // not given: the file's stays
  };
  const merged = mergeRunOptions(file, cli, FILE);
  assert.equal(merged.tap, "tap9");
  assert.equal(merged.offload, "on");
  assert.equal(merged.role, "listen");
  assert.deepEqual(merged.addr, { host: "::", port: 1011, family: 6 });
  assert.equal(merged.key, "/etc/tappet/a.key");
  assert.equal(merged.keepalive, 25);
});

/** The first ```toml block of the README's "Operating tappet" section (or,
 * until the lead places that section, of the text written for it). */
function readmeExample(): string {
  const readme = Deno.readTextFileSync(new URL("../README.md", import.meta.url));
  const at = readme.indexOf("## Operating tappet");
  const text = at >= 0
    ? readme.slice(at)
    : Deno.readTextFileSync(new URL("../../notes/ops-README.md", import.meta.url));
  const m = /```toml\n([\s\S]*?)```/.exec(text);
  assert(m, "the README shows a config example");
  return m[1];
}

Deno.test("config: the README's example parses into a complete tunnel", () => {
  const o = mergeRunOptions(parseConfig(readmeExample(), FILE), {}, FILE);
  assert.equal(o.tap, "tappet-office");
  assert.equal(o.key, "/etc/tappet/office.key");
  assert.equal(o.role, "connect");
  assert.deepEqual(o.addr, { name: "vpn.example.com", port: 1011 });
  assert.equal(o.offload, "on");
  assert.deepEqual(o.metrics, { host: "127.0.0.1", port: 9595, family: 4 });
});

Deno.test("config: a file and the command line that say the same give the same options", () => {
  const args = [
    "run",
    "--tap",
    "tap0",
    "--key",
    "/k/a.key",
    "--peer-key",
    "/k/b.pub",
    "--connect",
    "198.18.0.1:1011",
  ];
  args.push("--protocol", "current", "--psk", "/k/ab.psk", "--keepalive", "25", "--offload", "off");
  args.push("--transport", "deno");
  const parsed = parseArgs(args);
  assert(parsed.ok && parsed.command.cmd === "run");
  const fromFile = mergeRunOptions(
    parseConfig(
      'tap = "tap0"\nkey = "a.key"\npeer-key = "b.pub"\nconnect = "198.18.0.1:1011"\nprotocol = "current"\n' +
        'psk = "ab.psk"\nkeepalive = 25\noffload = false\ntransport = "deno"\n',
      "/k/tunnel.toml",
    ),
    {},
    "/k/tunnel.toml",
  );
  const { cmd: _cmd, verbose: _verbose, ...fromCli } = parsed.command;
  const defined = Object.fromEntries(Object.entries(fromCli).filter(([, v]) => v !== undefined));
  assert.deepEqual(fromFile, defined);
});
