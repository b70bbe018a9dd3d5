/**
 * Every row `deno task bench` knows, by name, in the default order: the
 * ceilings first (the veth, kernel VXLAN), then the C tappet (the reference
 * of the ratios), this tappet in its variants, and the other tunnels.
 *
 * @module
 */

import type { Row } from "./row.ts";
import { cTappetRow, tappetRow, vethRow } from "./tappet.ts";
import { fastdRow, openvpnRow, quicktunRow, tincRow } from "./peers.ts";
import { vxlanRow, wggoVxlanRow } from "./kernel.ts";

/** This tappet in the `protocol` format over the `transport` socket, as the
 * one row `tappet-PROTOCOL` (FFI) or `tappet-PROTOCOL-deno`. */
function variant(protocol: "legacy" | "current", transport: "ffi" | "deno"): Record<string, Row> {
  const name = `tappet-${protocol}${transport === "deno" ? "-deno" : ""}`;
  const socket = transport === "deno" ? "Deno" : "FFI";
  return {
    [name]: tappetRow(name, `this tappet, ${protocol} format, ${socket} socket`, { protocol, transport }),
  };
}

/** The rows, by name, in the default order. */
export const ROWS: Record<string, Row> = {
  "veth": vethRow,
  "vxlan": vxlanRow,
  "c-tappet": cTappetRow(),
  ...variant("legacy", "ffi"),
  ...variant("current", "ffi"),
  ...variant("legacy", "deno"),
  ...variant("current", "deno"),
  "tappet-current-no-offload": tappetRow(
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
