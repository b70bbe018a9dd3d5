/**
 * The frames the current format's engine keeps while no session can seal
 * (docs/PROTOCOL.md §6): at most {@linkcode MAX_STAGED}, oldest first.
 *
 * @module
 */

import type { Stats } from "./stats.ts";

/** Frames kept while no session exists. */
export const MAX_STAGED = 64;

/** Appends `frame` (owned from now on) to `staged`; when 64 wait already,
 * the oldest is dropped and counted (`dropTxNoSession`). */
export function stage(staged: Uint8Array[], frame: Uint8Array, stats: Stats): void {
  if (staged.length >= MAX_STAGED) {
    staged.shift();
    stats.dropTxNoSession++;
  }
  staged.push(frame);
}
