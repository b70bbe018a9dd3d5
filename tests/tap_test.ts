/**
 * The TAP device leaves a persistent TAP as it found it (issue 12, bug 1):
 * offloads off and no vnet header after tappet stops, whichever way it
 * stops, so that a program without offloads (the 2014 tappet) attached
 * afterwards reads complete checksums and frames no larger than the MTU. A
 * 2014-style reader written apart from tappet's code (tests/_tap2014.ts)
 * checks it, and `ethtool -k`'s reads (SIOCETHTOOL) show the offloads. Also
 * the offload fallback and a crash of the loop. Needs root: each test makes
 * its own namespace with a TAP in it.
 */

import { strict as assert } from "node:assert";
import { denoRunIn, removeControlDir, sh } from "../scripts/netns.ts";
import { keygen, NsProcess, tappetArgv } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";

const INNER = new URL("./_tap_inner.ts", import.meta.url).pathname;
const READER = new URL("./_tap2014.ts", import.meta.url).pathname;
const TAP = "tio0";
const MTU = 1500;

interface TapNs {
  ns: string;
  id: number;
  /** Runs a Deno script in the namespace; its one line of JSON output. */
  run(script: string, args: string[]): Promise<Record<string, unknown>>;
  /** The TAP's checksum and segmentation offloads, as `ethtool -k` reads them. */
  offloads(): Promise<Record<string, unknown>>;
  /** IFF_VNET_HDR in the TAP's flags. */
  vnetHeader(): Promise<boolean>;
  /** What a 2014-style reader sees of a TCP connection through the TAP. */
  tcp(port: number): Promise<{ frames: number; maxFrame: number; bad: string[] }>;
}

/** A namespace with a persistent TAP (up, 198.19.ID.1/24, a static
 * neighbour .2 that the reader plays); deleted afterwards. */
async function withTapNs(id: number, body: (t: TapNs) => Promise<void>): Promise<void> {
  const ns = `tpio${Deno.pid % 100000}x${id}`;
  const ip = (...args: string[]) => sh(["ip", "-n", ns, ...args]);
  await sh(["ip", "netns", "add", ns]);
  try {
    await ip("link", "set", "lo", "up");
    await ip("tuntap", "add", TAP, "mode", "tap");
    await ip("link", "set", TAP, "up");
    await ip("addr", "add", `198.19.${id}.1/24`, "dev", TAP);
    await ip("neigh", "add", `198.19.${id}.2`, "lladdr", "02:00:00:00:00:02", "dev", TAP, "nud", "permanent");
    const run = async (script: string, args: string[]) => {
      const out = await denoRunIn(ns, ["--quiet", "--allow-all"], script, args);
      return JSON.parse(out.trim().split("\n").at(-1)!);
    };
    await body({
      ns,
      id,
      run,
      offloads: () => run(READER, ["offloads", TAP]),
      vnetHeader: async () => {
        const flags = await sh(["ip", "netns", "exec", ns, "cat", `/sys/class/net/${TAP}/tun_flags`]);
        return (parseInt(flags, 16) & 0x4000) !== 0; // IFF_VNET_HDR, <linux/if_tun.h>
      },
      tcp: async (port) =>
        await run(READER, ["tcp", TAP, `198.19.${id}.2`, String(port), String(MTU)]) as {
          frames: number;
          maxFrame: number;
          bad: string[];
        },
    });
  } finally {
    for (
      const pid of (await sh(["ip", "netns", "pids", ns], { allowFail: true })).split(/\s+/).filter(Boolean)
    ) {
      await sh(["kill", "-9", pid], { allowFail: true });
    }
    await sh(["ip", "netns", "del", ns], { allowFail: true });
    removeControlDir(ns);
  }
}

const OFF = { txCsum: 0, tso: 0 };
const ON = { txCsum: 1, tso: 1 };

/** Asserts that a 2014-style reader sees only complete, MTU-sized frames. */
async function readsPlainFrames(t: TapNs, port: number, when: string): Promise<void> {
  const r = await t.tcp(port);
  assert.deepEqual(r.bad, [], `${when}: ${JSON.stringify(r)}`);
  assert.ok(r.frames >= 3, `${when}: a SYN and data came through (${r.frames} frames)`);
  assert.ok(r.maxFrame <= 14 + MTU && r.maxFrame > 1000, `${when}: full-size frames, no super-frame`);
}

Deno.test({
  name: "tap: offloads refused, the device attaches again without a vnet header, one fd each time",
  ignore: !isRoot(),
  fn: () =>
    withTapNs(211, async (t) => {
      const r = await t.run(INNER, ["fallback", TAP]);
      assert.deepEqual(r, {
        offload: false,
        vnetWhileOpen: false,
        fdsWhileOpen: 3,
        vnetAfter: false,
        fdsLeft: false,
      });
      assert.deepEqual(await t.offloads(), OFF);
    }),
});

Deno.test({
  name: "tap: close() turns offloads and the vnet header off, also when the loop crashes",
  ignore: !isRoot(),
  fn: () =>
    withTapNs(212, async (t) => {
      assert.deepEqual(await t.run(INNER, ["offload", TAP]), {
        offload: true,
        vnetWhileOpen: true,
        vnetAfter: false,
        fdsLeft: false,
      });
      assert.deepEqual(await t.offloads(), OFF);
      assert.deepEqual(await t.run(INNER, ["crash", TAP]), {
        offload: true,
        vnetWhileOpen: true,
        rejected: "simulated crash",
        closed: true,
        vnetAfter: false,
        fdsLeft: false,
      });
      assert.deepEqual(await t.offloads(), OFF);
      await readsPlainFrames(t, 5201, "after a crash of the loop");
    }),
});

for (const [k, format] of (["legacy", "current"] as const).entries()) {
  Deno.test({
    name:
      `tap: tappet (${format}) leaves the TAP as found after SIGTERM; after SIGKILL the next start resets it`,
    ignore: !isRoot(),
    fn: () =>
      withTapNs(213 + k, async (t) => {
        const dir = Deno.makeTempDirSync({ prefix: "tappet-tap-" });
        const procs: NsProcess[] = [];
        try {
          await keygen(dir);
          Deno.writeFileSync(`${dir}/nonce`, new Uint8Array(4));
          const legacy = format === "legacy" ? ["--protocol", "legacy", "--nonce-file", `${dir}/nonce`] : [];
          const start = async (name: string, extra: string[] = []) => {
            const args = ["run", "--tap", TAP, "--key", `${dir}/a.key`, "--peer-key", `${dir}/b.pub`];
            const argv = tappetArgv([...args, ...legacy, ...extra, "--listen", "127.0.0.1:7011", "-v"]);
            const p = new NsProcess(t.ns, argv, `${dir}/${name}.log`);
            procs.push(p);
            await p.waitFor(/listening on/, 30_000);
            return p;
          };
          const stopped = async (p: NsProcess, signal: Deno.Signal) => {
            const status = await p.stop(signal);
            if (signal === "SIGTERM") assert.equal(status.code, 0, p.text());
          };

          await stopped(await start("run1"), "SIGTERM");
          assert.deepEqual(await t.offloads(), OFF, "offloads off after SIGTERM");
          assert.equal(await t.vnetHeader(), false, "no vnet header after SIGTERM");
          await readsPlainFrames(t, 5201, "after SIGTERM");

          const killed = await start("run2");
          assert.deepEqual(await t.offloads(), ON, "offloads on while tappet runs");
          assert.equal(await t.vnetHeader(), true);
          await stopped(killed, "SIGKILL");
          // Nothing runs at SIGKILL: the TAP keeps the offloads, and the
          // reader sees what the 2014 tappet saw (so this check can fail).
          assert.deepEqual(await t.offloads(), ON, "a SIGKILLed tappet leaves them on");
          assert.ok((await t.tcp(5202)).bad.length > 0, "partial checksums or super-frames seen");

          // The next start clears them, even one without offloads.
          const next = await start("run3", ["--offload", "off"]);
          assert.deepEqual(await t.offloads(), OFF, "cleared at start");
          await stopped(next, "SIGTERM");
          assert.deepEqual(await t.offloads(), OFF);
          assert.equal(await t.vnetHeader(), false);
          await readsPlainFrames(t, 5203, "after SIGKILL, a start and a stop");
        } catch (e) {
          for (const p of procs) console.error(`--- ${p.log}\n${p.text().slice(-2000)}`);
          throw e;
        } finally {
          for (const p of procs) await p.stop("SIGKILL", 1000);
          Deno.removeSync(dir, { recursive: true });
        }
      }),
  });
}
