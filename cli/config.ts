/**
 * From a parsed command line to a tunnel's settings: the one place where the
 * 2014 form and the named-option form meet.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import type { LegacyConfig } from "../tunnel/run.ts";
import type { Command } from "./args.ts";

/** The legacy tunnel settings of a `legacy` (2014 form) or `run` command. */
export function legacyConfigFromArgs(command: Extract<Command, { cmd: "legacy" | "run" }>): LegacyConfig {
  if (command.cmd === "legacy") {
    return {
      iface: command.iface,
      nonceFile: command.nonceFile,
      keyFile: command.ourKey,
      peerKeyFile: command.theirPub,
      listen: command.listen,
      host: command.address.host,
      port: command.port,
      family: command.address.family,
    };
  }
  if (command.nonceFile === undefined) {
    throw new UserError(
      "the legacy format needs --nonce-file FILE: make one with 'dd if=/dev/zero of=FILE bs=1 count=4'",
      { exitCode: 2 },
    );
  }
  return {
    iface: command.tap,
    nonceFile: command.nonceFile,
    keyFile: command.key,
    peerKeyFile: command.peerKey,
    listen: command.role === "listen",
    host: command.addr.host,
    port: command.addr.port,
    family: command.addr.family,
  };
}
