/**
 * Every row `deno task bench` knows, by name, in the default order: the
 * ceilings first (the veth, kernel VXLAN), then the C tappet (the reference
 * of the ratios), the least a Deno program does per frame (the floor of
 * this tappet's runtime), this tappet in its variants, and the other
 * tunnels.
 *
 * @module
 */

import type { Row } from "./row.ts";
import type { TappetPairOptions } from "../harness.ts";
import { cTappetRow, tappetRow, vethRow } from "./tappet.ts";
import { fastdRow, openvpnRow, quicktunRow, tincRow } from "./peers.ts";
import { vxlanRow, wggoVxlanRow } from "./kernel.ts";
import { floorRow } from "./floor.ts";

/** The options of each row that runs this tappet, by row name: what
 * {@linkcode baselineRow} runs from another checkout. */
const TAPPET_OPTIONS: Record<string, TappetPairOptions> = {};

/** This tappet in the `protocol` format over the `transport` socket, as the
 * one row `tappet-PROTOCOL` (FFI) or `tappet-PROTOCOL-deno`. */
function variant(protocol: "legacy" | "current", transport: "ffi" | "deno"): Record<string, Row> {
  const name = `tappet-${protocol}${transport === "deno" ? "-deno" : ""}`;
  const socket = transport === "deno" ? "Deno" : "FFI";
  return {
    [name]: tappet(name, `this tappet, ${protocol} format, ${socket} socket`, { protocol, transport }),
  };
}

function tappet(name: string, about: string, options: TappetPairOptions): Row {
  TAPPET_OPTIONS[name] = options;
  return tappetRow(name, about, options);
}

/** Row `name` (one of this tappet's) run from the checkout at `dir` instead,
 * as `NAME@base`, or undefined for a row that is not this tappet: the
 * "before" beside the "after" in one run (`bench --baseline DIR`). */
export function baselineRow(name: string, dir: string): Row | undefined {
  const options = TAPPET_OPTIONS[name];
  if (options === undefined) return undefined;
  return tappetRow(`${name}@base`, `${name} run from ${dir}`, { ...options, checkout: dir });
}

/** The rows, by name, in the default order. */
export const ROWS: Record<string, Row> = {
  "veth": vethRow,
  "vxlan": vxlanRow,
  "c-tappet": cTappetRow(),
  "deno-floor": floorRow,
  ...variant("legacy", "ffi"),
  ...variant("current", "ffi"),
  ...variant("legacy", "deno"),
  ...variant("current", "deno"),
  "tappet-current-no-offload": tappet(
    "tappet-current-no-offload",
    "this tappet, current format, FFI socket, TAP offloads off",
    { protocol: "current", transport: "ffi", extra: ["--offload", "off"] },
  ),
  "fastd": fastdRow(),
  "openvpn": openvpnRow(),
  "tinc": tincRow(),
  "quicktun-nacltai": quicktunRow("nacltai"),
  "wggo-vxlan": wggoVxlanRow,
};
