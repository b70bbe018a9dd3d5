/**
 * From a parsed command line to a tunnel's settings: the one place where the
 * 2014 form and the named-option form meet, and where options that do not
 * belong to the chosen wire format are refused.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import type { TunnelConfig } from "../tunnel/run.ts";
import type { Command } from "./args.ts";

function usage(message: string): UserError {
  return new UserError(message, { exitCode: 2 });
}

/** The tunnel settings of a `legacy` (2014 form) or `run` command. Throws a
 * usage {@linkcode UserError} for options that do not fit together. */
export function tunnelConfigFromArgs(command: Extract<Command, { cmd: "legacy" | "run" }>): TunnelConfig {
  if (command.cmd === "legacy") {
    return {
      protocol: "legacy",
      transport: "ffi",
      offload: true,
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
  if (command.bind !== undefined) {
    if (command.role === "listen") {
      throw usage("--bind is for the client (--connect): a server binds its --listen address; drop --bind");
    }
    if (command.bind.family !== command.addr.family) {
      throw usage(
        `--bind ${command.bind.host} and --connect ${command.addr.host} are of different address families: give both IPv4 or both IPv6`,
      );
    }
  }
  const common = {
    transport: command.transport,
    offload: command.offload === "on",
    iface: command.tap,
    keyFile: command.key,
    peerKeyFile: command.peerKey,
    listen: command.role === "listen",
    host: command.addr.host,
    port: command.addr.port,
    family: command.addr.family,
    ...(command.bind !== undefined ? { bind: command.bind } : {}),
    ...(command.pathMtu !== undefined ? { pathMtu: command.pathMtu } : {}),
    ...(command.clampMss === "off" ? { clampMss: false } : {}),
    ...(command.setMtu === "on" ? { setMtu: true } : {}),
  };
  if (command.protocol === "legacy") {
    if (command.psk !== undefined) {
      throw usage("--psk works with the current format only: drop it, or drop --protocol legacy");
    }
    if (command.keepalive !== undefined) {
      throw usage(
        "--keepalive works with the current format only (the legacy format sends one after 10 s of silence): drop it",
      );
    }
    if (command.nonceFile === undefined) {
      throw usage(
        "the legacy format needs --nonce-file FILE: make one with 'dd if=/dev/zero of=FILE bs=1 count=4'",
      );
    }
    return { protocol: "legacy", ...common, nonceFile: command.nonceFile };
  }
  if (command.nonceFile !== undefined) {
    throw usage(
      "--nonce-file is for the legacy format only; the current format needs none: drop it, or add --protocol legacy",
    );
  }
  return { protocol: "current", ...common, pskFile: command.psk, keepaliveSeconds: command.keepalive };
}
