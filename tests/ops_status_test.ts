/**
 * `tappet status` against real tunnels in namespaces (issue 11 items 1, 2;
 * issue 12 item 13): after a TCP transfer, both ends' `status --json` and
 * human form agree with what was sent (bytes within the frames' headers),
 * each end's endpoint is the address the other really uses, the handshake
 * is recent; the control socket's mode and owner; `--bind` fixes the
 * client's source address and port as the server sees it; the legacy
 * format shows its nonce prefix.
 */

import { strict as assert } from "node:assert";
import { transfer } from "../scripts/harness.ts";
import { ping } from "../scripts/netns.ts";
import { tappet } from "./_cli.ts";
import { bedTest, startBoth, statusJson, tappetIn } from "./_ops.ts";

const BYTES = 2 * 1024 * 1024;

bedTest(
  "status: both ends of a tunnel after a transfer, JSON and human form, socket mode and owner",
  232,
  "tappet-ops-st-",
  async ({ pair, dir, procs }) => {
    // The client sends from a fixed port (--bind, issue 12 item 13).
    const bind = `${pair.a.underlay}:41234`;
    const { a, b } = await startBoth(
      { pair, dir, procs },
      { extra: ["--bind", bind] },
      {},
      "the tunnel carries pings",
    );
    const r = await transfer(pair, BYTES, 5232);
    assert.equal(r.received.sha256, r.sent.sha256);
    // b first: every frame b has taken by then, a had sent by its read
    // (the tunnel is never quite silent: ARP, neighbour discovery).
    const sb = await statusJson(pair.b.ns);
    const sa = await statusJson(pair.a.ns);
    const now = Date.now() / 1000;
    // What was sent: the TCP payload plus at most 10% of headers and the
    // few frames (ARP, pings, acks) around it.
    const most = BYTES * 1.1 + 256 * 1024;
    assert(sa.tx_bytes >= BYTES && sa.tx_bytes <= most, `a sent ${sa.tx_bytes}`);
    assert(sb.rx_bytes >= BYTES && sb.rx_bytes <= most, `b took ${sb.rx_bytes}`);
    assert(sb.rx_bytes <= sa.tx_bytes, "b cannot have taken more than a sent");
    assert(sa.tx_bytes - sb.rx_bytes < 64 * 1024, `lost on the way: ${sa.tx_bytes - sb.rx_bytes}`);
    assert(sb.rx_frames <= sa.tx_frames && sa.tx_frames - sb.rx_frames < 50);
    // The other way, a's later read may hold a few more frames than b's.
    assert(sa.rx_bytes > 0 && sb.tx_bytes + 4 * 1514 >= sa.rx_bytes, "the acks came back");
    // Endpoints: what each end really uses.
    assert.equal(sa.listen, bind, "the client's socket is bound where --bind said");
    assert.equal(sb.peer.endpoint, bind, "the server hears the client from the --bind port");
    assert.equal(sa.peer.endpoint, `${pair.b.underlay}:7011`);
    assert.equal(sb.listen, `${pair.b.underlay}:7011`);
    assert.equal(sa.role, "connect");
    assert.equal(sb.role, "listen");
    // Keys: each end shows the other's public key, as its .pub holds it.
    assert.equal(sa.peer.public_key, Deno.readTextFileSync(`${dir}/b.pub`).trim());
    assert.equal(sb.peer.public_key, Deno.readTextFileSync(`${dir}/a.pub`).trim());
    for (const s of [sa, sb]) {
      assert.equal(s.interface, "tp0");
      assert.equal(s.format, "current");
      assert.equal(s.transport, "ffi");
      const hs = s.peer.latest_handshake!;
      assert(hs !== null && hs <= now + 1 && now - hs < 120, `handshake at ${hs}, now ${now}`);
      assert(s.session_age_s !== null && s.session_age_s < 120);
      assert(s.uptime_s >= 1 && s.uptime_s < 300);
      assert.equal(s.tap_mtu, pair.mtu);
      assert.equal(s.path_mtu, 1500, "the veth's MTU");
      assert.equal(s.tap_mtu_advised, 1500 - 20 - 8 - 24 - 14, "IP, UDP, the format's 24 bytes, Ethernet");
      for (const k of ["tap_kernel_tx_dropped", "tap_kernel_rx_dropped", "socket_rx_overflow", "bad_tag"]) {
        assert.equal(typeof s.drops[k], "number", `drops.${k}`);
      }
      assert.equal(s.nonce_prefix, null);
    }
    // The human form says the same.
    const human = await tappetIn(pair.b.ns, ["status"]);
    assert.equal(human.code, 0, human.err.join("\n"));
    const text = human.out;
    assert.match(text, /^interface: tp0$/m);
    assert.match(text, new RegExp(`^  listening on: ${pair.b.underlay}:7011$`, "m"));
    assert.match(text, new RegExp(`^peer: ${sb.peer.public_key}$`, "m"));
    assert.match(text, new RegExp(`^  endpoint: ${bind}$`, "m"));
    assert.match(text, /^ {2}latest handshake: (\d+ seconds?|\d+ minutes?(, \d+ seconds?)?) ago$|Now/m);
    assert.match(text, /^ {2}transfer: [\d.]+ MiB received \(\d+ frames\), [\d.]+ (KiB|MiB) sent/m);
    assert.match(text, /^ {2}mtu: path 1500, tap \d+ \(fits\)$/m);
    // With the interface named, and with --control: the same tunnel.
    assert.equal((await statusJson(pair.b.ns, ["tp0"])).pid, sb.pid);
    // The control socket: in the namespace's directory, 0600, ours (root).
    const sock = `/run/tappet/netns-${pair.b.ns}/tp0.sock`;
    const st = Deno.statSync(sock);
    assert(st.isSocket);
    assert.equal(st.mode! & 0o777, 0o600);
    assert.equal(st.uid, 0, "owned by the user tappet runs as");
    assert.equal(Deno.statSync(`/run/tappet/netns-${pair.b.ns}`).mode! & 0o777, 0o755);
    assert.equal((await statusJson(pair.a.ns, ["--control", sock])).pid, sb.pid);
    // Another user may not read it: one line, exit 1.
    const other = await tappet(["status", "tp0"], { ns: pair.b.ns, user: true });
    assert.equal(other.code, 1);
    assert.equal(other.lines.length, 1, other.lines.join("\n"));
    assert.match(other.lines[0], /permission denied; run as root or as the user tappet runs as/);
    // Stopped: the socket is gone and status says so.
    assert.equal((await a.stop()).code, 0);
    assert.equal((await b.stop()).code, 0);
    assert.throws(() => Deno.statSync(sock), Deno.errors.NotFound);
    assert.throws(
      () => Deno.statSync(`/run/tappet/netns-${pair.b.ns}`),
      Deno.errors.NotFound,
      "its directory too",
    );
    const gone = await tappetIn(pair.b.ns, ["status", "tp0"]);
    assert.equal(gone.code, 1);
    assert.deepEqual(gone.err, [`tappet: tappet on tp0 is not running (no control socket ${sock})`]);
  },
);

bedTest(
  "status: a legacy tunnel shows its nonce prefix and no handshake",
  233,
  "tappet-ops-leg-",
  async ({ pair, dir, procs }) => {
    Deno.writeFileSync(`${dir}/na`, new Uint8Array([41, 0, 0, 0]));
    Deno.writeFileSync(`${dir}/nb`, new Uint8Array(4));
    const legacy = (n: string) => ["--protocol", "legacy", "--nonce-file", `${dir}/${n}`];
    await startBoth({ pair, dir, procs }, { extra: legacy("na") }, {
      extra: legacy("nb"),
    });
    assert.equal(await ping(pair.a.ns, pair.b.overlay, { count: 10, size: 1000 }), 10);
    // b first: every frame b has taken by then, a had sent by its read
    // (the tunnel is never quite silent: ARP, neighbour discovery).
    const sb = await statusJson(pair.b.ns);
    const sa = await statusJson(pair.a.ns);
    assert.equal(sa.format, "legacy");
    assert.equal(
      sa.nonce_prefix,
      42,
      "the prefix this run took from the nonce file (little-endian, as the 2014 program writes it)",
    );
    assert.equal(sb.nonce_prefix, 1);
    assert.equal(sa.peer.latest_handshake, null);
    assert.equal(sb.peer.endpoint, `${pair.a.underlay}:${sa.listen.split(":")[1]}`);
    // Ten 1000-byte pings: 1042-byte frames (Ethernet, IPv4, ICMP) each way, plus ARP.
    assert(sa.tx_bytes >= 10 * 1042 && sa.tx_bytes <= 10 * 1042 + 20 * 64, `a sent ${sa.tx_bytes}`);
    assert(sb.rx_bytes >= 10 * 1042 && sb.rx_bytes <= sa.tx_bytes);
    const human = await tappetIn(pair.a.ns, ["status"]);
    assert.match(human.out, /^ {2}nonce prefix: 42$/m);
    assert.doesNotMatch(human.out, /latest handshake/);
  },
);

bedTest(
  "--bind: the Deno socket too sends from the given address and port",
  247,
  "tappet-ops-bd-",
  async ({ pair, dir, procs }) => {
    const bind = `${pair.a.underlay}:41247`;
    await startBoth({ pair, dir, procs }, {
      extra: ["--bind", bind, "--transport", "deno"],
    });
    assert.equal((await statusJson(pair.a.ns)).transport, "deno");
    assert.equal((await statusJson(pair.a.ns)).listen, bind);
    assert.equal((await statusJson(pair.b.ns)).peer.endpoint, bind, "the server hears it from there");
  },
);
