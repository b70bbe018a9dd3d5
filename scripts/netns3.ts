/**
 * Three network namespaces a — r — b: r routes between two veth links, and
 * the r—b link has a smaller MTU (default 1280), so the path from a to b is
 * narrower than a's own interface. A TAP in a and in b (MTU 1500 by
 * default). The bed of the MTU tests; it returns a {@linkcode NetnsPair}, so
 * harness.ts's startTappets, transfer and withBed-style code work over it
 * unchanged. Needs root and iproute2 (and nftables for
 * {@linkcode NetnsTriple.dropIcmp}).
 *
 * Address plan (RFC 2544/5180 benchmarking ranges, never routed), `ID` in
 * 1..127:
 * - a—r: IPv4 198.18.ID.1 (a) and 198.18.ID.254 (r), or 2001:2:0:ID::1 and
 *   2001:2:0:ID::fe;
 * - r—b: IPv4 198.18.(ID+128).2 (b) and 198.18.(ID+128).254 (r), or
 *   2001:2:1:ID::2 and 2001:2:1:ID::fe; MTU `pathMtu` on both ends;
 * - a and b route everything else of the underlay through r;
 * - overlay (the TAPs) 198.19.ID.1 (a) and .2 (b), and fd19:ID::1, ::2.
 *
 * @module
 */

import { configureOverlay, deleteNamespace, type NetnsPair, sh, type Side } from "./netns.ts";

/** Options of {@linkcode createTriple}. */
export interface TripleOptions {
  /** 1..127: picks every address; unique per concurrent bed. */
  readonly id: number;
  /** Underlay address family; default 4. */
  readonly family?: 4 | 6;
  /** MTU of the r—b link (both ends), bytes; default 1280. */
  readonly pathMtu?: number;
  /** TAP MTU on a and b; default 1500 (the kernel's default). */
  readonly tapMtu?: number;
  /** Namespace name prefix; default derived from the process id. */
  readonly prefix?: string;
}

/** The pair a — b (as {@linkcode NetnsPair}: `a`, `b`, `exec`,
 * `destroy`) and the router between them. */
export interface NetnsTriple extends NetnsPair {
  /** The router's namespace. */
  readonly r: string;
  /** r's address on the a—r link (a's next hop). */
  readonly rToA: string;
  /** r's address on the r—b link. */
  readonly rToB: string;
  /** The r—b link's MTU, bytes. */
  readonly pathMtu: number;
  /** The veth names inside each namespace: a's, r's two, b's. */
  readonly links: { readonly a: string; readonly ra: string; readonly rb: string; readonly b: string };
  /** The overlay IPv6 addresses on the TAPs (a, b). */
  readonly overlay6: { readonly a: string; readonly b: string };
  /** Makes r drop every ICMP and ICMPv6 packet it would forward or send
   * itself (an ICMP black hole: its "packet too big" never arrives;
   * nftables table `tappet_bed` in r). Needs `nft`. */
  dropIcmp(): Promise<void>;
  /** Undoes {@linkcode dropIcmp}. */
  passIcmp(): Promise<void>;
}

/** Creates the three namespaces, both links, the routes and the TAPs, all
 * up. Deletes whatever it made if any step fails. */
export async function createTriple(options: TripleOptions): Promise<NetnsTriple> {
  const id = options.id;
  if (!(id >= 1 && id <= 127)) throw new Error(`netns3: id ${id} is not in 1..127`);
  const family = options.family ?? 4;
  const pathMtu = options.pathMtu ?? 1280;
  const tapMtu = options.tapMtu ?? 1500;
  const prefix = options.prefix ?? `tp3${Deno.pid}x${id}`;
  const ns = { a: `${prefix}-a`, r: `${prefix}-r`, b: `${prefix}-b` };
  const tag = `${Deno.pid % 10000}x${id}`;
  const links = { a: `t3a${tag}`, ra: `t3ra${tag}`, rb: `t3rb${tag}`, b: `t3b${tag}` };
  const v6 = family === 6;
  const addr = v6
    ? { a: `2001:2:0:${id}::1`, ra: `2001:2:0:${id}::fe`, rb: `2001:2:1:${id}::fe`, b: `2001:2:1:${id}::2` }
    : {
      a: `198.18.${id}.1`,
      ra: `198.18.${id}.254`,
      rb: `198.18.${id + 128}.254`,
      b: `198.18.${id + 128}.2`,
    };
  const plen = v6 ? 64 : 24;
  const a: Side = { ns: ns.a, underlay: addr.a, overlay: `198.19.${id}.1`, tap: "tp0" };
  const b: Side = { ns: ns.b, underlay: addr.b, overlay: `198.19.${id}.2`, tap: "tp0" };
  const overlay6 = { a: `fd19:${id}::1`, b: `fd19:${id}::2` };
  const exec = (n: string, cmd: string[], o?: { allowFail?: boolean }) =>
    sh(["ip", "netns", "exec", n, ...cmd], o);
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const n of [ns.a, ns.r, ns.b]) await deleteNamespace(n);
    await sh(["ip", "link", "del", links.a], { allowFail: true });
    await sh(["ip", "link", "del", links.b], { allowFail: true });
  };
  const ip = (n: string, ...args: string[]) => sh(["ip", "-n", n, ...(v6 ? ["-6"] : []), ...args]);
  const addAddr = (n: string, a: string, dev: string) =>
    ip(n, "addr", "add", `${a}/${plen}`, "dev", dev, ...(v6 ? ["nodad"] : []));
  try {
    for (const n of [ns.a, ns.r, ns.b]) await sh(["ip", "netns", "add", n]);
    await sh(["ip", "link", "add", links.a, "type", "veth", "peer", "name", links.ra]);
    await sh(["ip", "link", "add", links.b, "type", "veth", "peer", "name", links.rb]);
    await sh(["ip", "link", "set", links.a, "netns", ns.a]);
    await sh(["ip", "link", "set", links.ra, "netns", ns.r]);
    await sh(["ip", "link", "set", links.rb, "netns", ns.r]);
    await sh(["ip", "link", "set", links.b, "netns", ns.b]);
    await sh(["ip", "-n", ns.r, "link", "set", links.rb, "mtu", String(pathMtu)]);
    await sh(["ip", "-n", ns.b, "link", "set", links.b, "mtu", String(pathMtu)]);
    for (const [n, dev] of [[ns.a, links.a], [ns.r, links.ra], [ns.r, links.rb], [ns.b, links.b]]) {
      await sh(["ip", "-n", n, "link", "set", "lo", "up"]);
      await sh(["ip", "-n", n, "link", "set", dev, "up"]);
    }
    await addAddr(ns.a, addr.a, links.a);
    await addAddr(ns.r, addr.ra, links.ra);
    await addAddr(ns.r, addr.rb, links.rb);
    await addAddr(ns.b, addr.b, links.b);
    await exec(ns.r, ["sysctl", "-qw", v6 ? "net.ipv6.conf.all.forwarding=1" : "net.ipv4.ip_forward=1"]);
    await ip(ns.a, "route", "add", "default", "via", addr.ra);
    await ip(ns.b, "route", "add", "default", "via", addr.rb);
    for (const side of [a, b]) {
      await sh(["ip", "-n", side.ns, "tuntap", "add", side.tap, "mode", "tap"]);
      await configureOverlay(side.ns, side.tap, side.overlay, tapMtu);
      const six = side === a ? overlay6.a : overlay6.b;
      await sh(["ip", "-n", side.ns, "-6", "addr", "add", `${six}/64`, "dev", side.tap, "nodad"]);
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  const nft = (args: string[], allowFail = false) => exec(ns.r, ["nft", ...args], { allowFail });
  return {
    a,
    b,
    family,
    mtu: tapMtu,
    exec,
    destroy,
    r: ns.r,
    rToA: addr.ra,
    rToB: addr.rb,
    pathMtu,
    links,
    overlay6,
    async dropIcmp() {
      await nft(["add", "table", "inet", "tappet_bed"]);
      // Forwarded ICMP, and r's own (its "fragmentation needed" / "packet
      // too big" leave through the output hook).
      for (const [chain, hook] of [["blackhole", "forward"], ["blackhole_out", "output"]]) {
        await nft([`add chain inet tappet_bed ${chain} { type filter hook ${hook} priority 0 ; }`]);
        await nft([`add rule inet tappet_bed ${chain} meta l4proto { icmp, ipv6-icmp } drop`]);
      }
    },
    async passIcmp() {
      await nft(["delete", "table", "inet", "tappet_bed"], true);
    },
  };
}
