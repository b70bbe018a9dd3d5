/**
 * Deno's permissions, per use: the exact `--allow-*` set each command needs
 * (the README's "Running it" lists the same), checked before the command
 * starts, so that a missing one is named as such rather than met later as
 * an error that looks like something else (a missing `--allow-ffi` used to
 * read "libsodium not found").
 *
 * @module
 */

import { controlDir, defaultControlPath } from "../io/control_path.ts";
import { deniedFlag } from "../io/file_error.ts";
import type { Command } from "./args.ts";
import type { RunCommand } from "./config.ts";

/** One permission a command needs: the flag that grants it, what for, and
 * the query that tells whether it was granted. */
interface Need {
  readonly flag: string;
  readonly why: string;
  readonly query: Deno.PermissionDescriptor;
}

const FFI: Need = {
  flag: "--allow-ffi",
  why: "libsodium, libc and the TAP device",
  query: { name: "ffi" },
};

function read(path: string): Need {
  return { flag: "--allow-read", why: `reading ${path}`, query: { name: "read", path } };
}

function write(path: string): Need {
  return { flag: "--allow-write", why: `writing ${path}`, query: { name: "write", path } };
}

function net(why: string): Need {
  return { flag: "--allow-net", why, query: { name: "net" } };
}

/** A Unix socket: Deno asks read, write and net (net also covers a host
 * name's lookup, `--metrics` and `--transport deno`). */
function controlSocket(path: string): Need[] {
  return [read(path), write(path), net(`the control socket ${path}`)];
}

/** What `command` needs, in the order the flags are usually written.
 * `--allow-env=TAPPET_LIBSODIUM,JOURNAL_STREAM` is never needed: without
 * it the variables are not read (libsodium is loaded by its usual name,
 * and log lines keep their usual form). */
export function needsOf(command: Command | RunCommand): Need[] {
  switch (command.cmd) {
    case "keygen": {
      const files = [`${command.name}.key`, `${command.name}.pub`];
      return [FFI, ...files.map(read), ...files.map(write)];
    }
    case "genpsk":
      return [FFI, read(command.file), write(command.file)];
    case "pubkey":
      return [FFI];
    case "legacy":
      return [
        FFI,
        read(command.ourKey),
        read(command.theirPub),
        read(command.nonceFile),
        write(command.nonceFile),
        ...controlSocket(defaultControlPath(command.iface)),
      ];
    case "run": {
      const needs = [FFI, read(command.key), read(command.peerKey)];
      if (command.psk !== undefined) needs.push(read(command.psk));
      if (command.nonceFile !== undefined) needs.push(read(command.nonceFile), write(command.nonceFile));
      needs.push(...controlSocket(command.control ?? defaultControlPath(command.tap)));
      return needs;
    }
    case "run-config":
      return [FFI, read(command.config)];
    case "status": {
      const socket = command.control ?? (command.iface ? defaultControlPath(command.iface) : controlDir());
      const ns: Need = { ...FFI, why: "finding this network namespace's socket directory" };
      return [ns, read(socket), write(socket), net(`connecting to ${socket}`)];
    }
  }
}

/** The flags `command` needs, each once: `--allow-ffi --allow-read`. */
export function flagsOf(command: Command | RunCommand): string[] {
  return [...new Set(needsOf(command).map((n) => n.flag))];
}

/** The one line saying which permission `command` lacks, or undefined when
 * Deno granted all it needs. Queries only; never prompts. */
export function missingPermission(command: Command | RunCommand): string | undefined {
  for (const need of needsOf(command)) {
    if (Deno.permissions.querySync(need.query).state === "granted") continue;
    const name = command.cmd === "legacy"
      ? "tappet (2014 form)"
      : `tappet ${command.cmd === "run-config" ? "run" : command.cmd}`;
    return `${name} needs Deno's ${need.flag} permission (for ${need.why}), which was not granted: ` +
      `run it with ${flagsOf(command).join(" ")}, or install the tappet command (scripts/install.sh)`;
  }
  return undefined;
}

/** The advice for an error caused by a permission Deno refused (in the
 * error or its causes), or undefined when it was not one. */
export function permissionAdvice(e: unknown): string | undefined {
  const flag = deniedFlag(e);
  if (flag === undefined) return undefined;
  return `Deno did not grant ${flag}: run tappet with ${flag} (see "Running it" in the README)`;
}
