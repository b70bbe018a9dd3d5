/**
 * What the runner reads at start besides the TAP and the socket: our secret
 * key and the peer's public key (checked against each other), the PSK, and
 * the test-only timer override. Each secret comes back in a buffer the
 * caller owns and zeroes.
 *
 * @module
 */

import { TIMERS, type Timers } from "../core/current_engine.ts";
import { UserError } from "../errors.ts";
import { constantTimeEqual, memzero, publicKeyOf } from "../ffi/sodium.ts";
import { readKeyFile } from "../io/keyfile.ts";
import { log } from "../log.ts";
import type { TunnelConfig } from "./run.ts";
import { RUNNER_TIMERS, type RunnerTimers } from "./watch.ts";

/** Our secret key and the peer's public key, checked against each other.
 * The caller zeroes the secret key. */
export function loadKeys(
  config: TunnelConfig,
): { secret: Uint8Array<ArrayBuffer>; peer: Uint8Array<ArrayBuffer> } {
  if (config.keyFile.endsWith(".pub")) {
    throw new UserError(
      `secret key file ${config.keyFile} looks like a public key (.pub): give our NAME.key, and the peer's NAME.pub as the peer key`,
    );
  }
  if (config.peerKeyFile.endsWith(".key")) {
    throw new UserError(
      `peer public key file ${config.peerKeyFile} looks like a secret key (.key): give the peer's NAME.pub, never a secret key`,
    );
  }
  const secret = readKeyFile(config.keyFile, "secret", (m) => log.warn`${m}`);
  try {
    const peer = readKeyFile(config.peerKeyFile, "public");
    const ours = publicKeyOf(secret);
    if (constantTimeEqual(ours, peer)) {
      throw new UserError(
        `peer public key file ${config.peerKeyFile} holds our own public key: give the peer's NAME.pub`,
      );
    }
    if (constantTimeEqual(secret, peer)) {
      throw new UserError(
        `peer public key file ${config.peerKeyFile} holds the same key as ${config.keyFile}: give the peer's NAME.pub`,
      );
    }
    return { secret, peer };
  } catch (e) {
    memzero(secret);
    throw e;
  }
}

/** The environment variable through which tests shorten the current
 * format's timers and the runner's own (tunnel/watch.ts): JSON such as
 * `{"rekeyAfterMs": 50}`. Read only when Deno grants access to it; never
 * set it in production. */
export const TEST_TIMERS_ENV = "TAPPET_TEST_TIMERS";

export function testTimers(): Partial<Timers & RunnerTimers> | undefined {
  const perm = Deno.permissions.querySync({ name: "env", variable: TEST_TIMERS_ENV });
  if (perm.state !== "granted") return undefined;
  const text = Deno.env.get(TEST_TIMERS_ENV);
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`${TEST_TIMERS_ENV} is not JSON: unset it`);
  }
  const timers: Partial<Timers & RunnerTimers> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(k in TIMERS || k in RUNNER_TIMERS) || typeof v !== "number" || !(v > 0)) {
      throw new UserError(`${TEST_TIMERS_ENV}: ${k} is not a timer or not a positive number: unset it`);
    }
    timers[k as keyof (Timers & RunnerTimers)] = v;
  }
  log.warn`${TEST_TIMERS_ENV} shortens the timers (${text}): for tests only`;
  return timers;
}

/** The PSK file's key, or undefined without one. The caller zeroes it. */
export function loadPsk(file: string | undefined): Uint8Array<ArrayBuffer> | undefined {
  if (file === undefined) return undefined;
  return readKeyFile(file, "psk", (m) => log.warn`${m}`);
}
