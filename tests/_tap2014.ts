/**
 * What a program without offloads sees on a TAP, written apart from tappet's
 * own code (its own dlopen, its own checksum): run inside a namespace with
 * `ip netns exec`.
 *
 * - `offloads TAP`: prints `{"txCsum":0|1,"tso":0|1}`, the TAP's checksum and
 *   segmentation offloads as `ethtool -k` reads them (SIOCETHTOOL with
 *   ETHTOOL_GTXCSUM and ETHTOOL_GTSO, <linux/ethtool.h>).
 * - `tcp TAP PEER PORT MTU`: attaches to TAP as the 2014 tappet does
 *   (IFF_TAP | IFF_NO_PI, no vnet header, plain read()), connects to
 *   PEER:PORT over it, answers the SYN itself, writes 64 KiB and reads what
 *   the kernel sends for ~1 s. Prints `{"frames":N,"maxFrame":B,"bad":[...]}`:
 *   every TCP frame from us to PEER, the largest size, and each frame whose
 *   IPv4 or TCP checksum is not complete or that is larger than 14 + MTU.
 *
 * @module
 */

const lib = Deno.dlopen("libc.so.6", {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
}).symbols;

// <linux/if_tun.h>, <fcntl.h>, <linux/sockios.h>, <linux/ethtool.h>
const TUNSETIFF = 0x400454can;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const SIOCETHTOOL = 0x8946n;
const ETHTOOL_GTXCSUM = 0x16;
const ETHTOOL_GTSO = 0x1e;

function ifreq(name: string): Uint8Array<ArrayBuffer> {
  const ifr = new Uint8Array(40);
  ifr.set(new TextEncoder().encode(name));
  return ifr;
}

function ethtoolValue(fd: number, name: string, cmd: number): number {
  const value = new Uint32Array([cmd, 0]);
  const ifr = ifreq(name);
  new DataView(ifr.buffer).setBigUint64(16, Deno.UnsafePointer.value(Deno.UnsafePointer.of(value)), true);
  if (lib.ioctl(fd, SIOCETHTOOL, ifr) < 0) throw new Error(`SIOCETHTOOL ${cmd} failed`);
  return value[1];
}

/** RFC 1071, 16 bits at a time. */
function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let s = initial;
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

function tcpSumOk(f: Uint8Array): boolean {
  const ihl = (f[14] & 15) * 4;
  const total = (f[16] << 8) | f[17];
  const t = 14 + ihl;
  const pseudo = sum16(f, 26, 34) + 6 + (total - ihl);
  return sum16(f, t, 14 + total, pseudo) === 0xffff;
}

function synAck(syn: Uint8Array): Uint8Array<ArrayBuffer> {
  const f = new Uint8Array(14 + 20 + 24);
  const v = new DataView(f.buffer);
  f.set(syn.subarray(6, 12), 0); // to the SYN's source MAC
  f.set([2, 0, 0, 0, 0, 2], 6);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  v.setUint16(16, 44);
  f[22] = 64;
  f[23] = 6;
  f.set(syn.subarray(30, 34), 26); // from the SYN's destination
  f.set(syn.subarray(26, 30), 30);
  v.setUint16(24, ~sum16(f, 14, 34) & 0xffff);
  const s = 14 + (syn[14] & 15) * 4;
  const t = 34;
  f.set(syn.subarray(s + 2, s + 4), t); // ports swapped
  f.set(syn.subarray(s, s + 2), t + 2);
  v.setUint32(t + 4, 1000);
  v.setUint32(t + 8, (new DataView(syn.buffer).getUint32(s + 4) + 1) >>> 0);
  f[t + 12] = 6 << 4;
  f[t + 13] = 0x12; // SYN | ACK
  v.setUint16(t + 14, 65535);
  f.set([2, 4, 0x05, 0xb4], t + 20); // MSS 1460
  v.setUint16(t + 16, ~sum16(f, t, t + 24, sum16(f, 26, 34) + 6 + 24) & 0xffff);
  return f;
}

async function tcp(tap: string, peer: string, port: number, mtu: number) {
  const fd = lib.open(new TextEncoder().encode("/dev/net/tun\0"), O_RDWR | O_NONBLOCK, 0);
  if (fd < 0) throw new Error("cannot open /dev/net/tun");
  const ifr = ifreq(tap);
  new DataView(ifr.buffer).setInt16(16, IFF_TAP | IFF_NO_PI, true);
  if (lib.ioctl(fd, TUNSETIFF, ifr) < 0) throw new Error(`cannot attach to ${tap}`);
  const peerBytes = peer.split(".").map(Number);
  const buf = new Uint8Array(70000);
  const out = { frames: 0, maxFrame: 0, bad: [] as string[] };
  const toPeer = (f: Uint8Array) =>
    f.length >= 54 && f[12] === 8 && f[13] === 0 && f[23] === 6 &&
    peerBytes.every((b, i) => f[30 + i] === b) &&
    ((f[14 + (f[14] & 15) * 4 + 2] << 8) | f[14 + (f[14] & 15) * 4 + 3]) === port;
  const conn = Deno.connect({ hostname: peer, port });
  conn.catch(() => {});
  let established = false;
  const deadline = performance.now() + 4000;
  let stopAt = Infinity;
  while (performance.now() < Math.min(deadline, stopAt)) {
    const n = Number(lib.read(fd, buf, BigInt(buf.length)));
    if (n <= 0) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    const f = buf.slice(0, n);
    if (!toPeer(f)) continue;
    out.frames++;
    out.maxFrame = Math.max(out.maxFrame, n);
    const flags = f[14 + (f[14] & 15) * 4 + 13];
    if (sum16(f, 14, 14 + (f[14] & 15) * 4) !== 0xffff) out.bad.push(`frame ${out.frames}: IPv4 checksum`);
    if (!tcpSumOk(f)) out.bad.push(`frame ${out.frames}: TCP checksum not complete (${n} bytes)`);
    if (n > 14 + mtu) out.bad.push(`frame ${out.frames}: ${n} bytes, more than 14 + MTU ${mtu}`);
    if ((flags & 0x02) !== 0 && !established) {
      established = true;
      lib.write(fd, synAck(f), 58n);
      const c = await conn;
      c.write(new Uint8Array(65536).fill(7)).catch(() => {});
      stopAt = performance.now() + 1000;
    }
  }
  lib.close(fd);
  if (!established) out.bad.push("no SYN seen");
  console.log(JSON.stringify(out));
  Deno.exit(0); // the connection never completes: do not wait for it
}

const [mode, tap, ...rest] = Deno.args;
if (mode === "offloads") {
  const s = lib.socket(2, 2, 0);
  console.log(
    JSON.stringify({
      txCsum: ethtoolValue(s, tap, ETHTOOL_GTXCSUM),
      tso: ethtoolValue(s, tap, ETHTOOL_GTSO),
    }),
  );
  lib.close(s);
} else if (mode === "tcp") {
  await tcp(tap, rest[0], Number(rest[1]), Number(rest[2]));
}
