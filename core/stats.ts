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

  // The current format's handshake and its drops.
  /** Handshake initiations sent (first tries and retries). */
  hsInitSent = 0;
  /** Handshake initiations from the peer that were answered. */
  hsInitRecv = 0;
  /** Handshake responses sent. */
  hsRespSent = 0;
  /** Handshake responses received and accepted. */
  hsRespRecv = 0;
  /** Cookie replies sent instead of processing a handshake (under load). */
  hsCookieSent = 0;
  /** Cookie replies received and accepted. */
  hsCookieRecv = 0;
  /** Handshakes completed as initiator. */
  handshakes = 0;
  /** Initiations ignored because ours was in flight and wins the tie. */
  hsSimultaneous = 0;
  /** Handshakes given up after 90 s without an answer. */
  hsGaveUp = 0;
  /** Times all keys were erased after 3 × the rekey time without a handshake. */
  keysErased = 0;
  /** Dropped: unknown message type or wrong length. */
  dropMalformed = 0;
  /** Dropped: handshake message without a valid mac1 (no answer, no DH). */
  dropMac1 = 0;
  /** Dropped: handshake message that failed to decrypt or authenticate. */
  dropHandshake = 0;
  /** Dropped: initiation from a static key that is not the peer's. */
  dropUnknownPeer = 0;
  /** Dropped: initiation whose timestamp is not newer than the last one. */
  dropStaleInitiation = 0;
  /** Dropped: handshake message over the rate limit. */
  dropRateLimited = 0;
  /** Dropped: handshake message under load without a valid mac2 (a cookie went back). */
  dropUnderLoad = 0;
  /** Dropped: data for a session index we do not have. */
  dropUnknownIndex = 0;
  /** Dropped: data for an expired session. */
  dropExpired = 0;
  /** Dropped: a frame that waited for a session that never came. */
  dropTxNoSession = 0;

  /** The counters that are not zero, for logs: `{ rxFrames: 12, ... }`. */
  nonZero(): Record<string, number> {
    return Object.fromEntries(Object.entries(this).filter(([, v]) => v !== 0)) as Record<string, number>;
  }

  /** All counters, for logs: `{ rxFrames: 12, ... }`. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(Object.entries(this)) as Record<string, number>;
  }

  /** Sum of the drops of received datagrams. */
  get rxDropped(): number {
    return this.dropTooShort + this.dropTooLong + this.dropBadTag + this.dropReplay + this.dropRunt +
      this.dropTapWrite + this.dropMalformed + this.dropMac1 + this.dropHandshake + this.dropUnknownPeer +
      this.dropStaleInitiation + this.dropRateLimited + this.dropUnderLoad + this.dropUnknownIndex +
      this.dropExpired;
  }
}
