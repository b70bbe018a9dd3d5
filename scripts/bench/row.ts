/**
 * What a row of the benchmark is: a tunnel that can be started between the
 * two namespaces of a {@linkcode NetnsPair}, and helpers the row modules share.
 *
 * @module
 */

import { type NetnsPair, sh } from "../netns.ts";
import type { NsProcess } from "../harness.ts";

/** A tunnel under test. */
export interface Row {
  /** Short name in the table. */
  readonly name: string;
  /** What it is, one line. */
  readonly about: string;
  /** MTU of the tunnel interface for a 1500-byte underlay: the largest with
   * which a full-size frame's outer packet still fits unfragmented. */
  readonly mtu: number;
  /** The interface the row makes itself (the bench waits for it, then gives
   * it the overlay address and `mtu`); undefined: the bench makes a TAP tp0
   * in each namespace (owned by `tapUser` if set). */
  readonly iface?: string;
  /** The user that owns the TAP and runs the program, if not root. */
  readonly tapUser?: string;
  /** True for the no-tunnel row: traffic goes over the underlay. */
  readonly underlay?: boolean;
  /** Why the row cannot run here (one line, naming what to install), or undefined. */
  unavailable(): Promise<string | undefined>;
  /** Starts the two ends (b listens, a connects); returns the tunnel's
   * processes, whose CPU time is measured (none for an in-kernel tunnel).
   * Whatever it leaves in the namespaces dies with them. */
  start(pair: NetnsPair, dir: string): Promise<NsProcess[]>;
}

/** Outer header sizes, bytes, for the MTU of each row: IPv4 without options
 * (RFC 791), UDP (RFC 768), Ethernet without VLAN tag (IEEE 802.3), VXLAN
 * (RFC 7348), and the 1500-byte underlay (the veth's default). */
export const IPV4 = 20;
export const UDP = 8;
export const ETHERNET = 14;
export const VXLAN = 8;
export const UNDERLAY_MTU = 1500;

/** Why `program` cannot run: undefined when it is on PATH, else a line
 * naming the Debian package that has it. */
export async function have(program: string, pkg = program): Promise<string | undefined> {
  const found = (await sh(["sh", "-c", `command -v ${program} || true`])).trim();
  return found === ""
    ? `${program} is not installed (Debian package ${pkg}; scripts/setup.sh --bench installs it)`
    : undefined;
}

/** The two sides of `pair` with their peers: b first (the listening end). */
export function sides(pair: NetnsPair) {
  return [
    { me: "b", side: pair.b, peer: pair.a, other: "a" },
    { me: "a", side: pair.a, peer: pair.b, other: "b" },
  ] as const;
}

/** The 1..254 number of `pair` (the third octet of its addresses). */
export function pairId(pair: NetnsPair): number {
  return Number(pair.a.overlay.split(".")[2]);
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
