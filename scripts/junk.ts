/**
 * A flood of junk UDP datagrams, as fast as one core sends them: for the
 * tests of hostile traffic. Only ever aim it at a namespace of your own.
 *
 *     deno run -A scripts/junk.ts HOST PORT SECONDS
 *
 * Sends batches of random datagrams (random lengths up to 1400 bytes, some
 * shaped like tappet's message types) with sendmmsg, and prints one JSON
 * line: `{"sent": N, "seconds": S}`.
 *
 * @module
 */

import { PacketBuffer } from "../core/packet.ts";
import { randomBytes } from "../ffi/sodium.ts";
import { FfiUdpTransport } from "../io/udp_ffi.ts";
import { ipFamily } from "../core/address.ts";

if (import.meta.main) {
  const [host, port, seconds] = Deno.args;
  if (!host || !port || !seconds) {
    console.error("usage: junk.ts HOST PORT SECONDS");
    Deno.exit(2);
  }
  const family = ipFamily(host) ?? 4;
  const socket = FfiUdpTransport.bind(family === 6 ? "::" : "0.0.0.0", 0, family);
  const batch = 64;
  const bufs = Array.from({ length: batch }, () => new PacketBuffer(0));
  const lengths = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    lengths[i] = 1 + ((i * 97) % 1400);
    randomBytes(bufs[i].bytes.subarray(0, lengths[i]));
    if (i % 4 === 0) bufs[i].bytes[0] = 1 + (i % 16) / 4; // shaped like types 1-4
  }
  const to = { hostname: host, port: Number(port) };
  const end = performance.now() + Number(seconds) * 1000;
  let sent = 0;
  const start = performance.now();
  while (performance.now() < end) {
    socket.sendNow(bufs, lengths, batch, to, () => {});
    sent += batch;
    if (sent % (batch * 64) === 0) await new Promise((r) => setTimeout(r, 0));
  }
  socket.close();
  console.log(JSON.stringify({ sent, seconds: (performance.now() - start) / 1000 }));
}
