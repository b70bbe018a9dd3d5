/**
 * The options of the current format's engine (`current_engine.ts`).
 *
 * @module
 */

import type { Endpoint } from "./endpoint.ts";
import type { KeyPair } from "./noise_crypto.ts";
import type { Stats } from "./stats.ts";
import type { Timers } from "./timers.ts";

/** Options of a `CurrentEngine`. Keys are copied. */
export interface CurrentEngineOptions {
  /** Our static X25519 secret key (the .key file), 32 bytes. */
  secretKey: Uint8Array;
  /** The peer's static public key (its .pub file), 32 bytes. */
  peerPublic: Uint8Array;
  /** The pre-shared key, 32 bytes; 32 zero bytes when absent. */
  psk?: Uint8Array;
  /** The peer's address when we connect; undefined when we listen. */
  peer?: Endpoint;
  /** Start-up time, ns (the clock of `engine.ts`). */
  now: number;
  /** Wall-clock time, ms since the Unix epoch (for the initiation timestamp). */
  wallClock: () => number;
  /** At most this many ms pass between two datagrams to the peer (NAT
   * mappings stay open); 0: no such rule. */
  persistentKeepaliveMs?: number;
  /** Shorter timers, for tests. */
  timers?: Partial<Timers>;
  /** Counters to use; a new set by default. */
  stats?: Stats;
  /** Ephemeral key generator (tests inject deterministic ones); the engine
   * owns and erases the pairs it returns. */
  generateKeyPair?: () => KeyPair;
  /** A number in [0, 1) for the retry jitter. */
  random?: () => number;
  /** A session index, 0..255 (tests make them predictable); random by default. */
  randomIndex?: () => number;
  /** The largest datagram to probe the path with, bytes of UDP payload (the
   * local interface's MTU less the IP and UDP headers); undefined: no path
   * MTU probing (`pmtud.ts`). Probes from the peer are answered either way. */
  probeCeiling?: number;
}
