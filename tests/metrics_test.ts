/**
 * tunnel/metrics.ts over real HTTP: `promtool check metrics` accepts the
 * exposition, other paths are 404, and a real Prometheus server (Debian's
 * `prometheus` package), started here on loopback with a temporary config
 * and storage, scrapes the server and answers a query for
 * `tappet_rx_bytes_total` with the status's value. The package is installed
 * when missing (apt; retried while another apt holds the lock).
 */

import { strict as assert } from "node:assert";
import { escapeLabel, MetricsServer, metricsText } from "../tunnel/metrics.ts";
import { statusOf, type TunnelStatus } from "../tunnel/status.ts";
import { UserError } from "../errors.ts";
import { promtoolCheck } from "./_ops.ts";
import { isRoot } from "./_util.ts";
import { fakeSnapshot } from "./_status.ts";

function status(rxBytes: number): TunnelStatus {
  return statusOf(fakeSnapshot({
    iface: "tap-m0",
    format: "legacy",
    role: "connect",
    local: { hostname: "0.0.0.0", port: 40001 },
    offload: false,
    peerPublicKey: new Uint8Array(32).fill(0x5a),
    peer: { hostname: "198.18.0.2", port: 1011 },
    counters: { rxBytes, rxFrames: 7, txBytes: 640, txFrames: 5, dropReplay: 2, dropBadTag: 1 },
    noncePrefix: 3,
    uptimeMs: 9000,
    pathMtu: 1500,
    tapMtu: 1402,
    tapMtuAdvised: 1402,
  }));
}

Deno.test("label values are escaped as the exposition format says: backslash, quote, newline", () => {
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const text = metricsText([{ ...status(5), interface: 'tap"\\x' }]);
  assert.match(text, /^tappet_rx_bytes_total\{interface="tap\\"\\\\x"\} 5$/m);
  assert.equal(metricsText([]).split("\n").filter((l) => l !== "" && !l.startsWith("#")).length, 0);
});

function have(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** Installs Debian's prometheus package unless promtool and prometheus are there. */
async function ensurePrometheus(): Promise<boolean> {
  if (have("promtool") && have("prometheus")) return true;
  if (!isRoot()) return false;
  for (let i = 0; i < 20; i++) {
    const sh = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus";
    const r = await new Deno.Command("sh", { args: ["-c", sh], stdout: "null", stderr: "null" }).output();
    if (r.success) return true;
    await new Promise((res) => setTimeout(res, 15_000)); // the dpkg lock is busy
  }
  return false;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

Deno.test("metrics server: GET /metrics passes promtool, other paths 404, busy port one line", async () => {
  const server = MetricsServer.start({ host: "127.0.0.1", port: 0, family: 4 }, () => [status(12345)]);
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^tappet_rx_bytes_total\{interface="tap-m0"\} 12345$/m);
    const other = await fetch(`${base}/`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
    assert.throws(
      () => MetricsServer.start({ host: "127.0.0.1", port: server.addr.port, family: 4 }, () => []),
      (e: unknown) => e instanceof UserError && /the address is in use/.test(e.message),
    );
    if (!(await ensurePrometheus())) {
      console.warn("promtool not installed (apt-get install prometheus): check skipped");
      return;
    }
    await promtoolCheck(text);
    // Two tunnels, one with a name that needs escaping.
    await promtoolCheck(metricsText([status(1), { ...status(2), interface: 'tap"\\odd' }]));
  } finally {
    await server.close();
    await server.close();
  }
});

Deno.test({
  name: "a real Prometheus server scrapes tappet_rx_bytes_total",
  ignore: !isRoot() && !have("prometheus"),
  async fn() {
    assert(await ensurePrometheus(), "prometheus is not installed and could not be");
    let rx = 1_000_000;
    const server = MetricsServer.start({ host: "127.0.0.1", port: 0, family: 4 }, () => [status(rx)]);
    const dir = Deno.makeTempDirSync({ prefix: "tappet-prom-" });
    const promPort = freePort();
    Deno.writeTextFileSync(
      `${dir}/prometheus.yml`,
      [
        "global:",
        "  scrape_interval: 1s",
        "scrape_configs:",
        "  - job_name: tappet",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${server.addr.port}"]`,
        "",
      ].join("\n"),
    );
    const prom = new Deno.Command("prometheus", {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = prom.stderr.pipeTo(new WritableStream());
    try {
      rx = 1_234_567;
      const query = `http://127.0.0.1:${promPort}/api/v1/query?query=${
        encodeURIComponent('tappet_rx_bytes_total{interface="tap-m0"}')
      }`;
      let value: string | undefined;
      const until = Date.now() + 90_000;
      while (value === undefined && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 1000));
        try {
          const body = await (await fetch(query)).json();
          const result = body?.data?.result ?? [];
          if (result.length > 0) value = result[0].value[1];
        } catch {
          // Prometheus is still starting.
        }
      }
      assert.equal(value, "1234567", "Prometheus's answer for tappet_rx_bytes_total");
    } finally {
      prom.kill("SIGTERM");
      await prom.status;
      await stderr.catch(() => {});
      await server.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
