/**
 * Prometheus metrics: the numbers of {@linkcode TunnelStatus}, in the
 * Prometheus text exposition format, version 0.0.4
 * (prometheus.io/docs/instrumenting/exposition_formats), and the
 * `--metrics ADDRESS:PORT` HTTP server that serves them on `GET /metrics`.
 *
 * Written here rather than with prom-client: prom-client works under Deno,
 * but importing it loads Node's CommonJS loader and its http, https and
 * cluster modules, which cost every tappet process about 20 MB of memory and
 * 200 ms of start-up (measured) for what is a few lines of text: counters and
 * gauges, HELP and TYPE lines, escaped label values. The tests check the
 * output with `promtool check metrics` and a real Prometheus server.
 *
 * Every sample carries an `interface` label; values equal the status's JSON
 * keys named in each HELP line. The text is made per scrape from one status
 * taken then, so a scrape never sees a half-updated tunnel and the data path
 * never touches a metric.
 *
 * @module
 */
import { formatHostPort, type HostPort } from "../core/address.ts";
import { UserError } from "../errors.ts";
import type { TunnelStatus } from "./status.ts";

/** The Content-Type of the text exposition format, version 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Record<string, string>;

interface Def {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly labels?: readonly string[];
  /** The samples of one tunnel; a null value is left out. */
  readonly values: (st: TunnelStatus) => [Labels, number | null][];
}

/** The keys of a status whose value is one number (or null when unknown). */
type NumberKey = { [K in keyof TunnelStatus]: TunnelStatus[K] extends number | null ? K : never }[
  keyof TunnelStatus
];

const one = (v: (st: TunnelStatus) => number | null) => (st: TunnelStatus): [Labels, number | null][] => [
  [{}, v(st)],
];

/** The metric `tappet_${name}` that is the status key `key`; its HELP is
 * `what` and the key. */
const plain = (type: Def["type"]) => (name: string, key: NumberKey, what: string): Def => ({
  name: `tappet_${name}`,
  help: `${what} (status ${key}).`,
  type,
  values: one((st) => st[key]),
});
const counter = plain("counter");
const gauge = plain("gauge");

/** Every metric, in the order they are written. */
export const METRICS: readonly Def[] = [
  { name: "tappet_up", help: "1 while the tunnel runs.", type: "gauge", values: one(() => 1) },
  {
    name: "tappet_info",
    help: "Always 1; the labels say how the tunnel is set up (format, role, listen, transport, public_key).",
    type: "gauge",
    labels: ["format", "role", "listen", "transport", "public_key"],
    values: (st) => [[{
      format: st.format,
      role: st.role,
      listen: st.listen,
      transport: st.transport,
      public_key: st.peer.public_key,
    }, 1]],
  },
  counter("rx_bytes_total", "rx_bytes", "Bytes of frames received from the peer and written to the TAP"),
  counter("tx_bytes_total", "tx_bytes", "Bytes of frames read from the TAP and sent to the peer"),
  counter("rx_frames_total", "rx_frames", "Frames received from the peer and written to the TAP"),
  counter("tx_frames_total", "tx_frames", "Frames read from the TAP and sent to the peer"),
  {
    name: "tappet_drops_total",
    help: "Datagrams and frames dropped, by reason (status drops).",
    type: "counter",
    labels: ["reason"],
    values: (st) => Object.entries(st.drops).map(([reason, n]) => [{ reason }, n]),
  },
  {
    name: "tappet_latest_handshake_seconds",
    help: "Unix time of the last completed handshake, 0 before the first (status peer.latest_handshake).",
    type: "gauge",
    values: one((st) => st.peer.latest_handshake ?? 0),
  },
  gauge("uptime_seconds", "uptime_s", "Seconds since the tunnel started"),
  gauge("session_age_seconds", "session_age_s", "Age of the session in use in seconds, absent without one"),
  gauge("path_mtu_bytes", "path_mtu", "Path MTU to the peer in bytes, absent when unknown"),
  gauge("tap_mtu_bytes", "tap_mtu", "MTU of the TAP interface in bytes, absent when unknown"),
  gauge(
    "tap_mtu_advised_bytes",
    "tap_mtu_advised",
    "The TAP MTU that fits the path MTU in bytes, absent when unknown",
  ),
];

/** A HELP text with `\\` and newlines escaped, as the format requires. */
function escapeHelp(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** A label value with `\\`, `"` and newlines escaped, as the format requires. */
export function escapeLabel(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** A sample value: integers as decimal digits, others as JavaScript writes
 * a double (which Go's ParseFloat, used by Prometheus, reads back). */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return Number.isSafeInteger(v) ? v.toFixed(0) : String(v);
}

/** The exposition of `statuses` (one per tunnel): per metric a HELP and a
 * TYPE line, then its samples; ends with a newline. */
export function metricsText(statuses: readonly TunnelStatus[]): string {
  const lines: string[] = [];
  for (const def of METRICS) {
    lines.push(`# HELP ${def.name} ${escapeHelp(def.help)}`, `# TYPE ${def.name} ${def.type}`);
    for (const st of statuses) {
      for (const [labels, value] of def.values(st)) {
        if (value === null) continue;
        const all = Object.entries({ interface: st.interface, ...labels });
        const text = all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
        lines.push(`${def.name}{${text}} ${formatValue(value)}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * The `--metrics` HTTP server: `GET /metrics` (and `HEAD`) answers the
 * exposition of what `statuses()` returns at that moment; any other path is
 * 404, any other method 405. Off unless started. The server is async and
 * idle between scrapes; it never runs on the data path.
 */
export class MetricsServer {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #abort: AbortController;
  #closed = false;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>, abort: AbortController) {
    this.#server = server;
    this.#abort = abort;
  }

  /** The address the server listens on (port 0 asked → the one given). */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /**
   * Listens on `at`. Throws a one-line {@linkcode UserError} when the
   * address cannot be bound (in use, not local, not permitted).
   */
  static start(at: HostPort, statuses: () => readonly TunnelStatus[]): MetricsServer {
    const abort = new AbortController();
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: at.host,
        port: at.port,
        signal: abort.signal,
        onListen: () => {},
        onError: () => new Response("internal error\n", { status: 500 }),
      }, (req) => {
        const path = new URL(req.url).pathname;
        if (path !== "/metrics") return new Response("not found: try /metrics\n", { status: 404 });
        if (req.method !== "GET" && req.method !== "HEAD") {
          return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
        }
        const body = metricsText(statuses());
        return new Response(req.method === "HEAD" ? null : body, {
          headers: { "content-type": METRICS_CONTENT_TYPE },
        });
      });
    } catch (e) {
      const where = formatHostPort(at);
      if (e instanceof Deno.errors.AddrInUse) {
        throw new UserError(`--metrics ${where}: the address is in use: choose another port`, { cause: e });
      }
      if (e instanceof Deno.errors.AddrNotAvailable) {
        throw new UserError(`--metrics ${where}: no local interface has this address: give one it has`, {
          cause: e,
        });
      }
      if (e instanceof Deno.errors.PermissionDenied) {
        throw new UserError(
          `--metrics ${where}: binding this port needs privileges: choose a port above 1023`,
          {
            cause: e,
          },
        );
      }
      throw new UserError(`--metrics ${where}: cannot listen (${(e as Error).message})`, { cause: e });
    }
    return new MetricsServer(server, abort);
  }

  /** Stops listening and ends open connections; resolves when done. Twice
   * is harmless. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#abort.abort();
    }
    await this.#server.finished;
  }
}
