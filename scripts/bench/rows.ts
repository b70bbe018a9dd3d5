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

/** The rows, by name, in the default order. */
export const ROWS: Record<string, Row> = {
  "veth": vethRow,
  "vxlan": vxlanRow,
  "c-tappet": cTappetRow(),
  "tappet-legacy": tappetRow("tappet-legacy", "this tappet, legacy format, FFI socket", {
    protocol: "legacy",
    transport: "ffi",
  }),
  "tappet-current": tappetRow("tappet-current", "this tappet, current format, FFI socket", {
    protocol: "current",
    transport: "ffi",
  }),
  "tappet-legacy-deno": tappetRow("tappet-legacy-deno", "this tappet, legacy format, Deno socket", {
    protocol: "legacy",
    transport: "deno",
  }),
  "tappet-current-deno": tappetRow("tappet-current-deno", "this tappet, current format, Deno socket", {
    protocol: "current",
    transport: "deno",
  }),
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
