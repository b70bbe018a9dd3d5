/**
 * From a parsed command line to a tunnel's settings: the one place where the
 * 2014 form and the named-option form meet, and where options that do not
 * belong to the chosen wire format are refused.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { resolvePeer } from "../io/resolve.ts";
import type { TunnelConfig } from "../tunnel/run.ts";
import type { Command } from "./args.ts";
import { mergeRunOptions, type PartialRunOptions, readConfigFile, type RunOptions } from "./config_file.ts";

/** A `run` command: as parsed, or as merged from `--config FILE`. */
export type RunCommand = RunOptions & { readonly cmd: "run" };

/** Options that a config file may set but this tappet does not do yet. */
/**
 * The `run` command that `command` means: itself, or for `run --config
 * FILE` the file's options under those on the command line, then the
 * defaults. Throws a one-line {@linkcode UserError} for a bad file.
 */
export function runCommandOf(command: Extract<Command, { cmd: "run" | "run-config" }>): RunCommand {
  if (command.cmd === "run") return command;
  const { cmd: _cmd, config, listen, connect, verbose, ...rest } = command;
  if (listen !== undefined && connect !== undefined) {
    throw usage("give one of --listen or --connect, not both");
  }
  const given: PartialRunOptions = {
    ...rest,
    ...(listen !== undefined ? { role: "listen" as const, addr: listen } : {}),
    ...(connect !== undefined ? { role: "connect" as const, addr: connect } : {}),
    ...(verbose > 0 ? { verbose } : {}),
  };
  const merged: RunOptions = mergeRunOptions(readConfigFile(config), given, config);
  return { cmd: "run", ...merged };
}

/** `command` with its `--connect` host name resolved (system resolver,
 * /etc/hosts included), in `--bind`'s family when given. Throws a one-line
 * {@linkcode UserError} when the name does not resolve. */
export async function resolveRunCommand(command: RunCommand): Promise<RunCommand> {
  if (command.addr.name === undefined) return command;
  const at = await resolvePeer(command.addr, command.bind?.family);
  return { ...command, addr: { ...at, name: command.addr.name } };
}

function usage(message: string): UserError {
  return new UserError(message, { exitCode: 2 });
}

/** The tunnel settings of a `legacy` (2014 form) or `run` command. Throws a
 * usage {@linkcode UserError} for options that do not fit together. */
export function tunnelConfigFromArgs(
  command: Extract<Command, { cmd: "legacy" }> | RunCommand,
): TunnelConfig {
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
  const { host, family, name, port } = command.addr;
  if (host === undefined || family === undefined) throw new Error(`${name} is not resolved yet`);
  if (command.bind !== undefined) {
    if (command.role === "listen") {
      throw usage("--bind is for the client (--connect): a server binds its --listen address; drop --bind");
    }
    if (command.bind.family !== family) {
      throw usage(
        `--bind ${command.bind.host} and --connect ${
          name ?? host
        } are of different address families: give both IPv4 or both IPv6`,
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
    host,
    port,
    family,
    ...(command.bind !== undefined ? { bind: command.bind } : {}),
    ...(command.pathMtu !== undefined ? { pathMtu: command.pathMtu } : {}),
    ...(command.clampMss === "off" ? { clampMss: false } : {}),
    ...(command.setMtu === "on" ? { setMtu: true } : {}),
    ...(command.user !== undefined ? { user: command.user } : {}),
    ...(name !== undefined ? { peerName: name } : {}),
    ...(command.control !== undefined ? { control: command.control } : {}),
    ...(command.metrics !== undefined ? { metrics: command.metrics } : {}),
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
