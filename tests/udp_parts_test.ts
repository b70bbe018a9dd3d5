/**
 * The FFI socket's pure parts, with answers worked out by hand: GSO grouping,
 * GRO cutting and the UDP_GRO control message, sockaddr encoding and
 * decoding (IPv4 and IPv6, the RFC 5952 examples), and the bind error both
 * transports give.
 */

import { strict as assert } from "node:assert";
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, gsoGroups } from "../io/gso.ts";
import { GroCutter, groSegmentSize } from "../io/gro.ts";
import { decodeSockaddr, sockaddr } from "../io/sockaddr.ts";
import { FfiUdpTransport } from "../io/udp_ffi.ts";
import { DenoUdpTransport } from "../io/udp_deno.ts";
import { UserError } from "../errors.ts";
import { openFds } from "../ffi/libc.ts";
import { Stats } from "../core/stats.ts";
import { PacketBuffer } from "../core/packet.ts";
import { slot } from "../io/counters.ts";
import { hex, toHex } from "./_util.ts";

/** The groups of gsoGroups as [start, end) pairs. */
function groups(lengths: number[], from = 0, to = lengths.length): number[][] {
  const starts = new Int32Array(lengths.length + 1);
  const n = gsoGroups(new Int32Array(lengths), from, to, starts);
  return Array.from({ length: n }, (_, k) => [starts[k], starts[k + 1]]);
}

Deno.test("gso: runs of equal datagrams, the last of a run shorter, empty ones alone", () => {
  assert.equal(GSO_MAX_SEGMENTS, 64);
  assert.deepEqual(groups([1200, 1200, 1200, 300, 1200, 1200, 0, 5]), [[0, 4], [4, 6], [6, 7], [7, 8]]);
  // A longer one after a run starts a new group; so does one after a shorter.
  assert.deepEqual(groups([100, 200, 200, 50, 50]), [[0, 1], [1, 4], [4, 5]]);
  assert.deepEqual(groups([0, 0, 7]), [[0, 1], [1, 2], [2, 3]]);
  assert.deepEqual(groups([]), []);
  assert.deepEqual(groups([9]), [[0, 1]]);
  // From an offset, as sendNow's chunks call it.
  assert.deepEqual(groups([1, 500, 500, 500], 1, 3), [[1, 3]]);
});

Deno.test("gso: at most 64 datagrams and 65000 bytes a group", () => {
  assert.deepEqual(groups(Array(150).fill(100)), [[0, 64], [64, 128], [128, 150]]);
  // 1400 × 46 = 64400 ≤ 65000 < 1400 × 47 = 65800
  assert.equal(GSO_MAX_BYTES, 65000);
  assert.deepEqual(groups(Array(50).fill(1400)), [[0, 46], [46, 50]]);
  // 60000 + 5000 = 65000 fits exactly; 60000 + 5001 does not.
  assert.deepEqual(groups([60000, 5000]), [[0, 2]]);
  assert.deepEqual(groups([60000, 5001]), [[0, 1], [1, 2]]);
});

/** A control area holding one cmsghdr: cmsg_len (8), level, type, int data. */
function cmsg(level: number, type: number, value: number): DataView {
  const v = new DataView(new ArrayBuffer(24));
  v.setBigUint64(0, 20n, true); // CMSG_LEN(4)
  v.setInt32(8, level, true);
  v.setInt32(12, type, true);
  v.setInt32(16, value, true);
  return v;
}

Deno.test("gro: the segment size comes from a SOL_UDP (17) / UDP_GRO (104) cmsg only", () => {
  assert.equal(groSegmentSize(cmsg(17, 104, 1200), 0, 20, 3000), 1200);
  assert.equal(groSegmentSize(cmsg(17, 104, 1200), 0, 24, 3000), 1200);
  assert.equal(groSegmentSize(cmsg(17, 103, 1200), 0, 20, 3000), 3000, "another type");
  assert.equal(groSegmentSize(cmsg(0, 104, 1200), 0, 20, 3000), 3000, "another level");
  assert.equal(groSegmentSize(cmsg(17, 104, 1200), 0, 16, 3000), 3000, "no room for the data");
  assert.equal(groSegmentSize(cmsg(17, 104, 1200), 0, 0, 3000), 3000, "no control data");
  assert.equal(groSegmentSize(cmsg(17, 104, 3000), 0, 20, 3000), 3000, "one datagram");
  assert.equal(groSegmentSize(cmsg(17, 104, 0), 0, 20, 3000), 3000, "size 0");
});

/** Every datagram a GroCutter gives for a message, as [start, length]. */
function cuts(total: number, size: number, truncated = false, capacity = 65536): number[][] {
  const c = new GroCutter();
  const count = c.load(total, size, truncated, capacity);
  const out: number[][] = [];
  for (let len = c.next(); len >= 0; len = c.next()) out.push([c.start, len]);
  assert.equal(out.length, count, "load() tells how many datagrams come");
  return out;
}

Deno.test("gro: a joined message is cut at the segment size, the last one shorter", () => {
  assert.deepEqual(cuts(3000, 1200), [[0, 1200], [1200, 1200], [2400, 600]]);
  assert.deepEqual(cuts(2400, 1200), [[0, 1200], [1200, 1200]]);
  assert.deepEqual(cuts(1200, 1200), [[0, 1200]]);
  assert.deepEqual(cuts(0, 0), [[0, 0]], "an empty datagram is handed out too");
  assert.deepEqual(cuts(70000, 1000, true, 65536), [[0, 65536]], "truncated: one, buffer-long");
});

Deno.test("sockaddr: sockaddr_in and sockaddr_in6 byte for byte", () => {
  // family AF_INET = 2 in host order (little-endian), port 5201 = 0x1451 in network order.
  assert.equal(
    toHex(sockaddr({ hostname: "198.18.0.1", port: 5201 }, 4)),
    "02001451c6120001" + "00".repeat(8),
  );
  // AF_INET6 = 10, port 443 = 0x01bb, flowinfo 0, address, scope id 0.
  assert.equal(
    toHex(sockaddr({ hostname: "2001:db8::1", port: 443 }, 6)),
    "0a0001bb" + "00000000" + "20010db8000000000000000000000001" + "00000000",
  );
  assert.equal(
    toHex(sockaddr({ hostname: "::ffff:198.18.0.1", port: 1 }, 6)).slice(16, 48),
    "00000000000000000000ffffc6120001",
  );
});

Deno.test("sockaddr: decoded to text, IPv6 in the canonical form of RFC 5952", () => {
  assert.deepEqual(decodeSockaddr(hex("02001451c6120001" + "00".repeat(8))), {
    hostname: "198.18.0.1",
    port: 5201,
  });
  const v6 = (addr: string) => decodeSockaddr(hex("0a00ffff00000000" + addr + "00000000"))!;
  assert.equal(v6("20010db8000000000001000000000001").port, 65535);
  // RFC 5952 4.2.3: the first of two equal runs of zeros is compressed.
  assert.equal(v6("20010db8000000000001000000000001").hostname, "2001:db8::1:0:0:1");
  // 4.2.2: a single 16-bit 0 is not compressed. 4.3: lower case.
  assert.equal(v6("20010db8000000010001000100010001").hostname, "2001:db8:0:1:1:1:1:1");
  assert.equal(v6("20010DB8000000000000000000020001".toLowerCase()).hostname, "2001:db8::2:1");
  assert.equal(v6("00000000000000000000000000000001").hostname, "::1");
  assert.equal(decodeSockaddr(hex("0100" + "00".repeat(14))), undefined, "AF_UNIX");
});

Deno.test("sockaddr: encode then decode gives the address back", () => {
  for (const hostname of ["0.0.0.0", "255.255.255.255", "10.1.2.3"]) {
    assert.deepEqual(decodeSockaddr(sockaddr({ hostname, port: 7 }, 4)), { hostname, port: 7 });
  }
  for (const hostname of ["::", "2001:2:0:9::2", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8"]) {
    assert.deepEqual(decodeSockaddr(sockaddr({ hostname, port: 65535 }, 6)), { hostname, port: 65535 });
  }
});

Deno.test("bind error: both transports word a port in use the same way, and leave no socket", () => {
  const first = FfiUdpTransport.bind("127.0.0.1", 0, 4);
  const before = [...openFds().keys()];
  try {
    const port = first.local.port;
    const want =
      `UDP 127.0.0.1:${port} is already in use (another tappet?): stop that process or choose another port`;
    for (
      const bind of [
        () => FfiUdpTransport.bind("127.0.0.1", port, 4),
        () => DenoUdpTransport.bind("127.0.0.1", port, 4),
      ]
    ) {
      assert.throws(bind, (e) => e instanceof UserError && e.message === want);
    }
    // An address that is on no interface of this host (TEST-NET-3, RFC 5737).
    const gone = /cannot listen on 203\.0\.113\.9:\d+: the address is not on any interface of this host/;
    assert.throws(() => FfiUdpTransport.bind("203.0.113.9", port, 4), gone);
    assert.throws(() => DenoUdpTransport.bind("203.0.113.9", port, 4), gone);
    assert.deepEqual([...openFds().keys()], before, "no fd left open by a failed bind");
  } finally {
    first.close();
  }
});

Deno.test("deno socket: a refused datagram is reported by its errno name and counted", async () => {
  const stats = new Stats();
  const rx = FfiUdpTransport.bind("127.0.0.1", 0, 4);
  const tx = DenoUdpTransport.bind("127.0.0.1", 0, 4, stats);
  try {
    const codes: string[] = [];
    // 65535 bytes do not fit one IPv4 datagram (65507 at most).
    await tx.send([new PacketBuffer(0)], new Int32Array([65535]), 1, rx.local, (f) => codes.push(f.code));
    assert.deepEqual(codes, ["EMSGSIZE"]);
    assert.equal(stats.values[slot("dropTxMsgSize")], 1);
  } finally {
    rx.close();
    tx.close();
  }
});
