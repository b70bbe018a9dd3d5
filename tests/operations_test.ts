/**
 * tunnel/operations.ts: the control socket and the metrics server started
 * and stopped together, answering the same numbers; and the kernel's own
 * counters, read in a network namespace of the test's own from a real TAP
 * interface and a real UDP socket whose receive buffer the test overflows
 * on the namespace's loopback.
 */

import { strict as assert } from "node:assert";
import { statusCommand } from "../cli/status.ts";
import { UserError } from "../errors.ts";
import { Operations } from "../tunnel/operations.ts";
import type { TunnelSnapshot } from "../tunnel/status.ts";
import { isRoot, runScript } from "./_util.ts";
import { fakeSnapshot } from "./_status.ts";
import { RUN_FLAGS } from "../scripts/harness.ts";

function snapshot(rxBytes: number): TunnelSnapshot {
  return fakeSnapshot({
    iface: "tap-op0",
    peerPublicKey: new Uint8Array(32).fill(0x11),
    counters: { rxBytes, rxFrames: 3, txBytes: 64, txFrames: 1, dropReplay: 4 },
    otherDrops: { tap_uncuttable: 1 },
    latestHandshakeMs: 1_764_590_400_000,
    uptimeMs: 5000,
  });
}

Deno.test("operations: control socket and metrics answer the same numbers; close removes both", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-ops-" });
  const warnings: string[] = [];
  let rx = 1000;
  const ops = await Operations.start({
    iface: "tap-op0",
    control: `${dir}/tap-op0.sock`,
    metrics: { host: "127.0.0.1", port: 0, family: 4 },
    snapshot: () => snapshot(rx),
    warn: (m) => warnings.push(m),
  });
  try {
    rx = 4321;
    const st = await statusCommand({ control: `${dir}/tap-op0.sock`, json: true });
    assert.equal(st.code, 0, st.errors.join("; "));
    const json = JSON.parse(st.out);
    assert.equal(json.rx_bytes, 4321);
    assert.equal(json.drops.tap_uncuttable, 1);
    const text = await (await fetch(`http://127.0.0.1:${ops.metrics!.addr.port}/metrics`)).text();
    assert.match(text, new RegExp(`^tappet_rx_bytes_total\\{interface="tap-op0"\\} ${json.rx_bytes}$`, "m"));
    assert.match(text, /^tappet_drops_total\{interface="tap-op0",reason="replay"\} 4$/m);
    assert.match(text, /^tappet_latest_handshake_seconds\{interface="tap-op0"\} 1764590400$/m);
    // A second tappet on the same interface is refused, and leaves the first working.
    await assert.rejects(
      Operations.start({
        iface: "tap-op0",
        control: `${dir}/tap-op0.sock`,
        snapshot: () => snapshot(0),
        warn: () => {},
      }),
      (e: unknown) => e instanceof UserError && /another tappet is running on tap-op0/.test(e.message),
    );
    assert.equal((await statusCommand({ control: `${dir}/tap-op0.sock` })).code, 0);
  } finally {
    await ops.close();
    await ops.close();
  }
  assert.deepEqual(warnings, []);
  assert.throws(() => Deno.lstatSync(`${dir}/tap-op0.sock`), Deno.errors.NotFound);
  await assert.rejects(fetch(`http://127.0.0.1:${ops.metrics!.addr.port}/metrics`));
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("operations: a metrics address that cannot be bound leaves no control socket behind", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-ops-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      Operations.start({
        iface: "tap-op1",
        control: `${dir}/tap-op1.sock`,
        metrics: { host: "127.0.0.1", port: busy.addr.port, family: 4 },
        snapshot: () => snapshot(0),
        warn: () => {},
      }),
      (e: unknown) =>
        e instanceof UserError && /--metrics 127\.0\.0\.1:\d+: the address is in use/.test(e.message),
    );
    assert.throws(() => Deno.lstatSync(`${dir}/tap-op1.sock`), Deno.errors.NotFound);
  } finally {
    busy.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "kernel facts in a namespace: a real TAP's MTU and drops, a real socket's overflow drops",
  ignore: !isRoot(),
  async fn() {
    const ns = `tappet-kf-${Deno.pid}`;
    const sh = (...args: string[]) =>
      new Deno.Command("ip", { args, stdout: "null", stderr: "null" }).outputSync();
    assert.equal(sh("netns", "add", ns).code, 0);
    try {
      assert(sh("-n", ns, "link", "set", "lo", "up").success);
      assert(sh("-n", ns, "tuntap", "add", "tapkf0", "mode", "tap").success);
      assert(sh("-n", ns, "link", "set", "tapkf0", "mtu", "1420").success);
      const url = new URL("../tunnel/operations.ts", import.meta.url).href;
      const code = `import { kernelFacts } from ${JSON.stringify(url)};
        const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        const port = sock.addr.port;
        const before = kernelFacts("tapkf0", { hostname: "127.0.0.1", port }, 4);
        const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        const data = new Uint8Array(1400);
        for (let i = 0; i < 4000; i++) await tx.send(data, { transport: "udp", hostname: "127.0.0.1", port });
        const after = kernelFacts("tapkf0", { hostname: "127.0.0.1", port }, 4);
        console.log(JSON.stringify({ before, after }));
        tx.close(); sock.close();`;
      const out = await new Deno.Command("ip", {
        args: ["netns", "exec", ns, Deno.execPath(), "eval", "--unstable-net", "--quiet", code],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      const { before, after } = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(before.tapMtu, 1420);
      assert.equal(before.otherDrops.tap_kernel_tx_dropped, 0);
      assert.equal(before.otherDrops.tap_kernel_rx_dropped, 0);
      assert.equal(before.otherDrops.socket_rx_overflow, 0);
      assert(
        after.otherDrops.socket_rx_overflow > 0,
        `overflow drops ${after.otherDrops.socket_rx_overflow}`,
      );
    } finally {
      sh("netns", "del", ns);
    }
  },
});

Deno.test("operations under tappet's own Deno permissions: socket, status, metrics, removal", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-ops-" });
  const file = `${dir}/probe.ts`;
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  Deno.writeTextFileSync(
    file,
    `import { Operations } from ${url("../tunnel/operations.ts")};
     import { statusCommand } from ${url("../cli/status.ts")};
     const path = ${JSON.stringify(`${dir}/run/tap-op2.sock`)};
     const ops = await Operations.start({ iface: "tap-op2", control: path,
       metrics: { host: "127.0.0.1", port: 0, family: 4 }, warn: console.error,
       snapshot: () => ({ iface: "tap-op2", format: "legacy", role: "listen", local: { hostname: "0.0.0.0", port: 1 },
         transport: "ffi", offload: false, peerPublicKey: new Uint8Array(32), peer: undefined,
         counters: { rxBytes: 77 }, uptimeMs: 1 }) });
     const mode = Deno.lstatSync(path).mode & 0o777;
     const st = await statusCommand({ control: path, json: true });
     const m = await (await fetch("http://127.0.0.1:" + ops.metrics.addr.port + "/metrics")).text();
     await ops.close();
     let gone = false; try { Deno.lstatSync(path); } catch { gone = true; }
     console.log(JSON.stringify({ mode, rx: JSON.parse(st.out).rx_bytes, m: m.includes("tappet_rx_bytes_total{interface=\\"tap-op2\\"} 77"), gone,
       left: [...Deno.readDirSync(${JSON.stringify(`${dir}/run`)})].map((e) => e.name) }));`,
  );
  try {
    const r = JSON.parse((await runScript(file, RUN_FLAGS)).out);
    assert.deepEqual(r, { mode: 0o600, rx: 77, m: true, gone: true, left: [] });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
