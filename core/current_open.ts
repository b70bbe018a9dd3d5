/**
 * The checks every transport message of the current format passes before
 * its plaintext is used (data, keepalives and probes alike;
 * docs/PROTOCOL.md §4 "Receiving"), in their order, each drop counted.
 *
 * @module
 */

import { DATA, readCounter } from "./current_wire.ts";
import type { PacketBuffer } from "./packet.ts";
import type { Sessions, TransportKeys } from "./sessions.ts";
import type { Stats } from "./stats.ts";
import type { TimersNs } from "./timers.ts";

/**
 * Opens the transport message `buf.bytes[0, length)` in place (its
 * plaintext is then `buf.payload[0, length - 24)`): the length, the
 * receiver index, the session's age, the counter against the limit and the
 * replay window (before any decryption, so a replay costs no crypto), the
 * tag; then the counter enters the window. Returns the session it opened
 * under, or undefined when it was dropped (counted in `stats`). No
 * allocation. `now`: ns.
 */
export function openTransport(
  sessions: Sessions,
  t: TimersNs,
  stats: Stats,
  buf: PacketBuffer,
  length: number,
  now: number,
): TransportKeys | undefined {
  const bytes = buf.bytes;
  if (length < DATA.OVERHEAD) {
    stats.dropTooShort++;
    return undefined;
  }
  const kp = sessions.byIndex(bytes[DATA.RECEIVER]);
  if (kp === undefined || now - kp.createdAt >= t.rejectAfter) {
    if (kp === undefined) stats.dropUnknownIndex++;
    else stats.dropExpired++;
    return undefined;
  }
  const counter = readCounter(bytes);
  if (counter >= t.rejectAfterMessages || !kp.replay.check(counter)) {
    // (A forged header is caught by the tag and never enters the window.)
    stats.dropReplay++;
    return undefined;
  }
  if (!kp.open(buf, length)) {
    stats.dropBadTag++;
    return undefined;
  }
  kp.replay.accept(counter);
  kp.lastOpenedAt = now;
  return kp;
}
