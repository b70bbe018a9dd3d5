/**
 * Bad input, as a user meets it: tappet started as a subprocess, and each
 * mistake must give one line on stderr that names the thing, says what is
 * wrong and what to do, a non-zero exit status, and no stack trace.
 */

import { strict as assert } from "node:assert";
import { createPair, sh, waitForPing } from "../scripts/netns.ts";
import { NsProcess, tappetArgv } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { namespace, oneLine, tappet } from "./_cli.ts";

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
  assert.match(none.lines.join("\n"), /^usage: tappet keygen NAME\n {3}or: tappet genpsk FILE/);
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

Deno.test("errors: key files that are malformed, misplaced or the peer's = ours, each named with what to do", async () => {
  const d = files();
  const w = (name: string, text: string, mode = 0o600) => {
    Deno.writeTextFileSync(`${d}/${name}`, text, { mode });
    Deno.chmodSync(`${d}/${name}`, mode);
    return `${d}/${name}`;
  };
  const cases: [Partial<Record<"key" | "pub", string>>, RegExp][] = [
    [
      { key: w("empty.key", "") },
      /secret key file .*empty\.key is empty: its first line must be 64 hex characters and a newline/,
    ],
    [
      { key: w("short.key", KEY.slice(4)) },
      /secret key file .*short\.key holds 60 bytes before its first newline, not 64/,
    ],
    [
      { key: w("hex.key", "zz" + KEY.slice(2)) },
      /secret key file .*hex\.key has a character that is not hex at byte 1/,
    ],
    [{ key: w("nonl.key", KEY.trim()) }, /secret key file .*nonl\.key has no final newline/],
    [
      { pub: w("long.pub", PUB.trim() + "0\n", 0o644) },
      /public key file .*long\.pub has more than 64 bytes before its first newline/,
    ],
    [{ key: `${d}/b.pub` }, /secret key file .*b\.pub looks like a public key \(\.pub\): give our NAME\.key/],
    [{ pub: `${d}/a.key` }, /peer public key file .*a\.key looks like a secret key \(\.key\)/],
    [
      { pub: w("mine.pub", "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f\n", 0o644) },
      /holds our own public key: give the peer's NAME\.pub/,
    ],
    [
      { key: w("peer-as-key.key", PUB) },
      /holds the same key as .*peer-as-key\.key: give the peer's NAME\.pub/,
    ],
    [{ key: `${d}` }, /secret key file .* is not a regular file/],
  ];
  for (const [over, want] of cases) {
    const args = legacy(d, over);
    if (over.key === `${d}/b.pub`) args[3] = w("other.pub", PUB, 0o644);
    if (over.key?.endsWith("peer-as-key.key")) args[3] = `${d}/b.pub`;
    oneLine(await tappet(args), 1, want);
  }
});

Deno.test("errors: a secret key open to others is refused, with the chmod 600 that fixes it", async () => {
  const d = files();
  Deno.writeTextFileSync(`${d}/open.key`, KEY);
  Deno.chmodSync(`${d}/open.key`, 0o640);
  oneLine(
    await tappet(legacy(d, { key: `${d}/open.key` })),
    1,
    /secret key file .*open\.key is open to others \(mode 0640\); refusing it: run 'chmod 600 .*open\.key'/,
  );
});

Deno.test("errors: key files the 2014 reader accepts start a run (a blank line after the key)", async () => {
  const d = files();
  Deno.writeTextFileSync(`${d}/blank.key`, KEY + "\n", { mode: 0o600 });
  Deno.writeTextFileSync(`${d}/blank.pub`, PUB + "\n");
  // It gets past both key files and fails only on the interface name.
  oneLine(
    await tappet(legacy(d, { key: `${d}/blank.key`, pub: `${d}/blank.pub`, iface: "tappet-interface0" })),
    1,
    /"tappet-interface0" is 17 bytes long/,
  );
});

Deno.test("errors: argument mistakes give one line, the usage and --help, exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["tp0", "n", "a.key", "b.pub", "198.18.0.1", "65536"], /port 65536 is out of range/],
    [["tp0", "n", "a.key", "b.pub", "198.18.0.1", "http"], /port "http" is not a number/],
    [
      ["tp0", "n", "a.key", "b.pub", "198.18.0", "1011"],
      /address "198\.18\.0" is not an IPv4 or IPv6 literal/,
    ],
    [["tp0", "n", "a.key"], /THEIRPUB/],
    [["run", "--tap", "tp0", "--key", "a", "--peer-key", "b"], /give one of --listen or --connect/],
    [["run", "--tap", "tp0", "--key", "a", "--peer-key", "b", "--connect", "2001:db8::1:1011"], /brackets/],
    [["keygen"], /NAME/],
  ];
  for (const [args, want] of cases) {
    const o = await tappet(args);
    assert.equal(o.code, 2, args.join(" "));
    assert.match(o.lines[0], want);
    assert.match(o.lines.at(-1)!, /^Try 'tappet --help'/);
    assert.ok(o.lines.length <= 3, o.lines.join("\n"));
  }
});

/** The root-only test `name`: `body` gets the files of {@linkcode files}
 * and namespace `ns` (made by {@linkcode namespace} with `options`),
 * deleted afterwards whatever happens. */
function nsTest(
  name: string,
  ns: string,
  options: Parameters<typeof namespace>[1],
  body: (d: string, ns: string) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !isRoot(),
    fn: async () => {
      const d = files();
      const del = await namespace(ns, options);
      try {
        await body(d, ns);
      } finally {
        await del();
      }
    },
  });
}

nsTest(
  "errors: nonce files that are missing, of the wrong size or at their maximum",
  `tptnonce${Deno.pid}`,
  { tap: "tp0", address: "198.18.250.2" },
  async (d, ns) => {
    const run = (nonce: string) => tappet([...legacy(d, { nonce }).slice(0, 6), "-l"], { ns });
    oneLine(
      await run(`${d}/none`),
      1,
      /nonce file .*none does not exist: create it with: dd if=\/dev\/zero of=/,
    );
    Deno.writeFileSync(`${d}/three`, new Uint8Array(3));
    oneLine(
      await run(`${d}/three`),
      1,
      /nonce file .*three holds 3 bytes, but the file must hold exactly 4 bytes/,
    );
    Deno.writeFileSync(`${d}/max`, new Uint8Array([255, 255, 255, 255]));
    oneLine(
      await run(`${d}/max`),
      1,
      /nonce file .*max is at its maximum \(prefix overflow\): regenerate keys on both peers and reset the nonce files/,
    );
  },
);

Deno.test("errors: libsodium that cannot be loaded names the Debian package", async () => {
  const d = files();
  const o = await tappet(legacy(d), {
    env: { TAPPET_LIBSODIUM: "/nonexistent/libsodium.so.23" },
  });
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

nsTest(
  "errors: a TAP interface that does not exist is never created; the error shows ip tuntap add",
  `tpterr${Deno.pid}`,
  {},
  async (d, ns) => {
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
  },
);

Deno.test({
  name: "errors: a frame too big for the path gets ICMP with the right MTU, and a warning names the TAP MTU",
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
      // Both ends start at once: wait for the tunnel rather than race its start.
      assert.ok(await waitForPing(a.ns, b.overlay, 20), "small frames still pass");
      // Issue 14: the frame is answered with ICMP "fragmentation needed"
      // naming the IP MTU that fits (1402), as a router would.
      const big = ["ping", "-n", "-c", "2", "-W", "1", "-M", "do", "-s", "1472", b.overlay];
      assert.match(await pair.exec(a.ns, big, { allowFail: true }), /mtu = 1402/);
      const status = await procs[1].stop("SIGTERM");
      assert.equal(status.code, 0, "the tunnel survived the oversize frames");
      assert.match(
        procs[1].text(),
        /warning: the MTU of tp0 \(1500\) is too big for the path to 198\.18\.106\.2:1011: .*set the TAP MTU of tp0 to 1402 \(path MTU 1500 − 98\)/,
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
