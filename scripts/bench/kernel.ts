/**
 * Rows built on the kernel's VXLAN (RFC 7348): VXLAN straight over the veth
 * with no crypto, the ceiling of an encapsulation, and VXLAN carried by
 * userspace WireGuard (Debian's wireguard-go), the encrypted layer-2 link a
 * user would assemble today instead of a TAP tunnel. Facts from
 * ../shared/bench/peers.sh and its README.
 *
 * @module
 */

import { type NetnsPair, sh, waitForInterface } from "../netns.ts";
import { NsProcess } from "../harness.ts";
import { ETHERNET, have, IPV4, pairId, type Row, sides, UDP, UNDERLAY_MTU, VXLAN } from "./row.ts";

/** IANA's VXLAN port (RFC 7348 §5). */
const VXLAN_PORT = 4789;
/** The interface both VXLAN rows make, given the overlay address by the bench. */
const VXLAN_IFACE = "vx0";
/** VXLAN's overhead on its carrier: outer IPv4, UDP, VXLAN, inner Ethernet. */
const VXLAN_OVERHEAD = IPV4 + UDP + VXLAN + ETHERNET;

/** Why this kernel cannot make a VXLAN interface (tried in a scratch
 * namespace, deleted after), or undefined. */
async function vxlanUnavailable(): Promise<string | undefined> {
  const ns = `tpbprobe${Deno.pid}`;
  await sh(["ip", "netns", "add", ns]);
  try {
    const add = ["ip", "-n", ns, "link", "add", "probe0", "type", "vxlan", "id", "1", "dstport"];
    await sh([...add, String(VXLAN_PORT), "local", "198.18.0.1", "remote", "198.18.0.2"]);
    return undefined;
  } catch (e) {
    return `this kernel cannot make VXLAN interfaces (module vxlan): ${(e as Error).message}`;
  } finally {
    await sh(["ip", "netns", "del", ns], { allowFail: true });
  }
}

/** Makes `vx0` with VXLAN id `vni` in each namespace, from `local(side)` to
 * `remote(side)` (over interface `dev(side)` if given); not yet up. */
async function addVxlan(
  pair: NetnsPair,
  vni: number,
  ends: (me: "a" | "b") => { local: string; remote: string; dev?: string },
): Promise<void> {
  for (const { me, side } of sides(pair)) {
    const e = ends(me);
    const dev = e.dev === undefined ? [] : ["dev", e.dev];
    const link = ["ip", "-n", side.ns, "link", "add", VXLAN_IFACE, "type", "vxlan", "id", String(vni)];
    await sh([...link, "local", e.local, "remote", e.remote, "dstport", String(VXLAN_PORT), ...dev]);
  }
}

/** Kernel VXLAN over the veth, no crypto, no tunnel process. */
export const vxlanRow: Row = {
  name: "vxlan",
  about: "kernel VXLAN over the veth, no crypto: the ceiling of an encapsulation",
  mtu: UNDERLAY_MTU - VXLAN_OVERHEAD,
  iface: VXLAN_IFACE,
  unavailable: vxlanUnavailable,
  async start(pair) {
    await addVxlan(pair, 42, (me) => {
      const [s, p] = me === "a" ? [pair.a, pair.b] : [pair.b, pair.a];
      return { local: s.underlay, remote: p.underlay };
    });
    return [];
  },
};

/** WireGuard's overhead on a data packet: type, receiver index and counter
 * (16 bytes), Poly1305 tag (16), over IPv4 and UDP (WireGuard whitepaper §5.4.6,
 * transport data message). */
const WG_OVERHEAD = IPV4 + UDP + 16 + 16;
/** MTU of the WireGuard interface on a 1500-byte underlay. */
const WG_MTU = UNDERLAY_MTU - WG_OVERHEAD;
/** UDP port of both WireGuard ends. */
const WG_PORT = 51820;
/** wireguard-go's directory of control sockets (`NAME.sock`), shared by
 * every network namespace: hence one interface name per side and pair. */
const WG_SOCKETS = "/var/run/wireguard";

/** Addresses on the WireGuard interfaces: a /24 of the benchmarking range
 * that differs from the pair's underlay (198.18.ID.0/24). */
function wgAddress(pair: NetnsPair, me: "a" | "b"): string {
  return `198.18.${pairId(pair) ^ 0x80}.${me === "a" ? 1 : 2}`;
}

/**
 * Userspace WireGuard (Debian's wireguard-go, a TUN of MTU 1440) with kernel
 * VXLAN over it. wireguard-go refuses to start on a kernel with WireGuard
 * unless WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 is set; `-f` keeps
 * it in the foreground, so its CPU time is counted (the kernel's VXLAN work
 * on top is not).
 */
export const wggoVxlanRow: Row = {
  name: "wggo-vxlan",
  about: "wireguard-go (userspace WireGuard, TUN) with kernel VXLAN over it",
  mtu: WG_MTU - VXLAN_OVERHEAD,
  iface: VXLAN_IFACE,
  unavailable: async () =>
    (await have("wireguard-go")) ?? (await have("wg", "wireguard-tools")) ?? (await vxlanUnavailable()),
  async start(pair, dir) {
    const name = (me: "a" | "b") => `tpbwg${pairId(pair)}${me}`;
    for (const me of ["a", "b"]) {
      await sh(["sh", "-c", `umask 077 && wg genkey > "${dir}/wg-${me}.key"`]);
      await sh(["sh", "-c", `wg pubkey < "${dir}/wg-${me}.key" > "${dir}/wg-${me}.pub"`]);
    }
    const procs: NsProcess[] = [];
    try {
      for (const { me, side, peer, other } of sides(pair)) {
        const wg = name(me);
        // A socket left by an end that was killed would make this one refuse to start.
        try {
          Deno.removeSync(`${WG_SOCKETS}/${wg}.sock`);
        } catch { /* none left */ }
        procs.push(
          new NsProcess(side.ns, ["wireguard-go", "-f", wg], `${dir}/wggo-${me}.log`, {
            env: { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" },
          }),
        );
        if (!await waitForInterface(side.ns, wg)) throw new Error(`wireguard-go made no interface ${wg}`);
        const pub = Deno.readTextFileSync(`${dir}/wg-${other}.pub`).trim();
        const set = ["wg", "set", wg, "private-key", `${dir}/wg-${me}.key`, "listen-port", String(WG_PORT)];
        set.push(
          "peer",
          pub,
          "endpoint",
          `${peer.underlay}:${WG_PORT}`,
          "allowed-ips",
          `${wgAddress(pair, other)}/32`,
        );
        await sh(["ip", "netns", "exec", side.ns, ...set]);
        await sh(["ip", "-n", side.ns, "link", "set", wg, "mtu", String(WG_MTU), "up"]);
        await sh(["ip", "-n", side.ns, "addr", "add", `${wgAddress(pair, me)}/24`, "dev", wg]);
      }
      await addVxlan(pair, 43, (me) => ({
        local: wgAddress(pair, me),
        remote: wgAddress(pair, me === "a" ? "b" : "a"),
        dev: name(me),
      }));
    } catch (e) {
      // Stopped here rather than killed with the namespaces, so that each
      // removes its control socket.
      for (const p of procs) await p.stop("SIGTERM", 3000);
      const logs = procs.map((p) => `--- ${p.log}\n${p.text().slice(-1000)}`);
      throw new Error([(e as Error).message, ...logs].join("\n"));
    }
    return procs;
  },
};
