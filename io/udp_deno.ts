/**
 * The {@linkcode Transport} over `Deno.listenDatagram` (needs
 * `--unstable-net`, set in deno.json).
 *
 * - The socket is bound to an explicit address: Deno's default hostname is
 *   127.0.0.1, which would never reach a peer.
 * - `receive()` gets one reusable buffer of full size. Without one Deno
 *   allocates 64 KiB per call; with a short one it truncates silently.
 * - DF is set on the socket through FFI ({@linkcode setDontFragment}).
 *
 * @module
 */

import { formatHostPort } from "../core/address.ts";
import type { PacketBuffer } from "../core/packet.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, Transport } from "./transport.ts";
import { findUdpFd, setDontFragment } from "./sockopt.ts";
import { bindError } from "./bind_error.ts";
import { errnoName } from "../ffi/libc.ts";
import { sendFailureSlot, Stats } from "./counters.ts";

/** What {@linkcode DenoUdpTransport.bind} reports besides the socket. */
export interface BindInfo {
  /** The socket's fd, found through getsockname(); -1 if not found. */
  readonly fd: number;
  /** Why DF could not be set, if it could not. */
  readonly dfError?: string;
}

/** A UDP socket made by `Deno.listenDatagram`; one datagram per call. */
export class DenoUdpTransport implements Transport {
  readonly local: Endpoint;
  readonly batch = 1;
  /** What binding found out about the socket. */
  readonly info: BindInfo;
  /** The counters this socket adds to. */
  readonly stats: Stats;
  readonly #conn: Deno.DatagramConn;
  #closed = false;

  private constructor(conn: Deno.DatagramConn, info: BindInfo, stats: Stats) {
    this.#conn = conn;
    this.stats = stats;
    this.local = conn.addr as Deno.NetAddr;
    this.info = info;
  }

  /**
   * Binds `hostname:port` (port 0: any free port). `family` is the address
   * family of the peer traffic (4 or 6). `stats`: the tunnel's counters,
   * which the socket adds its send failures to (a private object when
   * absent). Throws a one-line UserError naming the address when binding
   * fails (io/bind_error.ts).
   */
  static bind(hostname: string, port: number, family: 4 | 6, stats?: Stats): DenoUdpTransport {
    let conn: Deno.DatagramConn;
    try {
      conn = Deno.listenDatagram({ transport: "udp", hostname, port });
    } catch (e) {
      const where = formatHostPort({ hostname, port });
      throw bindError(bindErrorCode(e), where, port, (e as Error).message, e);
    }
    const bound = conn.addr as Deno.NetAddr;
    const fd = findUdpFd(bound.port, family);
    const dfError = fd < 0 ? "socket fd not found" : setDontFragment(fd, family);
    return new DenoUdpTransport(conn, { fd, dfError }, stats ?? new Stats());
  }

  async receive(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): Promise<number> {
    if (this.#closed) return 0;
    try {
      const [data, addr] = await this.#conn.receive(bufs[0].bytes);
      lengths[0] = data.length;
      from[0] = addr as Deno.NetAddr;
      return 1;
    } catch (e) {
      if (this.#closed) return 0;
      throw e;
    }
  }

  async send(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (failure: SendFailure) => void,
  ): Promise<void> {
    const addr = toNetAddr(to);
    for (let i = 0; i < count; i++) {
      if (this.#closed) return;
      try {
        await this.#conn.send(bufs[i].bytes.subarray(0, lengths[i]), addr);
      } catch (e) {
        if (this.#closed) return;
        const code = sendErrorCode(e);
        this.stats.values[sendFailureSlot(code)]++;
        onFailure({ code, length: lengths[i], to, message: (e as Error).message });
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

function toNetAddr(e: Endpoint): Deno.NetAddr {
  const a = e as Partial<Deno.NetAddr>;
  return a.transport === "udp" ? a as Deno.NetAddr : { transport: "udp", hostname: e.hostname, port: e.port };
}

/** The errno name of a failed send: Deno's `code` when it gives one, else
 * the "(os error N)" at the end of its message, else the error's name. */
function sendErrorCode(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code) return code;
  const os = /\(os error (\d+)\)/.exec((e as Error).message ?? "");
  return os ? errnoName(Number(os[1])) : (e as Error).name;
}

/** The name {@linkcode bindError} knows for a failure of Deno.listenDatagram. */
function bindErrorCode(e: unknown): string {
  if (e instanceof Deno.errors.AddrInUse) return "EADDRINUSE";
  if (e instanceof Deno.errors.AddrNotAvailable) return "EADDRNOTAVAIL";
  if (e instanceof Deno.errors.NotCapable) return "NotCapable";
  if (e instanceof Deno.errors.PermissionDenied) return "EACCES";
  return (e as { code?: string }).code ?? "";
}
