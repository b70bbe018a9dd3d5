/**
 * The tunnel's counters: traffic, and every drop by reason. Incremented on
 * the packet path: each counter lives in a Float64Array, so that `+= n` on
 * a count beyond the small-integer range (a byte count passes 2^30 within
 * seconds) stores a double in place instead of allocating a heap number per
 * frame.
 *
 * @module
 */

/** The counters' names, in a fixed order (the Float64Array's slots). */
export const COUNTERS = [
  "rxDatagrams",
  "rxFrames",
  "rxBytes",
  "rxKeepalives",
  "txFrames",
  "txBytes",
  "txKeepalives",
  "dropTooShort",
  "dropTooLong",
  "dropBadTag",
  "dropReplay",
  "dropReflected",
  "dropRunt",
  "dropTapWrite",
  "dropTxRunt",
  "dropTxTooLong",
  "dropTxError",
  "rxErrors",
  "hsInitSent",
  "hsInitRecv",
  "hsRespSent",
  "hsRespRecv",
  "hsCookieSent",
  "hsCookieRecv",
  "handshakes",
  "hsSimultaneous",
  "hsGaveUp",
  "keysErased",
  "dropMalformed",
  "dropMac1",
  "dropHandshake",
  "dropUnknownPeer",
  "dropStaleInitiation",
  "dropRateLimited",
  "dropUnderLoad",
  "dropUnknownIndex",
  "dropExpired",
  "dropTxNoSession",
  // io/: the socket's and the TAP device's own counts (see io/counters.ts).
  "dropUncuttable",
  "rxJoined",
  "txGsoDatagrams",
  "rxGroDatagrams",
  "tsoSuperFrames",
  "dropTapDown",
  "dropTapFull",
  "dropTapInvalid",
  "dropTxMsgSize",
  "dropTxNetUnreach",
  "dropTxHostUnreach",
  "dropTxNoBufs",
  "dropTxPerm",
  "dropTxAddrNotAvail",
  "dropTxOther",
  // core/: the current format's sessions.
  "sessionsStarted",
  // core/pmtud.ts: path MTU probes (current format).
  "probesSent",
  "probeAcks",
  "probesAnswered",
  // tunnel/path.ts, core/mss.ts: frames that do not fit the path (issue 14).
  "mssClamped",
  "mtuTooBig",
  "mtuIcmpSent",
  "mtuIcmpLimited",
  "mtuFragmented",
  "mtuFragments",
  "mtuDropUnfragmentable",
  "mtuDropNotIp",
  "mtuDropMinIpv6",
  "mtuKernelFragmented",
] as const;

/** One of the counters' names. */
export type Counter = typeof COUNTERS[number];

/** Counters of one tunnel since start. Field names are stable: the `-v`
 * log at exit shows them as they are (one `name value` line each), and so
 * will `tappet status` and the metrics built on {@linkcode Stats.snapshot}. */
export interface Stats {
  /** Datagrams received from the socket, valid or not. */
  rxDatagrams: number;
  /** Frames written to the TAP device (refused ones are dropTapWrite). */
  rxFrames: number;
  /** Bytes of the frames written to the TAP device (Ethernet header on,
   * virtio_net_hdr off); refused frames are not counted. */
  rxBytes: number;
  /** Authenticated keepalives received. */
  rxKeepalives: number;
  /** Frames read from the TAP device and sent. */
  txFrames: number;
  /** Bytes of frames sent (before sealing). */
  txBytes: number;
  /** Keepalives sent (including the client's hello). */
  txKeepalives: number;
  /** Dropped: datagram too short to hold a nonce and a tag. */
  dropTooShort: number;
  /** Dropped: datagram larger than the receive buffer. */
  dropTooLong: number;
  /** Dropped: did not authenticate (junk, tampered, wrong key). */
  dropBadTag: number;
  /** Dropped: authenticated, but replayed or reordered. */
  dropReplay: number;
  /** Dropped (legacy format): our own datagram sent back to us, recognised
   * by the prefix and random bytes of our nonce. */
  dropReflected: number;
  /** Ignored: authenticated payload under 32 bytes, not a keepalive. */
  dropRunt: number;
  /** Dropped: frames the TAP device refused (e.g. interface down); one per
   * frame, also when the refused write was a super-frame of several. */
  dropTapWrite: number;
  /** Dropped: frame read from the TAP too short to send (< 32 bytes). */
  dropTxRunt: number;
  /** Dropped: frame read from the TAP too large for one datagram. */
  dropTxTooLong: number;
  /** Dropped: the socket refused a datagram (EMSGSIZE, ENETUNREACH, ...). */
  dropTxError: number;
  /** Receive calls that failed (the tunnel carried on). */
  rxErrors: number;
  /** Handshake initiations sent (first tries and retries). */
  hsInitSent: number;
  /** Handshake initiations from the peer that were answered. */
  hsInitRecv: number;
  /** Handshake responses sent. */
  hsRespSent: number;
  /** Handshake responses received and accepted. */
  hsRespRecv: number;
  /** Cookie replies sent instead of processing a handshake (under load). */
  hsCookieSent: number;
  /** Cookie replies received and accepted. */
  hsCookieRecv: number;
  /** Handshakes completed as initiator. */
  handshakes: number;
  /** Initiations answered while ours was in flight (both sides initiated). */
  hsSimultaneous: number;
  /** Handshakes given up after 90 s without an answer. */
  hsGaveUp: number;
  /** Times all keys were erased after 3 × the rekey time without a handshake. */
  keysErased: number;
  /** Dropped: unknown message type or wrong length. */
  dropMalformed: number;
  /** Dropped: handshake message without a valid mac1 (no answer, no DH). */
  dropMac1: number;
  /** Dropped: handshake message that failed to decrypt or authenticate. */
  dropHandshake: number;
  /** Dropped: initiation from a static key that is not the peer's. */
  dropUnknownPeer: number;
  /** Dropped: initiation whose timestamp is not newer than the last one. */
  dropStaleInitiation: number;
  /** Dropped: handshake message over the rate limit. */
  dropRateLimited: number;
  /** Dropped: handshake message under load without a valid mac2 (a cookie went back). */
  dropUnderLoad: number;
  /** Dropped: data for a session index we do not have. */
  dropUnknownIndex: number;
  /** Dropped: data for an expired session. */
  dropExpired: number;
  /** Dropped: a frame that waited for a session that never came. */
  dropTxNoSession: number;
  /** Dropped: super-frames read from the TAP (offloads on) that could not
   * be cut into frames (not TCP over IP). Counted by the TAP device. */
  dropUncuttable: number;
  /** Received frames the TAP writer joined into super-frames (GRO towards
   * the TAP, offloads on). Counted by the TAP device. */
  rxJoined: number;
  /** Datagrams sent in UDP GSO groups (one sendmsg for several). Counted by
   * the socket. */
  txGsoDatagrams: number;
  /** Datagrams that arrived joined by UDP GRO and were cut apart. Counted
   * by the socket. */
  rxGroDatagrams: number;
  /** TCP super-frames read from the TAP (offloads on) and cut into frames.
   * Counted by the TAP device. */
  tsoSuperFrames: number;
  /** Dropped: frames the TAP refused with EIO (interface down); part of dropTapWrite. */
  dropTapDown: number;
  /** Dropped: frames the TAP refused with EAGAIN (its queue full); part of dropTapWrite. */
  dropTapFull: number;
  /** Dropped: frames the TAP refused with EINVAL (malformed); part of dropTapWrite. */
  dropTapInvalid: number;
  /** Dropped: datagrams the socket refused with EMSGSIZE; part of dropTxError. */
  dropTxMsgSize: number;
  /** Dropped: datagrams refused with ENETUNREACH; part of dropTxError. */
  dropTxNetUnreach: number;
  /** Dropped: datagrams refused with EHOSTUNREACH; part of dropTxError. */
  dropTxHostUnreach: number;
  /** Dropped: datagrams refused with ENOBUFS; part of dropTxError. */
  dropTxNoBufs: number;
  /** Dropped: datagrams refused with EPERM (a firewall); part of dropTxError. */
  dropTxPerm: number;
  /** Dropped: datagrams refused with EADDRNOTAVAIL; part of dropTxError. */
  dropTxAddrNotAvail: number;
  /** Dropped: datagrams refused with any other errno; part of dropTxError. */
  dropTxOther: number;
  /** Sessions (current format) that started sealing, either role: the
   * first one and each rekey. */
  sessionsStarted: number;
  /** Path MTU probes sent (current format; each try counts). */
  probesSent: number;
  /** Acknowledgements of our probes received (authenticated, well formed;
   * late ones included). */
  probeAcks: number;
  /** The peer's probes answered with an acknowledgement. */
  probesAnswered: number;
  /** TCP SYN and SYN-ACK segments whose MSS option was lowered to fit the
   * path, both directions (core/mss.ts). */
  mssClamped: number;
  /** Frames read from the TAP too big for the path that called for an ICMP
   * error (IPv4 with DF, IPv6); dropped. */
  mtuTooBig: number;
  /** ICMP "fragmentation needed" / ICMPv6 "packet too big" written into the
   * TAP for them. */
  mtuIcmpSent: number;
  /** ICMP errors not sent: over the rate limit (100 a second). */
  mtuIcmpLimited: number;
  /** IPv4 frames without DF too big for the path, cut into fragments. */
  mtuFragmented: number;
  /** The fragments they were cut into (each sealed as a datagram). */
  mtuFragments: number;
  /** Dropped: IPv4 frames without DF that could not be cut (no fragment
   * buffer left in the batch, or no room for 8 bytes of data). */
  mtuDropUnfragmentable: number;
  /** Dropped: frames too big for the path that carry neither IPv4 nor IPv6. */
  mtuDropNotIp: number;
  /** Dropped: IPv6 frames of at most 1280 bytes of IP (IPv6's minimum MTU,
   * which no "packet too big" can lower) over a path too small for them,
   * when they cannot go out as fragmentable datagrams (the Deno socket, or
   * more than 8 in a batch). */
  mtuDropMinIpv6: number;
  /** Such IPv6 frames sent instead as datagrams the kernel may fragment
   * (DF off for them alone). */
  mtuKernelFragmented: number;
}

/** Counters of one tunnel since start (see the interface of the same name). */
export class Stats {
  /** The counters' values, one slot per name of {@linkcode COUNTERS}. */
  readonly values: Float64Array = new Float64Array(COUNTERS.length);

  /** All counters at this moment, a copy: `{ rxFrames: 12, ... }`, in
   * the order of {@linkcode COUNTERS}. */
  snapshot(): Record<Counter, number> {
    return Object.fromEntries(COUNTERS.map((name, i) => [name, this.values[i]])) as Record<Counter, number>;
  }

  /** The counters that are not zero as `name value` lines (for the log at
   * exit), in the order of {@linkcode COUNTERS}. */
  lines(): string[] {
    const out: string[] = [];
    COUNTERS.forEach((name: Counter, i) => {
      if (this.values[i] !== 0) out.push(`${name} ${this.values[i]}`);
    });
    return out;
  }

  /** Sum of the drops of received datagrams and of the frames they
   * carried (the TAP's refusals included). */
  get rxDropped(): number {
    return this.dropTooShort + this.dropTooLong + this.dropBadTag + this.dropReplay + this.dropReflected +
      this.dropRunt +
      this.dropTapWrite + this.dropMalformed + this.dropMac1 + this.dropHandshake + this.dropUnknownPeer +
      this.dropStaleInitiation + this.dropRateLimited + this.dropUnderLoad + this.dropUnknownIndex +
      this.dropExpired;
  }
}

COUNTERS.forEach((name, i) => {
  Object.defineProperty(Stats.prototype, name, {
    get(this: Stats): number {
      return this.values[i];
    },
    set(this: Stats, v: number) {
      this.values[i] = v;
    },
    enumerable: true,
  });
});
