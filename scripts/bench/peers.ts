/**
 * Rows for the other userspace Ethernet-over-UDP tunnels tappet is compared
 * with, each set up as ../shared/bench/peers.sh sets it up (its README
 * gives the reasons for each setting): fastd and OpenVPN.
 * Each makes its own interface, which the bench then addresses.
 *
 * @module
 */

import { sh } from "../netns.ts";
import { NsProcess } from "../harness.ts";
import { have, type Row } from "./row.ts";

/** fastd v22 in TAP mode, one static peer (as shared/bench/peers.sh runs it). */
export function fastdRow(method = "salsa2012+umac"): Row {
  return {
    name: "fastd",
    about: `fastd TAP, method ${method}`,
    mtu: 1434,
    iface: "fd0",
    unavailable: () => have("fastd"),
    async start(pair, dir) {
      const key = async (side: string) => {
        const secret = (await sh(["fastd", "--generate-key", "--machine-readable"])).trim();
        Deno.writeTextFileSync(`${dir}/${side}.tmp`, `secret "${secret}";\n`);
        const pub = (await sh(["fastd", "-c", `${dir}/${side}.tmp`, "--show-key", "--machine-readable"]))
          .trim();
        return { secret, pub };
      };
      const k = { a: await key("a"), b: await key("b") };
      const procs: NsProcess[] = [];
      for (const me of ["b", "a"] as const) {
        const s = me === "a" ? pair.a : pair.b;
        const o = me === "a" ? pair.b : pair.a;
        const other = me === "a" ? "b" : "a";
        const conf = [
          "log level warn;",
          'interface "fd0";',
          "mode tap;",
          `method "${method}";`,
          `secret "${k[me].secret}";`,
          "mtu 1434;",
          `bind ${s.underlay}:10000;`,
          `peer "${other}" {`,
          `  key "${k[other].pub}";`,
          `  remote ${o.underlay}:10000;`,
          "}",
        ];
        Deno.writeTextFileSync(`${dir}/${me}.conf`, conf.join("\n") + "\n");
        procs.push(new NsProcess(s.ns, ["fastd", "-c", `${dir}/${me}.conf`], `${dir}/fastd-${me}.log`));
      }
      return procs;
    },
  };
}

/** OpenVPN 2.6 in TAP mode, p2p over UDP, TLS with pinned self-signed certificates. */
export function openvpnRow(cipher = "AES-256-GCM"): Row {
  return {
    name: "openvpn",
    about: `OpenVPN TAP, p2p TLS, ${cipher}, no DCO`,
    mtu: 1434,
    iface: "ovpn0",
    unavailable: async () => (await have("openvpn")) ?? (await have("openssl")),
    async start(pair, dir) {
      const fp: Record<string, string> = {};
      for (const side of ["a", "b"]) {
        const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        const files = ["-keyout", `${dir}/${side}.pem`, "-out", `${dir}/${side}.crt`];
        await sh(["openssl", "req", "-x509", ...ec, ...files, "-subj", `/CN=bench-${side}`, "-days", "30"]);
        const out = await sh([
          "openssl",
          "x509",
          "-in",
          `${dir}/${side}.crt`,
          "-noout",
          "-fingerprint",
          "-sha256",
        ]);
        fp[side] = out.trim().replace(/.*=/, "");
      }
      const procs: NsProcess[] = [];
      for (const me of ["b", "a"] as const) {
        const s = me === "a" ? pair.a : pair.b;
        const o = me === "a" ? pair.b : pair.a;
        const other = me === "a" ? "b" : "a";
        const argv = [
          ...["openvpn", "--dev", "ovpn0", "--dev-type", "tap", "--proto", "udp4"],
          ...["--local", s.underlay, "--lport", "1194", "--remote", o.underlay, "1194"],
          ...[me === "a" ? "--tls-client" : "--tls-server", "--dh", "none"],
          ...["--cert", `${dir}/${me}.crt`, "--key", `${dir}/${me}.pem`, "--peer-fingerprint", fp[other]],
          ...["--data-ciphers", cipher, "--tun-mtu", "1434", "--mssfix", "0", "--fast-io", "--disable-dco"],
          ...["--verb", "3"],
        ];
        procs.push(new NsProcess(s.ns, argv, `${dir}/openvpn-${me}.log`));
      }
      return procs;
    },
  };
}
