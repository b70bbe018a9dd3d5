/**
 * `deno task bench --micro`: the cost of sealing and opening one full-size
 * frame alone, with the engines' own seal and open (libsodium through FFI),
 * no socket, no TAP, no event loop. Set against a full-size frame's trip
 * through a tunnel (its tunnel CPU per data frame, both ends, and the
 * user-space part of that: summary.ts `sealOpenShare`), it shows what the
 * forwarding costs beyond the cryptography. It also times the Internet
 * checksum of a full-size TCP segment, which cutting and joining segments
 * computes once at each end.
 *
 * @module
 */

import { HEADROOM, LegacySession, Open } from "../../core/legacy.ts";
import { LegacyNonce } from "../../core/legacy_nonce.ts";
import { DATA } from "../../core/current_wire.ts";
import { TransportKeys } from "../../core/sessions.ts";
import { PacketBuffer } from "../../core/packet.ts";
import { Arena } from "../../core/arena.ts";
import { onesSum } from "../../core/checksum.ts";
import { median } from "./summary.ts";

/** Frames sealed and opened per measurement; the first tenth warms up. */
const FRAMES = 100_000;

/** ns per seal + open of a `frame`-byte frame, per format (median of 5). */
export interface MicroResult {
  /** Frame bytes: the format's largest on a 1500-byte underlay. */
  readonly frame: number;
  /** ns for one seal and one open. */
  readonly ns: number;
}

/** Times `step` (one seal and one open) over {@linkcode FRAMES}, 5 times. */
function time(step: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    for (let i = 0; i < FRAMES / 10; i++) step();
    const t0 = performance.now();
    for (let i = 0; i < FRAMES; i++) step();
    runs.push((performance.now() - t0) * 1e6 / FRAMES);
  }
  return median(runs);
}

/** The current format: a data message sealed by one end's transport keys
 * and opened by the other's (ChaCha20-Poly1305), frame bytes `frame`. */
export function currentMicro(frame: number): MicroResult {
  const k1 = crypto.getRandomValues(new Uint8Array(32));
  const k2 = crypto.getRandomValues(new Uint8Array(32));
  const a = new TransportKeys(1, 2, k1, k2, true, 0);
  const b = new TransportKeys(2, 1, k2, k1, false, 0);
  const buf = new PacketBuffer(DATA.HEADER);
  crypto.getRandomValues(buf.payload.subarray(0, frame));
  const ns = time(() => {
    const n = a.seal(buf, frame);
    if (!b.open(buf, n)) throw new Error("micro: a sealed frame did not open");
  });
  a.erase();
  b.erase();
  return { frame, ns };
}

/** The 2014 format: crypto_box_easy_afternm by one end, opened by the other
 * (nonce checked, XSalsa20-Poly1305), frame bytes `frame`. */
export function legacyMicro(frame: number): MicroResult {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const random = () => crypto.getRandomValues(new Uint8Array(12));
  const a = new LegacySession(key, new LegacyNonce(1, random()));
  const b = new LegacySession(key, new LegacyNonce(2, random()));
  const buf = new PacketBuffer(HEADROOM);
  crypto.getRandomValues(buf.payload.subarray(0, frame));
  let now = 1e9;
  const ns = time(() => {
    const n = a.seal(buf, frame, now += 1000);
    if (b.open(buf, n) !== Open.Frame) throw new Error("micro: a sealed frame did not open");
  });
  a.close();
  b.close();
  return { frame, ns };
}

/** ns for one Internet checksum over `bytes` bytes (a full-size frame's TCP
 * segment), in JavaScript and in WebAssembly over an arena (core/checksum.ts). */
export interface ChecksumMicro {
  readonly bytes: number;
  readonly js: number;
  readonly wasm: number;
}

/** Times both checksums over the same `bytes` random bytes in an arena;
 * throws if they disagree. */
export function checksumMicro(bytes: number): ChecksumMicro {
  const arena = new Arena(1 << 17);
  const b = arena.alloc(bytes + 64);
  crypto.getRandomValues(b);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // 34: a TCP header's offset in an Ethernet frame (not 16-byte aligned).
  if (onesSum(v, 34, 34 + bytes) !== arena.onesSum(v, 34, 34 + bytes)) {
    throw new Error("micro: the two checksums disagree");
  }
  let x = 0;
  const js = time(() => x ^= onesSum(v, 34, 34 + bytes, x));
  const wasm = time(() => x ^= arena.onesSum(v, 34, 34 + bytes, x));
  return { bytes, js, wasm };
}
