/**
 * Why no handshake completed: the likely cause, named from a tunnel's
 * counters (`stats.ts`) alone, for the message a runner prints when a tunnel
 * has carried nothing for a while (issue 12, item 2). Pure: no clock, no
 * I/O; the runner decides when to ask (e.g. 15 s after start or after the
 * last session ended, then at most every 5 minutes) and may pass the
 * counters' growth since then instead of their totals.
 *
 * The causes, most specific evidence first:
 *
 *     unknown-key      current: initiations came (mac1 valid) with a static key
 *                      other than our peer key: the other side's key pair is
 *                      not the one our peer key names
 *     other-key-for-us current: handshake messages fail mac1: their sender
 *                      holds another public key for us
 *     psk              current: a response passed mac1 but did not decrypt:
 *                      the pre-shared keys differ (or only one side has one)
 *     unconfirmed      current: we answered initiations but no datagram came
 *                      under the session: PSK mismatch, or our answers are lost
 *     bad-key          legacy: datagrams came and none opened: the peer's key is
 *                      not the one in THEIRPUB, or it holds another key for us
 *     no-answer        current: initiations sent and nothing came back
 *     silence          nothing was sent or received (a listener nobody reaches)
 *
 * A legacy client that hears nothing gets no diagnosis: on an idle legacy
 * tunnel the server sends nothing while the client's keepalives arrive.
 *
 * @module
 */

import type { Stats } from "./stats.ts";

/** The counters the diagnosis reads. A `Stats` is one. */
export type DiagnosisCounts = Readonly<
  Pick<
    Stats,
    | "rxDatagrams"
    | "rxFrames"
    | "rxKeepalives"
    | "txKeepalives"
    | "hsInitSent"
    | "hsRespSent"
    | "hsRespRecv"
    | "hsCookieRecv"
    | "handshakes"
    | "sessionsStarted"
    | "dropBadTag"
    | "dropMac1"
    | "dropHandshake"
    | "dropUnknownPeer"
  >
>;

/** One of the causes of the module comment. */
export type Cause =
  | "unknown-key"
  | "other-key-for-us"
  | "psk"
  | "unconfirmed"
  | "bad-key"
  | "no-answer"
  | "silence";

/** A likely cause, in words for the log (one line, no secrets). */
export interface Diagnosis {
  readonly cause: Cause;
  readonly message: string;
}

/**
 * The likely cause of "no handshake completed" (current) or "nothing
 * authenticated came" (legacy) given the counters, or undefined when the
 * counters show a working session.
 */
export function diagnose(c: DiagnosisCounts, format: "current" | "legacy"): Diagnosis | undefined {
  return format === "current" ? current(c) : legacy(c);
}

function current(c: DiagnosisCounts): Diagnosis | undefined {
  if (c.sessionsStarted > 0 || c.handshakes > 0) return undefined;
  if (c.dropUnknownPeer > 0) {
    return {
      cause: "unknown-key",
      message: `${c.dropUnknownPeer} handshake initiation(s) came from a key that is not our peer key: ` +
        "the peer key given here is not the other side's public key (or a stranger has ours)",
    };
  }
  if (c.dropMac1 > 0) {
    return {
      cause: "other-key-for-us",
      message: `${c.dropMac1} handshake message(s) failed mac1: ` +
        "the sender holds another public key for us (its peer key is not our public key)",
    };
  }
  if (c.dropHandshake > 0) {
    return {
      cause: "psk",
      message: `${c.dropHandshake} handshake message(s) passed mac1 but did not decrypt: ` +
        "the pre-shared keys differ (or only one side uses one)",
    };
  }
  if (c.hsRespSent > 0) {
    return {
      cause: "unconfirmed",
      message: `${c.hsRespSent} initiation(s) answered, but the peer never used the session: ` +
        "the pre-shared keys differ, or our answers do not reach it",
    };
  }
  if (c.hsInitSent > 0) {
    const cookie = c.hsCookieRecv > 0 ? " (the peer answered with cookies: it is under load)" : "";
    return {
      cause: "no-answer",
      message: `${c.hsInitSent} handshake initiation(s) sent, no answer${cookie}: the peer is down, ` +
        "its address or port is wrong, a firewall drops UDP, or our peer key is not its public key",
    };
  }
  return silence(c);
}

function legacy(c: DiagnosisCounts): Diagnosis | undefined {
  if (c.rxFrames > 0 || c.rxKeepalives > 0) return undefined;
  if (c.dropBadTag > 0) {
    return {
      cause: "bad-key",
      message: `${c.dropBadTag} datagram(s) failed to open: ` +
        "the peer's key is not the one in THEIRPUB, or it holds another key for us",
    };
  }
  // A legacy client may hear nothing on an idle tunnel (its own keepalives
  // keep the server's back), so silence towards a sender proves nothing.
  if (c.txKeepalives > 0) return undefined;
  return silence(c);
}

function silence(c: DiagnosisCounts): Diagnosis {
  return {
    cause: "silence",
    message: c.rxDatagrams > 0
      ? `${c.rxDatagrams} datagram(s) came, none of them a handshake for us`
      : "nothing came from the peer: it is not running, has the wrong address for us, or a firewall drops UDP",
  };
}
