/**
 * The tunnel's counters: traffic, and every drop by reason. Plain numbers,
 * incremented on the packet path without allocating.
 *
 * @module
 */

/** Counters of one tunnel since start. Field names are stable: logs and the
 * observability interface show them as they are. */
export class Stats {
  /** Datagrams received from the socket, valid or not. */
  rxDatagrams = 0;
  /** Frames written to the TAP device. */
  rxFrames = 0;
  /** Bytes of frames written to the TAP device. */
  rxBytes = 0;
  /** Authenticated keepalives received. */
  rxKeepalives = 0;
  /** Frames read from the TAP device and sent. */
  txFrames = 0;
  /** Bytes of frames sent (before sealing). */
  txBytes = 0;
  /** Keepalives sent (including the client's hello). */
  txKeepalives = 0;

  /** Dropped: datagram too short to hold a nonce and a tag. */
  dropTooShort = 0;
  /** Dropped: datagram larger than the receive buffer. */
  dropTooLong = 0;
  /** Dropped: did not authenticate (junk, tampered, wrong key). */
  dropBadTag = 0;
  /** Dropped: authenticated, but replayed or reordered. */
  dropReplay = 0;
  /** Ignored: authenticated payload under 32 bytes, not a keepalive. */
  dropRunt = 0;
  /** Dropped: the TAP device refused a frame (e.g. interface down). */
  dropTapWrite = 0;
  /** Dropped: frame read from the TAP too short to send (< 32 bytes). */
  dropTxRunt = 0;
  /** Dropped: frame read from the TAP too large for one datagram. */
  dropTxTooLong = 0;
  /** Dropped: the socket refused a datagram (EMSGSIZE, ENETUNREACH, ...). */
  dropTxError = 0;
  /** Receive calls that failed (the tunnel carried on). */
  rxErrors = 0;

  /** All counters, for logs: `{ rxFrames: 12, ... }`. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(Object.entries(this)) as Record<string, number>;
  }

  /** Sum of the drops of received datagrams. */
  get rxDropped(): number {
    return this.dropTooShort + this.dropTooLong + this.dropBadTag + this.dropReplay + this.dropRunt +
      this.dropTapWrite;
  }
}
