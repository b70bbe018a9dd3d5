/**
 * Rows for the other userspace Ethernet-over-UDP tunnels tappet is compared
 * with, each set up as ../shared/bench/peers.sh sets it up (its README
 * gives the reasons for each setting): fastd, OpenVPN, tinc 1.0 and quicktun.
 * Each makes its own interface, which the bench then addresses.
 *
 * @module
 */

import { sh } from "../netns.ts";
import { keygen, NsProcess } from "../harness.ts";
import { ETHERNET, have, IPV4, type Row, sides, UDP, UNDERLAY_MTU } from "./row.ts";

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
      for (const { me, side: s, peer: o, other } of sides(pair)) {
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
      for (const { me, side: s, peer: o, other } of sides(pair)) {
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

/** tinc's per-packet overhead with a 4-byte MAC: sequence number 4, CBC
 * padding up to 16, MAC 4 (tinc 1.0 net_packet.c). */
const TINC_OVERHEAD = 4 + 16 + 4;
/** RSA key size of tinc 1.0's meta connection, bits. */
const TINC_RSA_BITS = 2048;

/**
 * tinc 1.0 in switch mode (an Ethernet bridge over UDP), one ConnectTo each
 * way, `cipher` and `digest` for the packets (tinc 1.0 defaults to a 4-byte
 * MAC). `PMTUDiscovery = no`: while discovery runs tinc sends large frames
 * over its TCP meta connection; with a fitting MTU the steady state is there
 * at once.
 */
export function tincRow(cipher = "aes-256-cbc", digest = "sha256"): Row {
  return {
    name: "tinc",
    about: `tinc 1.0 switch mode, ${cipher} + ${digest}, PMTUDiscovery off`,
    mtu: UNDERLAY_MTU - IPV4 - UDP - TINC_OVERHEAD - ETHERNET,
    iface: "tinc0",
    unavailable: () => have("tincd", "tinc"),
    async start(pair, dir) {
      for (const { me, side, other } of sides(pair)) {
        const conf = `${dir}/tinc-${me}`;
        Deno.mkdirSync(`${conf}/hosts`, { recursive: true });
        const lines = ["Mode = switch", "DeviceType = tap", "Interface = tinc0", "AddressFamily = ipv4"];
        lines.push(`Name = ${me}`, `BindToAddress = ${side.underlay}`, `ConnectTo = ${other}`);
        Deno.writeTextFileSync(`${conf}/tinc.conf`, lines.join("\n") + "\n");
        const host = [`Address = ${side.underlay}`, "Port = 655", `Cipher = ${cipher}`, `Digest = ${digest}`];
        host.push("PMTUDiscovery = no");
        Deno.writeTextFileSync(`${conf}/hosts/${me}`, host.join("\n") + "\n");
        // -K appends the public key to hosts/NAME; stdin from /dev/null so
        // that it asks no questions.
        await sh(["sh", "-c", `tincd -c "${conf}" -K${TINC_RSA_BITS} </dev/null`]);
      }
      for (const { me, other } of sides(pair)) {
        Deno.copyFileSync(`${dir}/tinc-${other}/hosts/${other}`, `${dir}/tinc-${me}/hosts/${other}`);
      }
      return sides(pair).map(({ me, side }) => {
        const conf = `${dir}/tinc-${me}`;
        const argv = ["tincd", "-c", conf, "-D", "-d0", `--pidfile=${conf}/pid`];
        return new NsProcess(side.ns, argv, `${dir}/tinc-${me}.log`);
      });
    },
  };
}

/** quicktun's per-packet overhead for each protocol: nacltai sends a 16-byte
 * TAI64NA nonce and the 16-byte Poly1305 tag (quicktun's crypto_nacltai.c). */
const QUICKTUN_OVERHEAD = { nacltai: 16 + 16 } as const;
/** UDP port of both quicktun ends. */
const QUICKTUN_PORT = 2998;

/**
 * quicktun 2.2 in TAP mode with protocol `nacltai`. Debian's quicktun reads
 * its settings the way ifupdown passes them (IFACE, IF_QT_*; a plain
 * PROTOCOL= is ignored and it falls back silently to the unencrypted raw
 * protocol), so it runs with exactly those in an empty environment. Its keys
 * are crypto_box keys in hex: tappet's key files serve.
 */
export function quicktunRow(protocol: keyof typeof QUICKTUN_OVERHEAD = "nacltai"): Row {
  return {
    name: `quicktun-${protocol}`,
    about: `quicktun TAP, protocol ${protocol}`,
    mtu: UNDERLAY_MTU - IPV4 - UDP - QUICKTUN_OVERHEAD[protocol] - ETHERNET,
    iface: "qt0",
    unavailable: () => have("quicktun"),
    async start(pair, dir) {
      await keygen(dir);
      const hex = (file: string) => Deno.readTextFileSync(file).trim();
      return sides(pair).map(({ me, side, peer, other }) => {
        const env = [
          `PATH=${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
          "IFACE=qt0",
          `IF_QT_PROTOCOL=${protocol}`,
          `IF_QT_PRIVATE_KEY=${hex(`${dir}/${me}.key`)}`,
          `IF_QT_PUBLIC_KEY=${hex(`${dir}/${other}.pub`)}`,
          `IF_QT_LOCAL_ADDRESS=${side.underlay}`,
          `IF_QT_LOCAL_PORT=${QUICKTUN_PORT}`,
          `IF_QT_REMOTE_ADDRESS=${peer.underlay}`,
          `IF_QT_REMOTE_PORT=${QUICKTUN_PORT}`,
        ];
        return new NsProcess(side.ns, ["env", "-i", ...env, "quicktun"], `${dir}/quicktun-${me}.log`);
      });
    },
  };
}
