/**
 * Making the FFI transport's UDP socket: bound, with large buffers, DF and
 * UDP GRO asked for. Kept apart from the transport, which only moves
 * datagrams.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { formatHostPort } from "../core/address.ts";
import { C, closeQuietly, errno, errnoName, libc, osError, strerror } from "../ffi/libc.ts";
import { setDontFragment } from "./sockopt.ts";
import { decodeSockaddr, sockaddr, SOCKADDR_STORAGE_BYTES } from "./sockaddr.ts";
import { bindError } from "./bind_error.ts";
import type { Endpoint } from "../core/endpoint.ts";

/** Socket buffer size asked for, each way, bytes. */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** What binding found out about the socket. */
export interface FfiBindInfo {
  /** The socket's fd. */
  readonly fd: number;
  /** Why DF could not be set, if it could not. */
  readonly dfError?: string;
  /** The receive buffer size the kernel granted, bytes. */
  readonly rcvbuf: number;
  /** The send buffer size the kernel granted, bytes. */
  readonly sndbuf: number;
  /** True when the kernel joins received datagrams for it (UDP_GRO, Linux 5.0). */
  readonly gro: boolean;
}

/** A bound socket: its fd (the caller owns it), where it is bound, and
 * whether the kernel joins datagrams for it (UDP_GRO accepted). */
export interface BoundSocket {
  readonly fd: number;
  readonly local: Endpoint;
  readonly info: FfiBindInfo;
  readonly gro: boolean;
}

/**
 * A UDP socket of address family `family` bound to `hostname:port` (port 0:
 * any free port): IPv6-only for family 6, buffers of
 * {@linkcode SOCKET_BUFFER_BYTES} each way (SO_*BUFFORCE when permitted, else
 * as much as net.core.[rw]mem_max allows), DF set, UDP_GRO on when the kernel
 * has it. Blocking, close-on-exec. Throws a one-line {@linkcode UserError}
 * naming the address when binding fails; no fd stays open then.
 */
export function bindUdpSocket(hostname: string, port: number, family: 4 | 6): BoundSocket {
  const c = libc();
  const fd = c.socket(family === 6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new UserError(`cannot make a UDP socket: ${strerror(errno())}`);
  try {
    const int = new Int32Array(1);
    const intBytes = new Uint8Array(int.buffer);
    if (family === 6) {
      int[0] = 1;
      c.setsockopt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, intBytes, 4);
    }
    for (const [force, plain] of [[C.SO_RCVBUFFORCE, C.SO_RCVBUF], [C.SO_SNDBUFFORCE, C.SO_SNDBUF]]) {
      int[0] = SOCKET_BUFFER_BYTES;
      if (c.setsockopt(fd, C.SOL_SOCKET, force, intBytes, 4) < 0) {
        c.setsockopt(fd, C.SOL_SOCKET, plain, intBytes, 4);
      }
    }
    const sa = sockaddr({ hostname, port }, family);
    if (c.bind(fd, sa, sa.length) < 0) {
      const code = errno();
      const where = formatHostPort({ hostname, port });
      throw bindError(errnoName(code), where, port, strerror(code), osError("bind", code));
    }
    const bound = new Uint8Array(SOCKADDR_STORAGE_BYTES);
    const len = new Uint32Array([SOCKADDR_STORAGE_BYTES]);
    c.getsockname(fd, bound, new Uint8Array(len.buffer));
    const local = decodeSockaddr(bound) ?? { hostname, port };
    const dfError = setDontFragment(fd, family);
    const get = (opt: number) => {
      const l = new Uint32Array([4]);
      c.getsockopt(fd, C.SOL_SOCKET, opt, intBytes, new Uint8Array(l.buffer));
      return int[0];
    };
    int[0] = 1;
    const gro = c.setsockopt(fd, C.SOL_UDP, C.UDP_GRO, intBytes, 4) === 0;
    const info = { fd, dfError, rcvbuf: get(C.SO_RCVBUF), sndbuf: get(C.SO_SNDBUF), gro };
    return { fd, local, info, gro };
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}
