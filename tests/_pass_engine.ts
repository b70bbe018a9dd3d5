/**
 * An engine for the tunnel-loop tests that need one without a protocol:
 * frames pass through as they are.
 */

import type { Endpoint } from "../core/endpoint.ts";
import type { Engine } from "../core/engine.ts";
import type { PacketBuffer } from "../core/packet.ts";
import { Stats } from "../core/stats.ts";

/** The peer of {@linkcode PassEngine}. */
export const PEER: Endpoint = { hostname: "198.18.9.1", port: 40000 };

/** Passes frames through unchanged (counting each sealed one in
 * `stats.txFrames`) to and from {@linkcode PEER}; its timers are due every
 * `tickMs`, and `ticks` holds the clock (ns) of each call. No headroom, no
 * overhead and no `maxDatagram` unless a subclass or a test sets them. */
export class PassEngine implements Engine {
  readonly headroom: number = 0;
  readonly overhead: number = 0;
  readonly stats = new Stats();
  readonly peer: Endpoint | undefined = PEER;
  acceptsFrames = true;
  readonly hasControl = false;
  readonly controlTo = undefined;
  maxDatagram: number | undefined;
  ticks: number[] = [];
  constructor(readonly tickMs: number) {}
  seal(_buf: PacketBuffer, length: number): number {
    this.stats.txFrames++;
    return length;
  }
  open(_buf: PacketBuffer, length: number): number {
    return length;
  }
  nextControl(): number {
    return 0;
  }
  tick(now: number): number {
    this.ticks.push(now);
    return this.tickMs;
  }
  close(): void {}
}
