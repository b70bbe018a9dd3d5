/**
 * tunnel/status.ts and tunnel/metrics.ts: a status built from a real engine
 * after a real handshake, its JSON, human and Prometheus forms, the `wg show`
 * formats (known answers from wireguard-tools' src/show.c rules), and the
 * absence of every secret from every form.
 */

import { strict as assert } from "node:assert";
import { CurrentEngine } from "../core/current_engine.ts";
import { DATA } from "../core/current_wire.ts";
import { keyPairFromSecret } from "../core/noise.ts";
import { PacketBuffer } from "../core/packet.ts";
import { COUNTERS } from "../core/stats.ts";
import { metricsText } from "../tunnel/metrics.ts";
import {
  DROP_REASONS,
  formatAgo,
  formatBytes,
  formatDuration,
  formatStatus,
  statusOf,
  type TunnelSnapshot,
} from "../tunnel/status.ts";
import { udpDropsFrom } from "../io/kernel_drops.ts";
import { hex, toHex } from "./_util.ts";
import { fakeSnapshot } from "./_status.ts";

const S = 1e9;
// Fixed keys, so that the test knows every secret it must not find.
const SECRET_A = hex("a8" + "ab".repeat(30) + "6b");
const SECRET_B = hex("c8" + "cd".repeat(30) + "4d");
const PSK = hex("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0");

/** Two engines with a completed handshake and one frame each way. */
function handshakeDone() {
  const a = keyPairFromSecret(SECRET_A);
  const b = keyPairFromSecret(SECRET_B);
  const addrA = { hostname: "198.18.0.1", port: 40000 };
  const addrB = { hostname: "198.18.0.2", port: 1011 };
  let now = 1000 * S;
  const wall = () => Date.UTC(2026, 11, 1, 12, 0, 0) + (now - 1000 * S) / 1e6;
  const client = new CurrentEngine({
    secretKey: SECRET_A,
    peerPublic: b.publicKey,
    psk: PSK,
    peer: addrB,
    now,
    wallClock: wall,
  });
  const server = new CurrentEngine({
    secretKey: SECRET_B,
    peerPublic: a.publicKey,
    psk: PSK,
    now,
    wallClock: wall,
  });
  const buf = new PacketBuffer(DATA.HEADER);
  const pump = (from: CurrentEngine, fromAddr: typeof addrA, to: CurrentEngine) => {
    while (from.hasControl) {
      const n = from.nextControl(buf, now);
      if (n > 0) to.open(buf, n, fromAddr, now);
    }
  };
  pump(client, addrA, server);
  now += 0.01 * S;
  pump(server, addrB, client);
  assert(client.established, "handshake completed");
  const frame = new Uint8Array(100).fill(7);
  buf.payload.set(frame);
  const n = client.seal(buf, frame.length, now);
  assert(n > 0);
  assert.equal(server.open(buf, n, addrA, now), frame.length);
  pump(client, addrA, server);
  return { client, server, publicB: b.publicKey, publicA: a.publicKey, now, wall };
}

function snapshotOf(engine: CurrentEngine, peerPublic: Uint8Array, wallMs: number): TunnelSnapshot {
  return fakeSnapshot({
    role: "connect",
    local: { hostname: "0.0.0.0", port: 40000 },
    peerPublicKey: peerPublic,
    peer: engine.peer,
    peerHost: "vpn.example.com",
    counters: engine.stats.snapshot(),
    otherDrops: { tap_kernel_tx_dropped: 4, socket_rx_overflow: 2 },
    latestHandshakeMs: wallMs,
    sessionAgeMs: 37_400,
    uptimeMs: 3_723_900,
    pathMtu: 1500,
    tapMtu: 1500,
    tapMtuAdvised: 1434,
    pid: 4242,
  });
}

Deno.test("every drop counter of core/stats.ts is a drop reason, snake_case", () => {
  const drops = COUNTERS.filter((c) => c.startsWith("drop"));
  assert.equal(DROP_REASONS.size, drops.length);
  assert.equal(DROP_REASONS.get("dropBadTag"), "bad_tag");
  assert.equal(DROP_REASONS.get("dropMac1"), "mac1");
  assert.equal(DROP_REASONS.get("dropTxNoSession"), "tx_no_session");
  for (const r of DROP_REASONS.values()) assert.match(r, /^[a-z][a-z0-9_]*$/);
});

Deno.test("wg show formats: bytes, durations, ago", () => {
  // wireguard-tools src/show.c bytes(): B below 1 KiB, else %.2f in KiB..TiB.
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.00 KiB");
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(5 * 1024 * 1024 + 512 * 1024), "5.50 MiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.00 GiB");
  assert.equal(formatBytes(2 * 1024 ** 4), "2.00 TiB");
  assert.equal(formatBytes(2048 * 1024 ** 4), "2048.00 TiB");
  // pretty_time(): units with a count, singular for 1, ", " between.
  assert.equal(formatDuration(37), "37 seconds");
  assert.equal(formatDuration(61), "1 minute, 1 second");
  assert.equal(formatDuration(3723), "1 hour, 2 minutes, 3 seconds");
  assert.equal(formatDuration(86_400 + 120), "1 day, 2 minutes");
  assert.equal(formatDuration(366 * 86_400), "1 year, 1 day");
  assert.equal(formatAgo(1000, 1037), "37 seconds ago");
  assert.equal(formatAgo(1000, 1000), "Now");
});

Deno.test("status from a real engine: JSON keys, values, human form", () => {
  const { client, publicB, wall } = handshakeDone();
  const hsMs = wall();
  const st = statusOf(snapshotOf(client, publicB, hsMs));
  const json = JSON.parse(JSON.stringify(st));
  for (
    const k of [
      "interface",
      "format",
      "listen",
      "peer",
      "rx_bytes",
      "tx_bytes",
      "rx_frames",
      "tx_frames",
      "drops",
      "uptime_s",
      "tap_mtu",
      "tap_mtu_advised",
      "session_age_s",
      "path_mtu",
    ]
  ) assert(k in json, `key ${k}`);
  assert.equal(json.interface, "tap0");
  assert.equal(json.format, "current");
  assert.equal(json.listen, "0.0.0.0:40000");
  assert.equal(json.peer.public_key, toHex(publicB));
  assert.match(json.peer.public_key, /^[0-9a-f]{64}$/);
  assert.equal(json.peer.endpoint, "198.18.0.2:1011");
  assert.equal(json.peer.latest_handshake, Math.floor(hsMs / 1000));
  assert.equal(json.tx_frames, 1);
  assert.equal(json.tx_bytes, 100);
  assert.equal(json.rx_frames, 0);
  assert.equal(json.uptime_s, 3723);
  assert.equal(json.session_age_s, 37);
  assert.equal(json.drops.tap_kernel_tx_dropped, 4);
  assert.equal(json.drops.socket_rx_overflow, 2);
  assert.equal(Object.keys(json.drops).length, DROP_REASONS.size + 2);
  const human = formatStatus(st, hsMs + 37_000);
  assert.match(human, /^interface: tap0\n/);
  assert.match(human, /\n {2}latest handshake: 37 seconds ago\n/);
  assert.match(human, /\n {2}transfer: 0 B received \(0 frames\), 100 B sent \(1 frames\)\n/);
  assert.match(human, /\n {2}drops: tap_kernel_tx_dropped 4, socket_rx_overflow 2$/);
  assert.match(human, /\n {2}uptime: 1 hour, 2 minutes, 3 seconds\n/);
  assert.match(human, new RegExp(`\npeer: ${toHex(publicB)}\n`));
  assert.match(human, /\n {2}mtu: path 1500, tap 1500 \(too big for the path: set 1434\)\n/);
  assert.match(formatStatus({ ...st, tap_mtu: 1434 }), /\n {2}mtu: path 1500, tap 1434 \(fits\)\n/);
  assert.match(formatStatus({ ...st, tap_mtu: null }), /\n {2}mtu: path 1500, tap unknown \(1434 fits\)\n/);
});

Deno.test("legacy status: nonce prefix, no handshake", () => {
  const st = statusOf(fakeSnapshot({
    iface: "tap1",
    format: "legacy",
    local: { hostname: "2001:db8::1", port: 1011 },
    transport: "deno",
    offload: false,
    peerPublicKey: new Uint8Array(32).fill(9),
    peer: undefined,
    counters: { rxBytes: 1536, rxFrames: 3, dropReplay: 5 },
    uptimeMs: 500,
    noncePrefix: 17,
  }));
  assert.equal(st.listen, "[2001:db8::1]:1011");
  assert.equal(st.peer.endpoint, null);
  assert.equal(st.peer.latest_handshake, null);
  assert.equal(st.nonce_prefix, 17);
  assert.equal(st.drops.replay, 5);
  assert.equal(st.path_mtu, null);
  assert.match(formatStatus(st), /\n {2}mtu: path unknown, tap unknown\n/);
  const human = formatStatus(st);
  assert.match(human, /\n {2}listening on: \[2001:db8::1\]:1011\n/);
  assert.match(human, /\n {2}nonce prefix: 17\n/);
  assert.match(human, /\n {2}endpoint: \(not known yet\)\n/);
  assert.match(human, /1\.50 KiB received \(3 frames\)/);
  assert.match(human, /drops: replay 5$/);
});

/** Every sample line of an exposition: `name{labels} value`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

Deno.test("metrics: HELP and TYPE lines, interface labels, values equal the JSON's", () => {
  const { client, publicB, wall } = handshakeDone();
  const st = statusOf(snapshotOf(client, publicB, wall()));
  const text = metricsText([st]);
  for (
    const [name, type] of [
      ["tappet_rx_bytes_total", "counter"],
      ["tappet_tx_bytes_total", "counter"],
      ["tappet_rx_frames_total", "counter"],
      ["tappet_tx_frames_total", "counter"],
      ["tappet_drops_total", "counter"],
      ["tappet_latest_handshake_seconds", "gauge"],
      ["tappet_up", "gauge"],
      ["tappet_path_mtu_bytes", "gauge"],
      ["tappet_tap_mtu_bytes", "gauge"],
    ]
  ) {
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"));
  }
  const s = samples(text);
  for (const key of s.keys()) assert.match(key, /\{interface="tap0"[,}]/);
  const one = (name: string) => s.get(`${name}{interface="tap0"}`);
  assert.equal(one("tappet_rx_bytes_total"), st.rx_bytes);
  assert.equal(one("tappet_tx_bytes_total"), st.tx_bytes);
  assert.equal(one("tappet_rx_frames_total"), st.rx_frames);
  assert.equal(one("tappet_tx_frames_total"), st.tx_frames);
  assert.equal(one("tappet_latest_handshake_seconds"), st.peer.latest_handshake);
  assert.equal(one("tappet_up"), 1);
  assert.equal(one("tappet_path_mtu_bytes"), 1500);
  assert.equal(one("tappet_tap_mtu_bytes"), 1500);
  for (const [reason, n] of Object.entries(st.drops)) {
    assert.equal(s.get(`tappet_drops_total{interface="tap0",reason="${reason}"}`), n, reason);
  }
});

Deno.test("no key, PSK or other 32-byte secret appears in JSON, human or metrics output", () => {
  const { client, server, publicB, publicA, wall } = handshakeDone();
  const outputs: string[] = [];
  for (const [engine, peerPublic] of [[client, publicB], [server, publicA]] as const) {
    const st = statusOf(snapshotOf(engine, peerPublic, wall()));
    outputs.push(JSON.stringify(st), JSON.stringify(st, null, 2), formatStatus(st), metricsText([st]));
  }
  const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
  const forms = (b: Uint8Array) => [toHex(b), toHex(b).toUpperCase(), b64(b), b64(b).replace(/=+$/, "")];
  const publics = new Set([toHex(publicA), toHex(publicB)]);
  for (const out of outputs) {
    for (const secret of [SECRET_A, SECRET_B, PSK]) {
      for (const form of forms(secret)) assert(!out.includes(form), "a secret key appears in the output");
    }
    // Session keys and cookie secrets are not reachable from here: no
    // 32-byte value other than the two public keys may appear at all.
    for (const m of out.matchAll(/[0-9a-fA-F]{64,}/g)) assert(publics.has(m[0]), `32-byte hex ${m[0]}`);
    assert.equal(/[A-Za-z0-9+\/]{43}=?/.test(out.replace(/[0-9a-f]{64}/g, "")), false, "base64 of 32 bytes");
  }
  client.close();
  server.close();
});

Deno.test("/proc/net/udp drops column of our own socket", () => {
  const text = [
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    "  12: 00000000:03F3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 111 2 0000000000000000 9",
    "  13: 0100007F:03F3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 222 2 0000000000000000 31",
  ].join("\n");
  assert.equal(udpDropsFrom(text, 1011, new Set(["222"])), 31);
  assert.equal(udpDropsFrom(text, 1011, new Set(["111"])), 9);
  assert.equal(udpDropsFrom(text, 1012, new Set(["111"])), undefined);
  assert.equal(udpDropsFrom(text, 1011, new Set(["333"])), undefined);
});
