/**
 * A verified TCP transfer, for the demo and the integration tests.
 *
 *     deno run -A scripts/tcp_xfer.ts recv HOST PORT
 *     deno run -A scripts/tcp_xfer.ts send HOST PORT BYTES [SEED]
 *
 * The sender streams BYTES of deterministic pseudo-random data (from SEED);
 * the receiver accepts one connection and reads it to the end. Each prints
 * one JSON line: `{"bytes":N,"sha256":"…","seconds":S}`, so the caller checks
 * that what arrived is what was sent.
 *
 * @module
 */

import { createHash } from "node:crypto";

const CHUNK = 64 * 1024;

/** Fills `buf` from a xorshift32 state; returns the next state. */
function fill(buf: Uint8Array, state: number): number {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
  let x = state >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return x;
}

async function recv(host: string, port: number): Promise<void> {
  const listener = Deno.listen({ hostname: host, port });
  console.error(`listening on ${host}:${port}`);
  const conn = await listener.accept();
  listener.close();
  const hash = createHash("sha256");
  const buf = new Uint8Array(CHUNK);
  let bytes = 0;
  const start = performance.now();
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    bytes += n;
  }
  const seconds = (performance.now() - start) / 1000;
  conn.close();
  console.log(JSON.stringify({ bytes, sha256: hash.digest("hex"), seconds }));
}

async function send(host: string, port: number, total: number, seed: number): Promise<void> {
  let conn: Deno.TcpConn | undefined;
  const deadline = Date.now() + 10_000;
  while (conn === undefined) {
    try {
      conn = await Deno.connect({ hostname: host, port });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const hash = createHash("sha256");
  const buf = new Uint8Array(CHUNK);
  let state = seed;
  let sent = 0;
  const start = performance.now();
  while (sent < total) {
    state = fill(buf, state);
    const part = buf.subarray(0, Math.min(CHUNK, total - sent));
    hash.update(part);
    let off = 0;
    while (off < part.length) off += await conn.write(part.subarray(off));
    sent += part.length;
  }
  await conn.closeWrite();
  // Wait for the receiver to close, so the time covers delivery.
  await conn.read(new Uint8Array(1)).catch(() => null);
  const seconds = (performance.now() - start) / 1000;
  conn.close();
  console.log(JSON.stringify({ bytes: sent, sha256: hash.digest("hex"), seconds }));
}

if (import.meta.main) {
  const [mode, host, port, bytes, seed] = Deno.args;
  if (mode === "recv" && host && port) await recv(host, Number(port));
  else if (mode === "send" && host && port && bytes) {
    await send(host, Number(port), Number(bytes), Number(seed ?? 1));
  } else {
    console.error("usage: tcp_xfer.ts recv HOST PORT | send HOST PORT BYTES [SEED]");
    Deno.exit(2);
  }
}
