/**
 * The counters the socket and the TAP device keep themselves, in the
 * tunnel's one {@linkcode Stats} object (the runner hands it to both; each
 * makes a private one when it is not given). Each is a slot of
 * `Stats.values`, so counting allocates nothing.
 *
 * | counter | counted by | what |
 * |---|---|---|
 * | `txGsoDatagrams` | FFI socket | datagrams sent in UDP GSO groups |
 * | `rxGroDatagrams` | FFI socket | datagrams that arrived joined by UDP GRO |
 * | `tsoSuperFrames` | TAP | TCP super-frames read (offloads on) and cut into frames |
 * | `rxJoined` | TAP | frames joined into super-frames written to the TAP |
 * | `dropUncuttable` | TAP | super-frames read that could not be cut (not TCP over IP), dropped |
 * | `dropTapDown`, `dropTapFull`, `dropTapInvalid` | TAP | frames the TAP refused with EIO (interface down), EAGAIN (queue full), EINVAL (malformed); together the loop's `dropTapWrite` |
 * | `dropTxMsgSize`, `dropTxNetUnreach`, `dropTxHostUnreach`, `dropTxNoBufs`, `dropTxPerm`, `dropTxAddrNotAvail`, `dropTxOther` | either socket | datagrams the socket refused, by errno (EMSGSIZE, ENETUNREACH, EHOSTUNREACH, ENOBUFS, EPERM, EADDRNOTAVAIL, any other); together the loop's `dropTxError` |
 *
 * @module
 */

import { COUNTERS, Stats } from "../core/stats.ts";
import { Errno } from "../ffi/libc.ts";

/** The slot of counter `name` in `Stats.values`; throws (at import) for a
 * name COUNTERS lacks. */
export function slot(name: typeof COUNTERS[number]): number {
  const i = COUNTERS.indexOf(name);
  if (i < 0) throw new Error(`counter ${name} is not in COUNTERS (core/stats.ts)`);
  return i;
}

/** Slots of the counters above. */
export const GSO_DATAGRAMS = slot("txGsoDatagrams");
export const GRO_DATAGRAMS = slot("rxGroDatagrams");
export const TSO_SUPER_FRAMES = slot("tsoSuperFrames");
export const TAP_JOINED = slot("rxJoined");
export const DROP_UNCUTTABLE = slot("dropUncuttable");

const TAP_DOWN = slot("dropTapDown");
const TAP_FULL = slot("dropTapFull");
const TAP_INVALID = slot("dropTapInvalid");

/** The slot that counts a TAP write refused with errno `code`. */
export function tapRefusalSlot(code: number): number {
  switch (code) {
    case Errno.EIO:
      return TAP_DOWN;
    case Errno.EAGAIN:
      return TAP_FULL;
    default:
      return TAP_INVALID;
  }
}

const TX_MSGSIZE = slot("dropTxMsgSize");
const TX_NETUNREACH = slot("dropTxNetUnreach");
const TX_HOSTUNREACH = slot("dropTxHostUnreach");
const TX_NOBUFS = slot("dropTxNoBufs");
const TX_PERM = slot("dropTxPerm");
const TX_ADDRNOTAVAIL = slot("dropTxAddrNotAvail");
const TX_OTHER = slot("dropTxOther");

/** The slot that counts a datagram the socket refused with errno name `code`. */
export function sendFailureSlot(code: string): number {
  switch (code) {
    case "EMSGSIZE":
      return TX_MSGSIZE;
    case "ENETUNREACH":
      return TX_NETUNREACH;
    case "EHOSTUNREACH":
      return TX_HOSTUNREACH;
    case "ENOBUFS":
      return TX_NOBUFS;
    case "EPERM":
    case "EACCES":
      return TX_PERM;
    case "EADDRNOTAVAIL":
      return TX_ADDRNOTAVAIL;
    default:
      return TX_OTHER;
  }
}

export { Stats };
