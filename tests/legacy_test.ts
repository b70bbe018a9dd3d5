/**
 * The legacy wire format against the byte vectors of the 2014 tappet
 * (tests/vectors/legacy.json, a copy of shared/vectors/legacy.json).
 */

import { strict as assert } from "node:assert";
import { HEADROOM, LegacySession, Open, type OpenKind } from "../core/legacy.ts";
import { LegacyEngine } from "../core/legacy_engine.ts";
import { LegacyNonce } from "../core/legacy_nonce.ts";
import { PacketBuffer } from "../core/packet.ts";
import { boxBeforenm, publicKeyOf } from "../ffi/sodium.ts";
import { formatKeyFile, parseKeyFile } from "../io/keyfile.ts";
import { nextNoncePrefix } from "../io/noncefile.ts";
import { hex, readJson, toHex } from "./_util.ts";

interface Datagram {
  name: string;
  nonce?: string;
  frame?: string;
  plaintext?: string;
  datagram: string;
  expect: string;
}
interface Vectors {
  keys: Record<string, string>;
  datagrams: Datagram[];
  replay_sequence: { order: string[]; accepted: boolean[] };
  nonce_file: { examples: { before: string; after?: string; prefix?: number; error?: string }[] };
}

const V = readJson<Vectors>("vectors/legacy.json");
const K = V.keys;
const byName = new Map(V.datagrams.map((d) => [d.name, d]));

/** A session whose next nonce is exactly `nonceHex`. */
function sessionAt(nonceHex: string): { session: LegacySession; counter: number } {
  const n = hex(nonceHex);
  const prefix = new DataView(n.buffer).getUint32(0);
  const counter = Number(new DataView(n.buffer).getBigUint64(16));
  return { session: new LegacySession(hex(K.shared_k), new LegacyNonce(prefix, n.subarray(4, 16))), counter };
}

function openAs(
  session: LegacySession,
  datagramHex: string,
): { kind: OpenKind; buf: PacketBuffer; len: number } {
  const d = hex(datagramHex);
  const buf = new PacketBuffer(HEADROOM);
  buf.bytes.set(d);
  return { kind: session.open(buf, d.length), buf, len: d.length };
}

Deno.test("legacy keys: public keys and the shared key from the secret keys", () => {
  assert.equal(toHex(publicKeyOf(hex(K.a_secret))), K.a_public);
  assert.equal(toHex(publicKeyOf(hex(K.b_secret))), K.b_public);
  assert.equal(toHex(boxBeforenm(hex(K.b_public), hex(K.a_secret))), K.shared_k);
  assert.equal(toHex(boxBeforenm(hex(K.a_public), hex(K.b_secret))), K.shared_k);
});

Deno.test("legacy key files: the 2014 format parses and is written back byte for byte", () => {
  const file = new TextEncoder().encode(K.a_key_file);
  const parsed = parseKeyFile(file);
  assert.ok(parsed.ok);
  assert.equal(toHex(parsed.value), K.a_secret);
  assert.deepEqual(formatKeyFile(parsed.value), file);
  const pub = parseKeyFile(new TextEncoder().encode(K.a_pub_file));
  assert.ok(pub.ok && toHex(pub.value) === K.a_public);
  const upper = parseKeyFile(new TextEncoder().encode(K.a_key_file.toUpperCase()));
  assert.ok(upper.ok && toHex(upper.value) === K.a_secret, "uppercase hex is accepted");
});

for (const d of V.datagrams.filter((d) => d.nonce !== undefined)) {
  Deno.test(`legacy vector ${d.name}: sealing gives the datagram byte for byte`, () => {
    const { session, counter } = sessionAt(d.nonce!);
    const buf = new PacketBuffer(HEADROOM);
    let len: number;
    if (d.frame !== undefined) {
      const frame = hex(d.frame);
      buf.payload.set(frame);
      len = session.seal(buf, frame.length, counter);
    } else if (d.plaintext!.startsWith("fe") && d.plaintext!.length === 6) {
      len = session.sealKeepalive(buf, parseInt(d.plaintext!.slice(2), 16), counter);
    } else {
      const p = hex(d.plaintext!);
      buf.payload.set(p);
      len = session.seal(buf, p.length, counter);
    }
    assert.equal(toHex(buf.bytes.subarray(0, len)), d.datagram);
  });
}

Deno.test("legacy vectors: opening gives the frame, the keepalive or the drop each one expects", () => {
  const cases: [string, OpenKind][] = [
    ["arp_request", Open.Frame],
    ["frame_1400", Open.Frame],
    ["after_peer_restart", Open.Frame],
    ["keepalive_1400", Open.Keepalive],
    ["short_payload", Open.Runt],
    ["tampered", Open.BadTag],
    ["wrong_key", Open.BadTag],
    ["undersize", Open.TooShort],
  ];
  for (const [name, want] of cases) {
    const { session } = sessionAt("00000009000000000000000000000000" + "0000000000000000");
    const d = byName.get(name)!;
    const { kind, buf, len } = openAs(session, d.datagram);
    assert.equal(kind, want, `${name}: ${d.expect}`);
    if (want === Open.Frame) assert.equal(toHex(buf.payload.subarray(0, len - HEADROOM)), d.frame);
    if (want === Open.Keepalive) {
      assert.equal(session.keepaliveSize, 1400);
      assert.equal(session.largestPeerReceived, 1400);
    }
  }
});

Deno.test("legacy replay sequence: only strictly increasing nonces are accepted", () => {
  const { session } = sessionAt("000000090000000000000000000000000000000000000000");
  const seq = V.replay_sequence;
  const got = seq.order.map((name) => {
    const kind = openAs(session, byName.get(name)!.datagram).kind;
    return kind === Open.Frame || kind === Open.Keepalive;
  });
  assert.deepEqual(got, seq.accepted);
});

Deno.test("legacy: a replayed datagram is counted as a replay, a forged one as a bad tag", () => {
  const { session } = sessionAt("000000090000000000000000000000000000000000000000");
  assert.equal(openAs(session, byName.get("frame_1400")!.datagram).kind, Open.Frame);
  assert.equal(openAs(session, byName.get("arp_request")!.datagram).kind, Open.Replay);
  assert.equal(openAs(session, byName.get("tampered")!.datagram).kind, Open.BadTag);
  assert.equal(openAs(session, byName.get("wrong_key")!.datagram).kind, Open.BadTag);
});

Deno.test("legacy: an empty datagram and one of exactly 24 bytes are too short", () => {
  const { session } = sessionAt("000000090000000000000000000000000000000000000000");
  const buf = new PacketBuffer(HEADROOM);
  assert.equal(session.open(buf, 0), Open.TooShort);
  assert.equal(session.open(buf, 24), Open.TooShort);
  assert.equal(session.open(buf, 55), Open.TooShort);
});

Deno.test("legacy: largestReceived tracks the largest authenticated payload after the nonce", () => {
  const { session } = sessionAt("000000090000000000000000000000000000000000000000");
  openAs(session, byName.get("arp_request")!.datagram);
  openAs(session, byName.get("frame_1400")!.datagram);
  assert.equal(session.largestReceived, 1400 + 56 - 24);
});

Deno.test("legacy nonce file vectors", () => {
  for (const ex of V.nonce_file.examples) {
    const r = nextNoncePrefix(hex(ex.before));
    if (ex.error !== undefined) {
      assert.ok(!r.ok, `${ex.before} must fail`);
      const want = ex.error === "prefix overflow" ? /prefix overflow/ : /exactly 4 bytes/;
      assert.match(r.error, want);
    } else {
      assert.ok(r.ok);
      assert.equal(r.prefix, ex.prefix);
      assert.equal(toHex(r.after), ex.after);
    }
  }
});

Deno.test("legacy: a sealed frame opens on the other side, both directions share one key", () => {
  const a = new LegacySession(hex(K.shared_k), new LegacyNonce(7, new Uint8Array(12)));
  const b = new LegacySession(hex(K.shared_k), new LegacyNonce(3, new Uint8Array(12).fill(9)));
  const frame = new Uint8Array(1500).map((_, i) => i * 7);
  const buf = new PacketBuffer(HEADROOM);
  for (const [from, to] of [[a, b], [b, a]]) {
    buf.payload.set(frame);
    const len = from.seal(buf, frame.length, 123);
    assert.equal(to.open(buf, len), Open.Frame);
    assert.deepEqual(buf.payload.subarray(0, frame.length), frame);
  }
});

Deno.test("legacy: our own datagram reflected back is dropped even when its nonce sorts above the peer's", () => {
  const k = hex(K.shared_k);
  // A's prefix (7) is above B's (2): the replay rule alone would accept A's
  // own datagrams once A has accepted one of B's.
  const a = new LegacySession(k, new LegacyNonce(7, new Uint8Array(12).fill(0xaa)));
  const b = new LegacySession(k, new LegacyNonce(2, new Uint8Array(12).fill(0xbb)));
  const frameBytes = new Uint8Array(60).fill(0x42);
  const seal = (s: LegacySession, t: number) => {
    const buf = new PacketBuffer(HEADROOM);
    buf.payload.set(frameBytes);
    return buf.bytes.slice(0, s.seal(buf, frameBytes.length, t));
  };
  const open = (s: LegacySession, d: Uint8Array): OpenKind => {
    const buf = new PacketBuffer(HEADROOM);
    buf.bytes.set(d);
    return s.open(buf, d.length);
  };
  assert.equal(open(a, seal(b, 1_000)), Open.Frame);
  const own = seal(a, 2_000);
  assert.equal(open(b, own), Open.Frame, "the peer accepts it");
  assert.equal(open(a, own), Open.Reflected, "sent back to A, it is A's own");
  // Another run of A (new prefix and random bytes) is a different sender:
  // its datagrams are not recognised, only ordered (PROTOCOL.md §1).
  const earlierA = new LegacySession(k, new LegacyNonce(6, new Uint8Array(12).fill(0xcc)));
  assert.equal(open(a, seal(earlierA, 3_000)), Open.Frame);
});

Deno.test("legacy: a closed session seals nothing and opens nothing, not even under the zeroed key", () => {
  const k = hex(K.shared_k);
  const a = new LegacySession(k, new LegacyNonce(7, new Uint8Array(12)));
  const b = new LegacySession(k, new LegacyNonce(3, new Uint8Array(12).fill(9)));
  const zero = new LegacySession(new Uint8Array(32), new LegacyNonce(5, new Uint8Array(12).fill(5)));
  const buf = new PacketBuffer(HEADROOM);
  const seal = (s: LegacySession) => {
    buf.payload.fill(0x42, 0, 64);
    return buf.bytes.slice(0, s.seal(buf, 64, 1_000));
  };
  const fromB = seal(b);
  const fromZero = seal(zero); // what a zeroed key would accept
  a.close();
  a.close(); // twice is harmless
  assert.throws(() => seal(a), /closed/);
  assert.throws(() => a.sealKeepalive(buf, 0, 2_000), /closed/);
  for (const d of [fromB, fromZero]) {
    buf.bytes.set(d);
    assert.equal(a.open(buf, d.length), Open.BadTag);
  }
});

Deno.test("legacy: a closed engine seals no frame and owes no keepalive", () => {
  const session = new LegacySession(hex(K.shared_k), new LegacyNonce(7, new Uint8Array(12)));
  const engine = new LegacyEngine({ session, peer: { hostname: "198.18.0.1", port: 1 }, now: 0 });
  assert.equal(engine.hasControl, true, "the hello is due");
  engine.close();
  assert.equal(engine.hasControl, false);
  const buf = new PacketBuffer(HEADROOM);
  assert.equal(engine.seal(buf, 64, 1_000), 0);
  assert.equal(engine.nextControl(buf, 1_000), 0);
});
