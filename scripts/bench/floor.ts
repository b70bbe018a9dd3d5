/**
 * The `deno-floor` row: the least a Deno program does to carry a frame, so
 * that the benchmark can tell the runtime's cost from tappet's own. It is
 * the 2014 C tappet's loop written in TypeScript over the same FFI and
 * libsodium as tappet: a synchronous poll() on the TAP and the socket, one
 * read(), a seal (crypto_box_easy_afternm, as the legacy format), one
 * sendto(); one recv(), an open, one write(). Nothing else: no batching, no
 * offloads, no event loop, no timers, no replay check, no roaming, no
 * counters. Not a tunnel anyone should run: the nonce is a counter under a
 * key the bench draws for the row, and nothing is checked but the tag.
 *
 * The datagram has the legacy format's layout and size (core/legacy.ts: the
 * nonce, 16 zero bytes, the tag, the frame), so the row takes the legacy
 * MTU. The program
 * blocks in poll() for ever and registers no signal handler: SIGTERM ends
 * it, and the kernel closes its fds.
 *
 *     deno run --allow-ffi --allow-read scripts/bench/floor.ts TAP LOCAL_IPV4 PEER_IPV4 PORT KEYFILE
 *
 * KEYFILE holds the 32-byte shared key as 64 hex characters.
 *
 * @module
 */

import { C, LIBC, libc } from "../../ffi/libc.ts";
import { OVERHEAD, TAG_OFFSET } from "../../core/legacy.ts";
import { NONCE_BYTES } from "../../core/legacy_nonce.ts";
import { sodium } from "../../ffi/sodium.ts";
import { attach } from "../../io/tun.ts";
import { sockaddr } from "../../io/sockaddr.ts";
import { NsProcess, v8Flags } from "../harness.ts";
import type { Row } from "./row.ts";
import { LEGACY_MTU } from "./tappet.ts";

/** UDP port both ends bind. */
const PORT = 7013;
/** The largest frame read from the TAP, bytes. */
const MAX_FRAME = 2048;

/** The row: both ends run this file, b first. */
export const floorRow: Row = {
  name: "deno-floor",
  about: "the floor of Deno: the 2014 loop (poll, one read, seal, sendto) over FFI, no tappet code",
  mtu: LEGACY_MTU,
  unavailable: () => Promise.resolve(undefined),
  start(pair, dir) {
    const key = `${dir}/floor.key`;
    Deno.writeTextFileSync(key, crypto.getRandomValues(new Uint8Array(32)).toHex() + "\n", { mode: 0o600 });
    const run = (me: typeof pair.a, peer: typeof pair.a) =>
      new NsProcess(me.ns, [
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-ffi",
        "--allow-read",
        ...v8Flags(),
        new URL(import.meta.url).pathname,
        me.tap,
        me.underlay,
        peer.underlay,
        String(PORT),
        key,
      ], `${dir}/floor-${me.ns}.log`);
    return Promise.resolve([run(pair.b, pair.a), run(pair.a, pair.b)]);
  },
};

/** Forwards between the TAP `tap` and UDP `local`:PORT ↔ `peer`:PORT for
 * ever, under the 32-byte key `key`. Throws if the TAP or the socket cannot
 * be set up. */
function forward(tap: string, local: string, peer: string, port: number, key: Uint8Array): never {
  const c = libc();
  const na = sodium();
  const extra = Deno.dlopen(LIBC, {
    sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  }).symbols;
  const tapFd = attach(tap, false);
  const udp = c.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  const here = sockaddr({ hostname: local, port }, 4);
  if (udp < 0 || c.bind(udp, here, here.length) < 0) throw new Error(`floor: cannot bind ${local}:${port}`);
  const there = sockaddr({ hostname: peer, port }, 4);
  // struct pollfd[2]: the TAP, then the socket.
  const fds = new Int32Array([tapFd, C.POLLIN, udp, C.POLLIN]);
  const fdBytes = new Uint8Array(fds.buffer);
  const out = new Uint8Array(OVERHEAD + MAX_FRAME);
  const frame = new Uint8Array(MAX_FRAME);
  const box = out.subarray(TAG_OFFSET);
  const nonce = out.subarray(0, NONCE_BYTES);
  const nonceView = new DataView(out.buffer, 0, NONCE_BYTES);
  crypto.getRandomValues(nonce);
  let counter = 0n;
  const inbound = new Uint8Array(OVERHEAD + MAX_FRAME);
  const inNonce = inbound.subarray(0, NONCE_BYTES);
  const inBox = inbound.subarray(TAG_OFFSET);
  for (;;) {
    fds[1] = C.POLLIN; // clears revents
    fds[3] = C.POLLIN;
    c.poll_now(fdBytes, 2n, -1);
    if ((fds[1] >>> 16) !== 0) {
      const n = c.read(tapFd, frame, BigInt(MAX_FRAME));
      if (n > 0) {
        nonceView.setBigUint64(NONCE_BYTES - 8, ++counter);
        na.crypto_box_easy_afternm(box, frame, BigInt(n), nonce, key);
        extra.sendto(udp, out, BigInt(OVERHEAD + n), 0, there, there.length);
      }
    }
    if ((fds[3] >>> 16) !== 0) {
      const n = Number(extra.recv(udp, inbound, BigInt(inbound.length), C.MSG_DONTWAIT));
      if (
        n > OVERHEAD &&
        na.crypto_box_open_easy_afternm(frame, inBox, BigInt(n - TAG_OFFSET), inNonce, key) === 0
      ) {
        c.write(tapFd, frame, BigInt(n - OVERHEAD));
      }
    }
  }
}

if (import.meta.main) {
  const [tap, local, peer, port, keyFile] = Deno.args;
  const key = Uint8Array.fromHex(Deno.readTextFileSync(keyFile).trim());
  forward(tap, local, peer, Number(port), key);
}
