/**
 * Issue 11 items 1 and 3 against a running tappet in namespaces: hostile
 * control-socket clients (silent, garbage, 10 MB, 1000 connections) during
 * a verified TCP transfer, which completes at a speed comparable to one
 * without them; and `--metrics`: the text passes `promtool check metrics`,
 * its values equal `status --json`'s, and a real Prometheus server (Debian's
 * `prometheus`) in the namespace scrapes it and answers a query.
 */

import { strict as assert } from "node:assert";
import { transfer } from "../scripts/harness.ts";
import { waitForPing } from "../scripts/netns.ts";
import { bedTest, denoIn, have, promtoolCheck, startBoth, statusJson } from "./_ops.ts";

const BYTES = 64 * 1024 * 1024;

/** Reads what the server answers until it closes, at most 1 MiB. */
async function drain(c: Deno.UnixConn): Promise<string> {
  const buf = new Uint8Array(65536);
  let text = "";
  try {
    for (;;) {
      const n = await c.read(buf);
      if (n === null || text.length > 1 << 20) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch {
    // Reset by the server: also a way to be closed.
  }
  return text;
}

/** The four hostile clients of issue 11 item 1, against `path`; resolves
 * when the server has dealt with all of them. */
async function hostile(path: string): Promise<{ answers: string[]; refused: number }> {
  const open = () => Deno.connect({ transport: "unix", path });
  const answers: string[] = [];
  // Silent: connects and sends nothing; the deadline closes it.
  const silent = open().then(drain).then((t) => answers.push(t));
  // Garbage.
  const garbage = open().then(async (c) => {
    await c.write(crypto.getRandomValues(new Uint8Array(200)));
    answers.push(await drain(c));
  });
  // 10 MB: the read limit cuts it off.
  const big = open().then(async (c) => {
    const chunk = new Uint8Array(1 << 20).fill(0x41);
    try {
      for (let i = 0; i < 10; i++) await c.write(chunk);
    } catch {
      // Closed under us: expected.
    }
    answers.push(await drain(c));
  });
  // 1000 connections at once: past the cap they are closed at once.
  const many = await Promise.allSettled(Array.from({ length: 1000 }, open));
  const conns = many.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const texts = await Promise.all(conns.map(drain));
  await Promise.all([silent, garbage, big]);
  return { answers, refused: texts.filter((t) => t === "").length };
}

bedTest(
  "control socket: hostile clients during a verified transfer; the transfer completes at speed",
  239,
  "tappet-ops-hx-",
  async ({ pair, dir, procs }) => {
    await startBoth({ pair, dir, procs });
    const quiet = await transfer(pair, BYTES, 5239);
    assert.equal(quiet.received.sha256, quiet.sent.sha256);
    // b is the receiver: its loop takes the load while its socket is attacked.
    const sock = `/run/tappet/netns-${pair.b.ns}/tp0.sock`;
    // Rounds of attack for as long as the transfer runs.
    let done = false;
    const rounds: { answers: string[]; refused: number }[] = [];
    const attacking = (async () => {
      while (!done) rounds.push(await hostile(sock));
    })();
    const loud = await transfer(pair, BYTES, 5240).finally(() => (done = true));
    await attacking;
    assert.equal(loud.received.bytes, BYTES);
    assert.equal(loud.received.sha256, loud.sent.sha256, "the transfer under attack is intact");
    assert(rounds.length >= 1);
    for (const attack of rounds) {
      assert(attack.answers.every((t) => t === "" || /^\{"error":/.test(t)), attack.answers.join("|"));
      assert(attack.refused >= 900, `connections past the cap closed: ${attack.refused}`);
    }
    // Generous: the machine is shared, but a stalled loop would be far slower.
    assert(loud.mbps > quiet.mbps * 0.3, `${loud.mbps.toFixed(0)} vs ${quiet.mbps.toFixed(0)} Mbit/s`);
    console.log(
      `transfer ${quiet.mbps.toFixed(0)} Mbit/s quiet, ${loud.mbps.toFixed(0)} under ${rounds.length} rounds`,
    );
    // The server still answers, and the tunnel still runs.
    const s = await statusJson(pair.b.ns);
    assert(s.rx_bytes >= 2 * BYTES);
    assert(await waitForPing(pair.a.ns, pair.b.overlay, 5));
  },
);

/** The metric `name{interface="tp0"...}` in exposition text `text`. */
function sample(text: string, name: string, labels = ""): number {
  const re = new RegExp(`^${name}\\{interface="tp0"${labels}\\} (\\S+)$`, "m");
  const m = re.exec(text);
  assert(m, `${name}${labels} in:\n${text}`);
  return Number(m[1]);
}

bedTest(
  "metrics: a running tappet's /metrics passes promtool, equals status, and Prometheus scrapes it",
  240,
  "tappet-ops-mx-",
  async ({ pair, dir, procs }) => {
    await startBoth({ pair, dir, procs }, {}, { extra: ["--metrics", "127.0.0.1:9586"] });
    const r = await transfer(pair, 1024 * 1024, 5241);
    assert.equal(r.received.sha256, r.sent.sha256);
    const url = "http://127.0.0.1:9586/metrics";
    const before = await statusJson(pair.b.ns);
    const text = await denoIn(pair.b.ns, `console.log(await (await fetch("${url}")).text())`);
    const after = await statusJson(pair.b.ns);
    await promtoolCheck(text.trimEnd() + "\n");
    // Taken between two status reads: within their values.
    for (const key of ["rx_bytes", "tx_bytes", "rx_frames", "tx_frames"] as const) {
      const v = sample(text, `tappet_${key}_total`);
      assert(before[key] <= v && v <= after[key], `${key}: ${before[key]} ≤ ${v} ≤ ${after[key]}`);
    }
    assert.equal(sample(text, "tappet_drops_total", ',reason="bad_tag"'), after.drops.bad_tag);
    assert.equal(sample(text, "tappet_latest_handshake_seconds"), after.peer.latest_handshake);
    assert.equal(sample(text, "tappet_up"), 1);
    for (
      const name of ["rx_bytes_total", "tx_bytes_total", "drops_total", "latest_handshake_seconds", "up"]
    ) {
      assert.match(text, new RegExp(`^# HELP tappet_${name} `, "m"));
      assert.match(text, new RegExp(`^# TYPE tappet_${name} (counter|gauge)$`, "m"));
    }
    // A real Prometheus in b's namespace scrapes it every second.
    Deno.writeTextFileSync(
      `${dir}/prometheus.yml`,
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tappet\n` +
        `    static_configs:\n      - targets: ["127.0.0.1:9586"]\n`,
    );
    const prom = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        pair.b.ns,
        "prometheus",
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        "--web.listen-address=127.0.0.1:9587",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const query = `http://127.0.0.1:9587/api/v1/query?query=${
        encodeURIComponent('tappet_rx_bytes_total{interface="tp0"}')
      }`;
      let value: number | undefined;
      for (let i = 0; i < 60 && value === undefined; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const out = await denoIn(
          pair.b.ns,
          `try { const b = await (await fetch("${query}")).json(); console.log(JSON.stringify(b.data.result)); } catch { console.log("[]"); }`,
        );
        const result = JSON.parse(out);
        if (result.length > 0) value = Number(result[0].value[1]);
      }
      const now = await statusJson(pair.b.ns);
      assert(value !== undefined, "Prometheus answered the query");
      assert(value >= before.rx_bytes && value <= now.rx_bytes, `Prometheus says ${value}`);
    } finally {
      prom.kill("SIGTERM");
      await prom.status;
    }
  },
  !have("prometheus") || !have("promtool"),
);
