/**
 * Mistakes in the system around tappet: the interface, /dev/net/tun, the
 * address and port, and permissions, each met as a user meets it (some as
 * an ordinary user). Each gives one line that names the thing, says what is
 * wrong and what to do, and exits non-zero. Needs root (to make namespaces
 * and the test user).
 */

import { strict as assert } from "node:assert";
import { sh } from "../scripts/netns.ts";
import { NsProcess, tappetArgv } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { asTestUser, namespace, oneLine, tappet, TEST_USER, unprivileged } from "./_cli.ts";

const KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
const PUB = "7d9c24316539825c1896e57f28197746793ce60cbee3ad47da9d07b85fa55e2a\n";
const ADDR = "198.18.240.1";

/** Key and nonce files; the test user's when it exists. */
async function files(): Promise<string> {
  const d = Deno.makeTempDirSync({ prefix: "tappet-sys-" });
  Deno.chmodSync(d, 0o755);
  Deno.writeTextFileSync(`${d}/a.key`, KEY, { mode: 0o600 });
  Deno.writeTextFileSync(`${d}/b.pub`, PUB, { mode: 0o644 });
  Deno.writeFileSync(`${d}/nonce`, new Uint8Array(4), { mode: 0o644 });
  if ((await sh(["id", "-u", TEST_USER], { allowFail: true })).trim() !== "") {
    await sh(["chown", TEST_USER, `${d}/a.key`, `${d}/b.pub`, `${d}/nonce`]);
  }
  return d;
}

const args = (
  d: string,
  o: { iface?: string; addr?: string; port?: string; nonce?: string; key?: string } = {},
) => [
  o.iface ?? "tp0",
  o.nonce ?? `${d}/nonce`,
  o.key ?? `${d}/a.key`,
  `${d}/b.pub`,
  o.addr ?? ADDR,
  o.port ?? "41011",
  "-l",
];

/** Runs `body` with a fresh namespace (TAP tp0 owned by `tapUser`) and files. */
async function withNs(
  tag: string,
  options: { tapUser?: string; tun?: string },
  body: (ns: string, d: string) => Promise<void>,
) {
  const ns = `tpt${tag}${Deno.pid}`;
  if (options.tapUser) await unprivileged(); // the user must exist first
  const del = await namespace(ns, { tap: "tp0", ...options });
  const d = await files();
  try {
    await body(ns, d);
  } finally {
    await del();
    Deno.removeSync(d, { recursive: true });
  }
}

const root = { ignore: !isRoot() };

Deno.test({
  ...root,
  name: "system mistakes: a TUN given for a TAP, and a TAP another tappet holds",
  fn: () =>
    withNs("iface", { tun: "tun0" }, async (ns, d) => {
      oneLine(
        await tappet(args(d, { iface: "tun0" }), { ns }),
        1,
        /interface tun0 is not a TAP interface \(a TUN, or another kind of device\): create a TAP with 'ip tuntap add tun0 mode tap/,
      );
      oneLine(await tappet(args(d, { iface: "du0" }), { ns }), 1, /interface du0 is not a TAP interface/);
      const first = new NsProcess(ns, tappetArgv(args(d)), `${d}/first.log`);
      try {
        await new Promise((r) => setTimeout(r, 1500));
        oneLine(
          await tappet(args(d, { port: "41012" }), { ns }),
          1,
          /interface tp0 is already attached by another process \(another tappet\?\): stop that process/,
        );
      } finally {
        assert.equal((await first.stop("SIGTERM")).code, 0);
      }
    }),
});

Deno.test({
  ...root,
  name: "system mistakes: /dev/net/tun missing, or not permitted",
  fn: () =>
    withNs("dev", { tapUser: TEST_USER }, async (ns, d) => {
      oneLine(
        await tappet(args(d), { ns, mountSetup: "mount -t tmpfs none /dev/net" }),
        1,
        /\/dev\/net\/tun does not exist: load the tun module \(modprobe tun\)/,
      );
      oneLine(
        await tappet(args(d), {
          ns,
          user: true,
          mountSetup: "mount -t tmpfs none /dev/net && mknod -m 600 /dev/net/tun c 10 200",
        }),
        1,
        /\/dev\/net\/tun cannot be opened \(permission denied\): give it its usual mode with 'chmod 0666 \/dev\/net\/tun'/,
      );
    }),
});

Deno.test({
  ...root,
  name:
    "system mistakes: an address that is not local, a port in use, a port below 1024 for an ordinary user",
  fn: () =>
    withNs("addr", { tapUser: TEST_USER }, async (ns, d) => {
      oneLine(
        await tappet(args(d, { addr: "198.18.240.99" }), { ns }),
        1,
        /cannot listen on 198\.18\.240\.99:41011: the address is not on any interface of this host; give a local address/,
      );
      const holder = new NsProcess(
        ns,
        [
          Deno.execPath(),
          "eval",
          "--unstable-net",
          // receive() keeps the process (and the socket) alive.
          `const s = Deno.listenDatagram({transport:"udp",hostname:"${ADDR}",port:41011}); await s.receive(new Uint8Array(2048))`,
        ],
        `${d}/holder.log`,
      );
      try {
        await new Promise((r) => setTimeout(r, 1500));
        oneLine(
          await tappet(args(d), { ns }),
          1,
          /UDP 198\.18\.240\.1:41011 is already in use \(another tappet\?\): stop that process or choose another port/,
        );
      } finally {
        await holder.stop("SIGKILL");
      }
      oneLine(
        await tappet(args(d, { port: "1011" }), { ns, user: true }),
        1,
        /cannot listen on 198\.18\.240\.1:1011: ports below 1024 need privileges; use a port of 1024 or above/,
      );
      assert.deepEqual(
        Deno.readFileSync(`${d}/nonce`),
        new Uint8Array(4),
        "no prefix was taken by a failed start",
      );
    }),
});

Deno.test({
  ...root,
  name: "system mistakes: an unreadable key, a nonce file that cannot be written, a TAP of another user",
  fn: () =>
    withNs("perm", { tapUser: TEST_USER }, async (ns, d) => {
      Deno.writeTextFileSync(`${d}/root.key`, KEY, { mode: 0o600 }); // root's: unreadable for the test user
      oneLine(
        await tappet(args(d, { key: `${d}/root.key` }), { ns, user: true }),
        1,
        /secret key file .*root\.key cannot be opened \(permission denied\): check its owner and mode/,
      );
      await sh(["chown", "root", `${d}/nonce`]); // readable, not writable, for the test user
      oneLine(
        await tappet(args(d), { ns, user: true }),
        1,
        /nonce file .*nonce cannot be opened \(permission denied\)/,
      );
      await sh(["chown", TEST_USER, `${d}/nonce`]);
      // A TAP without an owner is open to every user; this one is root's.
      await sh(["ip", "-n", ns, "tuntap", "add", "tproot", "mode", "tap", "user", "root"]);
      oneLine(
        await tappet(args(d, { iface: "tproot" }), { ns, user: true }),
        1,
        /not permitted to attach to tproot: it belongs to another user; recreate it for this user/,
      );
      // With the files and the TAP its own, the ordinary user runs tappet: no warning about root.
      const user = await asTestUser([...args(d), "-v"]);
      const run = new NsProcess(ns, user.argv, `${d}/user.log`, {
        user: TEST_USER,
        env: user.env,
        cwd: user.cwd,
      });
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal((await run.stop("SIGTERM")).code, 0, run.text());
      assert.match(run.text(), /listening on 198\.18\.240\.1:41011/);
      assert.doesNotMatch(run.text(), /running as root/);
    }),
});
