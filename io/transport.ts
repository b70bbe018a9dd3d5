/**
 * The UDP side of the tunnel, behind a small interface: send datagrams to an
 * address, receive datagrams into buffers. The shape is batched (a batch of
 * one is fine). Implementations:
 *
 * - io/udp_ffi.ts, the default ("ffi"): tappet's own socket through FFI,
 *   recvmmsg/sendmmsg in batches with UDP GSO and GRO; it also offers the
 *   synchronous side, {@linkcode SyncTransport}, that the loop owning the
 *   main thread drives;
 * - io/udp_deno.ts ("deno"): `Deno.listenDatagram`, one datagram per call;
 * - io/fake.ts: an in-memory network for tests.
 *
 * @module
 */

import type { Endpoint } from "../core/endpoint.ts";
import type { PacketBuffer } from "../core/packet.ts";

/** Why a datagram was not sent. */
export type SendFailure = {
  /** errno name, e.g. "EMSGSIZE", "ENETUNREACH", "ENOBUFS". */
  readonly code: string;
  /** Length of the datagram that was dropped, bytes. */
  readonly length: number;
  /** Where it was going. */
  readonly to: Endpoint;
  /** Text for logs. */
  readonly message: string;
};

/**
 * A bound UDP socket.
 *
 * Close semantics: {@linkcode close} releases the socket at once; a pending
 * {@linkcode receive} then resolves to 0, and later sends are dropped.
 * Closing twice is harmless.
 */
export interface Transport {
  /** The address the socket is bound to. */
  readonly local: Endpoint;
  /** The most datagrams one {@linkcode receive} call can return. */
  readonly batch: number;
  /**
   * Waits until at least one datagram has arrived, then stores up to
   * `bufs.length` of them: datagram i in `bufs[i].bytes[0, lengths[i])`,
   * its source in `from[i]`. Returns how many, or 0 once closed. A length
   * of `bufs[i].bytes.length` means the datagram may have been truncated.
   */
  receive(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): Promise<number>;
  /**
   * Sends `bufs[i].bytes[0, lengths[i])` for i < `count`, all to `to`.
   * Resolves once the buffers may be reused. A datagram the kernel refuses
   * is dropped and reported to `onFailure`; sending carries on with the
   * next one.
   */
  send(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (failure: SendFailure) => void,
  ): Promise<void>;
  /** Releases the socket. */
  close(): void;
  /** Present when the socket can be driven synchronously by a loop that
   * polls its fd itself (the FFI socket); absent for Deno's. */
  readonly sync?: SyncTransport;
}

/**
 * The synchronous side of a Transport, for the loop that owns the main
 * thread: no promise per call, so nothing is allocated per batch.
 */
export interface SyncTransport {
  /** The socket's fd, to poll for readability. */
  readonly fd: number;
  /** As {@linkcode Transport.receive}, but returns 0 at once when nothing
   * is queued. Throws an OsError on a socket error. */
  receiveNow(bufs: PacketBuffer[], lengths: Int32Array, from: Endpoint[]): number;
  /** As {@linkcode Transport.send}, done when it returns. May block while
   * the socket's send buffer is full. */
  sendNow(
    bufs: PacketBuffer[],
    lengths: Int32Array,
    count: number,
    to: Endpoint,
    onFailure: (failure: SendFailure) => void,
  ): void;
}
