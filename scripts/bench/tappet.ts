/**
 * The benchmark's own rows: tappet from this checkout, the 2014 C tappet it
 * is compared with, and the bare veth underlay.
 *
 * @module
 */

import { sh } from "../netns.ts";
import { keygen, NsProcess, startTappets, type TappetPairOptions } from "../harness.ts";
import { type Row, sleep, UNDERLAY_MTU } from "./row.ts";

/** UDP port the listening end (b) binds. */
const PORT = 7011;
/** Legacy-format TAP MTU on a 1500-byte underlay: 1500 − 28 (IPv4, UDP) −
 * 56 (nonce and tag, docs/PROTOCOL.md) − 14 (Ethernet). */
export const LEGACY_MTU = 1402;
/** Current-format TAP MTU: at most 24 bytes of overhead per frame (docs/PROTOCOL.md). */
export const CURRENT_MTU = 1434;

function fresh(path: string): string {
  Deno.writeFileSync(path, new Uint8Array(4));
  return path;
}

/** A row running tappet from this checkout (both ends started by
 * {@linkcode startTappets}); the TAP MTU follows the format. */
export function tappetRow(name: string, about: string, options: TappetPairOptions): Row {
  return {
    name,
    about,
    mtu: options.protocol === "legacy" ? LEGACY_MTU : CURRENT_MTU,
    unavailable: () => Promise.resolve(undefined),
    start: (pair, dir) => startTappets(pair, dir, { port: PORT, ...options }),
  };
}

/** The 2014 C tappet, from TAPPET_C_BIN, run as TAPPET_C_USER (it refuses root). */
export function cTappetRow(): Row {
  const bin = Deno.env.get("TAPPET_C_BIN");
  const user = Deno.env.get("TAPPET_C_USER") ?? "tappetc";
  return {
    name: "c-tappet",
    about: "the 2014 C tappet (TAPPET_C_BIN), legacy format",
    mtu: LEGACY_MTU,
    tapUser: user,
    async unavailable() {
      if (!bin) return "TAPPET_C_BIN is not set";
      const id = await sh(["id", "-u", user], { allowFail: true });
      return id.trim() === "" ? `user ${user} (TAPPET_C_USER) does not exist` : undefined;
    },
    async start(pair, dir) {
      await keygen(dir);
      for (const n of ["a", "b"]) fresh(`${dir}/nonce-${n}`);
      await sh(["chown", "-R", user, dir]);
      const run = (me: "a" | "b", listen: string[]) => {
        const s = me === "a" ? pair.a : pair.b;
        const peer = me === "a" ? "b" : "a";
        const args = [s.tap, `${dir}/nonce-${me}`, `${dir}/${me}.key`, `${dir}/${peer}.pub`];
        return new NsProcess(
          s.ns,
          [bin!, ...args, pair.b.underlay, String(PORT), ...listen],
          `${dir}/c-${me}.log`,
          {
            user,
          },
        );
      };
      const b = run("b", ["-l"]);
      await sleep(300);
      return [b, run("a", [])];
    },
  };
}

/** No tunnel: iperf3 straight over the veth, the ceiling. */
export const vethRow: Row = {
  name: "veth",
  about: "no tunnel: the veth underlay itself (GSO/GRO apply), the ceiling",
  mtu: UNDERLAY_MTU,
  underlay: true,
  unavailable: () => Promise.resolve(undefined),
  start: () => Promise.resolve([]),
};
