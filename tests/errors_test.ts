/**
 * Bad input, as a user meets it: tappet started as a subprocess, and each
 * mistake must give one line on stderr that names the thing, says what is
 * wrong and what to do, a non-zero exit status, and no stack trace.
 */

import { strict as assert } from "node:assert";
import { createPair, ping, sh } from "../scripts/netns.ts";
import { NsProcess, tappetArgv } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";

interface Outcome {
  code: number;
  lines: string[];
}

async function tappet(
  args: string[],
  options: { env?: Record<string, string>; ns?: string; cwd?: string } = {},
) {
  const argv = tappetArgv(args);
  const full = options.ns ? ["ip", "netns", "exec", options.ns, ...argv] : argv;
  const out = await new Deno.Command(full[0], {
    args: full.slice(1),
    env: options.env,
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stderr).split("\n").filter((l) => l !== "");
  return { code: out.code, lines } satisfies Outcome;
}

/** Exactly one line, matching `pattern`, exit status `code`. */
function oneLine(o: Outcome, code: number, pattern: RegExp): void {
  assert.equal(o.lines.length, 1, `want one line, got:\n${o.lines.join("\n")}`);
  assert.match(o.lines[0], /^tappet: /);
  assert.match(o.lines[0], pattern);
  assert.equal(o.code, code, o.lines[0]);
  assert.doesNotMatch(o.lines[0], /\bat .*\.ts:\d+/, "no stack trace");
}

let dir = "";
const KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
const PUB = "7d9c24316539825c1896e57f28197746793ce60cbee3ad47da9d07b85fa55e2a\n";

function files(): string {
  if (dir !== "") return dir;
  dir = Deno.makeTempDirSync({ prefix: "tappet-err-" });
  Deno.writeTextFileSync(`${dir}/a.key`, KEY, { mode: 0o600 });
  Deno.writeTextFileSync(`${dir}/b.pub`, PUB);
  Deno.writeFileSync(`${dir}/nonce`, new Uint8Array(4));
  return dir;
}

const legacy = (d: string, overrides: Partial<Record<"iface" | "nonce" | "key" | "pub", string>> = {}) => [
  overrides.iface ?? "tp0",
  overrides.nonce ?? `${d}/nonce`,
  overrides.key ?? `${d}/a.key`,
  overrides.pub ?? `${d}/b.pub`,
  "198.18.250.2",
  "1011",
];

Deno.test("errors: usage mistakes give the usage and exit 2", async () => {
  const none = await tappet([]);
  assert.equal(none.code, 2);
  assert.match(none.lines[0], /^tappet: /);
  assert.match(none.lines.join("\n"), /usage: tappet keygen NAME/);
  const port = await tappet(["tp0", "n", "a.key", "b.pub", "198.18.0.1", "0"]);
  assert.equal(port.code, 2);
  assert.match(port.lines[0], /port 0 is out of range: give a port from 1 to 65535/);
});

Deno.test("errors: a missing key file is named, with the command that makes one", async () => {
  const d = files();
  oneLine(
    await tappet(legacy(d, { key: `${d}/nope.key` })),
    1,
    /secret key file .*nope\.key does not exist: make one with 'tappet keygen NAME'/,
  );
  oneLine(await tappet(legacy(d, { pub: `${d}/nope.pub` })), 1, /public key file .*nope\.pub does not exist/);
});

Deno.test("errors: the peer's key equal to our own is refused", async () => {
  const d = files();
  Deno.writeTextFileSync(`${d}/a.pub`, "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f\n");
  oneLine(
    await tappet(legacy(d, { pub: `${d}/a.pub` })),
    1,
    /holds our own public key: give the peer's NAME\.pub/,
  );
});

Deno.test("errors: libsodium that cannot be loaded names the Debian package", async () => {
  const d = files();
  const o = await tappet(legacy(d), { env: { TAPPET_LIBSODIUM: "/nonexistent/libsodium.so.23" } });
  oneLine(
    o,
    1,
    /TAPPET_LIBSODIUM=\/nonexistent\/libsodium\.so\.23 cannot be loaded .*apt-get install libsodium23/,
  );
});

Deno.test("errors: an interface name longer than 15 bytes is rejected, not truncated", async () => {
  const d = files();
  oneLine(
    await tappet(legacy(d, { iface: "tappet-interface0" })),
    1,
    /"tappet-interface0" is 17 bytes long; Linux allows at most 15/,
  );
});

Deno.test({
  name: "errors: a TAP interface that does not exist is never created; the error shows ip tuntap add",
  ignore: !isRoot(),
  fn: async () => {
    const d = files();
    const ns = `tpterr${Deno.pid}`;
    await sh(["ip", "netns", "add", ns]);
    try {
      const o = await tappet(legacy(d, { iface: "tpmissing" }), { ns });
      oneLine(
        o,
        1,
        /interface tpmissing does not exist: create it with 'ip tuntap add tpmissing mode tap user USER/,
      );
      const links = await sh(["ip", "-n", ns, "link", "show"]);
      assert.doesNotMatch(links, /tpmissing/, "tappet must not have created it");
      assert.deepEqual(
        Deno.readFileSync(`${d}/nonce`),
        new Uint8Array(4),
        "a failed start burns no nonce prefix",
      );
    } finally {
      await sh(["ip", "netns", "del", ns], { allowFail: true });
    }
  },
});

Deno.test({
  name: "errors: a frame too big for the path is dropped with a warning naming the right TAP MTU",
  ignore: !isRoot(),
  fn: async () => {
    const pair = await createPair({ id: 106, mtu: 1500 }); // 1500 is too big for a 1500-byte underlay
    const d = Deno.makeTempDirSync({ prefix: "tappet-mtu-" });
    const procs: NsProcess[] = [];
    try {
      const { a, b } = pair;
      for (const n of ["a", "b"]) {
        await tappet(["keygen", `${d}/${n}`]);
        Deno.writeFileSync(`${d}/nonce-${n}`, new Uint8Array(4));
      }
      procs.push(
        new NsProcess(
          b.ns,
          tappetArgv([b.tap, `${d}/nonce-b`, `${d}/b.key`, `${d}/a.pub`, b.underlay, "1011", "-l"]),
          `${d}/b.log`,
        ),
        new NsProcess(
          a.ns,
          tappetArgv([a.tap, `${d}/nonce-a`, `${d}/a.key`, `${d}/b.pub`, b.underlay, "1011"]),
          `${d}/a.log`,
        ),
      );
      assert.ok(await ping(a.ns, b.overlay, { count: 3, timeout: 2 }) > 0, "small frames still pass");
      assert.equal(await ping(a.ns, b.overlay, { count: 2, size: 1472, dontFragment: true, timeout: 1 }), 0);
      const status = await procs[1].stop("SIGTERM");
      assert.equal(status.code, 0, "the tunnel survived the oversize frames");
      assert.match(
        procs[1].text(),
        /warning: frame of 1514 bytes is too big for the path to 198\.18\.106\.2:1011: set the TAP MTU of tp0 to 1402 \(path MTU 1500 − 98\); dropped/,
      );
    } finally {
      for (const p of procs) await p.stop("SIGKILL", 1000);
      await pair.destroy();
      Deno.removeSync(d, { recursive: true });
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (dir !== "") Deno.removeSync(dir, { recursive: true });
});
