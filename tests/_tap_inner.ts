/**
 * The TAP checks of tests/tap_test.ts that must run inside the namespace
 * holding the TAP (a TAP is attached by name in the caller's namespace):
 * `deno run --allow-all tests/_tap_inner.ts MODE TAP` prints one JSON line.
 *
 * - `fallback`: open with an offload bit the kernel refuses.
 * - `offload`: open with offloads, then close.
 * - `crash`: a Tunnel over the TAP whose loop fails; the device must be
 *   closed, and the TAP left as found, before run() rejects.
 *
 * @module
 */

import { TapDevice } from "../io/tap.ts";
import { openFds } from "../ffi/libc.ts";
import { Stats } from "../core/stats.ts";
import { FakeNetwork } from "../io/fake.ts";
import { Tunnel } from "../tunnel/loop.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { LegacySession } from "../core/legacy.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { monotonicNs } from "../ffi/libc.ts";
import type { FrameDevice } from "../io/tap.ts";

/** IFF_VNET_HDR (<linux/if_tun.h>) in the TAP's flags as sysfs shows them. */
function vnetHeader(tap: string): boolean {
  return (parseInt(Deno.readTextFileSync(`/sys/class/net/${tap}/tun_flags`), 16) & 0x4000) !== 0;
}

const [mode, tap] = Deno.args;
const fdsBefore = [...openFds().keys()].join(",");
const out: Record<string, unknown> = {};
if (mode === "fallback") {
  const dev = TapDevice.open(tap, { offload: true, offloadFeatures: 0x1000n, stats: new Stats() });
  out.offload = dev.offload;
  out.vnetWhileOpen = vnetHeader(tap);
  out.fdsWhileOpen = openFds().size - fdsBefore.split(",").length;
  dev.close();
  dev.close();
} else if (mode === "offload") {
  const dev = TapDevice.open(tap, { offload: true });
  out.offload = dev.offload;
  out.vnetWhileOpen = vnetHeader(tap);
  dev.close();
} else if (mode === "crash") {
  const inner = TapDevice.open(tap, { offload: true });
  out.offload = inner.offload;
  out.vnetWhileOpen = vnetHeader(tap);
  let closed = false;
  // The real device, but its first read fails as a crash of the loop would.
  const device: FrameDevice = {
    name: inner.name,
    readFrames: () => {
      throw new Error("simulated crash");
    },
    writeFrames: (b, l, c, r) => inner.writeFrames(b, l, c, r),
    readable: () => Promise.resolve(),
    wake: () => inner.wake(),
    close: () => {
      closed = true;
      inner.close();
    },
  };
  const net = new FakeNetwork();
  const transport = net.bind({ hostname: "198.18.0.1", port: 1 });
  const session = new LegacySession(new Uint8Array(32).fill(1), new LegacyNonce(1, new Uint8Array(12)));
  const engine = new LegacyEngine({ session, peer: { hostname: "198.18.0.2", port: 1 }, now: monotonicNs() });
  const events = { peerChanged() {}, sendFailed() {}, writeFailed() {}, receiveFailed() {} };
  const tunnel = new Tunnel({ device, transport, engine, clock: monotonicNs, events });
  try {
    await tunnel.run();
    out.rejected = false;
  } catch (e) {
    out.rejected = (e as Error).message;
  }
  out.closed = closed;
}
out.vnetAfter = vnetHeader(tap);
out.fdsLeft = [...openFds().keys()].join(",") !== fdsBefore;
console.log(JSON.stringify(out));
