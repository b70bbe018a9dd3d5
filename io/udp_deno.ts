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

import { UserError } from "../errors.ts";
import { formatHostPort } from "../core/address.ts";
import type { PacketBuffer } from "../core/packet.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { SendFailure, Transport } from "./transport.ts";
import { findUdpFd, setDontFragment } from "./sockopt.ts";

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
  readonly #conn: Deno.DatagramConn;
  #closed = false;

  private constructor(conn: Deno.DatagramConn, info: BindInfo) {
    this.#conn = conn;
    this.local = conn.addr as Deno.NetAddr;
    this.info = info;
  }

  /**
   * Binds `hostname:port` (port 0: any free port). `family` is the address
   * family of the peer traffic (4 or 6). Throws a one-line
   * {@linkcode UserError} naming the address when binding fails.
   */
  static bind(hostname: string, port: number, family: 4 | 6): DenoUdpTransport {
    let conn: Deno.DatagramConn;
    try {
      conn = Deno.listenDatagram({ transport: "udp", hostname, port });
    } catch (e) {
      throw bindError(e, formatHostPort({ hostname, port }), port);
    }
    const bound = conn.addr as Deno.NetAddr;
    const fd = findUdpFd(bound.port, family);
    const dfError = fd < 0 ? "socket fd not found" : setDontFragment(fd, family);
    return new DenoUdpTransport(conn, { fd, dfError });
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
        const code = (e as { code?: string }).code ?? (e as Error).name;
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

function bindError(e: unknown, where: string, port: number): UserError {
  const code = (e as { code?: string }).code;
  if (e instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    return new UserError(
      `UDP ${where} is already in use (another tappet?): stop that process or choose another port`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") {
    return new UserError(
      `cannot listen on ${where}: the address is not on any interface of this host; give a local address`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.NotCapable) {
    return new UserError(`cannot listen on ${where}: Deno needs --allow-net`, { cause: e });
  }
  if (e instanceof Deno.errors.PermissionDenied || code === "EACCES") {
    return new UserError(
      port < 1024
        ? `cannot listen on ${where}: ports below 1024 need privileges; use a port of 1024 or above, or give deno the capability cap_net_bind_service`
        : `cannot listen on ${where}: permission denied`,
      { cause: e },
    );
  }
  return new UserError(`cannot listen on ${where}: ${(e as Error).message}`, { cause: e });
}
