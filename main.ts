/**
 * The tappet command. It only parses the command line, checks that Deno
 * granted what the command needs, dispatches, and maps a failure to one line
 * on stderr and an exit status: 0 success, 1 a failure the message explains,
 * 2 a usage error, 70 an internal error. No stack traces unless -vv.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import type { Command } from "./cli/args.ts";
import { cli } from "./cli/cli.ts";
import { missingPermission, permissionAdvice } from "./cli/permissions.ts";
import { OsError, ReportedError, UserError } from "./errors.ts";
import { genpsk, keygen, pubkey } from "./keygen.ts";
import { KEY_FILE_BYTES } from "./io/keyfile.ts";
import { setupLogging, writeStderr } from "./log.ts";
import { runTunnel } from "./tunnel/run.ts";
import { resolveRunCommand, runCommandOf, tunnelConfigFromArgs } from "./cli/config.ts";
import { statusCommand } from "./cli/status.ts";

/** tappet's version, from deno.json. */
export const VERSION: string = denoJson.version;

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text.endsWith("\n") ? text : text + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/** The first 65 bytes of stdin or fewer (all a key file's reader needs);
 * the caller zeroes them. */
function readStdinHead(): Uint8Array {
  const buf = new Uint8Array(KEY_FILE_BYTES);
  let got = 0;
  while (got < buf.length) {
    const n = Deno.stdin.readSync(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Runs `command`; resolves to the exit status. */
async function dispatch(command: Command, checkPermissions: boolean): Promise<number> {
  switch (command.cmd) {
    case "keygen": {
      // As ssh-keygen: where each half went, and the public key itself.
      const files = keygen(command.name);
      writeStdout(
        `Your secret key is in ${files.secretKeyFile} (mode 0600); it never leaves this host.\n` +
          `Your public key is in ${files.publicKeyFile}; give it to the peer. It is:\n${files.publicKeyHex}`,
      );
      return 0;
    }
    case "genpsk": {
      const file = genpsk(command.file);
      writeStdout(
        `Wrote ${file} (pre-shared key, mode 0600): copy it securely to the peer; give both --psk.`,
      );
      return 0;
    }
    case "pubkey":
      writeStdout(pubkey(readStdinHead()));
      return 0;
    case "legacy":
      await runTunnel(tunnelConfigFromArgs(command));
      return 0;
    case "run":
    case "run-config": {
      const run = runCommandOf(command);
      if (command.cmd === "run-config") {
        // The file's options: its verbosity, and the permissions they need.
        if (run.verbose !== undefined && run.verbose !== command.verbose) setupLogging(run.verbose);
        const missing = checkPermissions ? missingPermission(run) : undefined;
        if (missing !== undefined) throw new UserError(missing);
      }
      await runTunnel(tunnelConfigFromArgs(await resolveRunCommand(run)));
      return 0;
    }
    case "status": {
      const r = await statusCommand({ iface: command.iface, json: command.json, control: command.control });
      if (r.out !== "") writeStdout(r.out);
      for (const e of r.errors) writeStderr(`tappet: ${e}`);
      return r.code;
    }
  }
}

/** Runs tappet with `args`; resolves to the process exit status.
 * `checkPermissions: false` skips the check of Deno's permissions before
 * the command starts (for the test that shows each one is needed). */
export async function main(
  args: readonly string[],
  options: { checkPermissions?: boolean } = {},
): Promise<number> {
  const parsed = cli(args, VERSION, { out: writeStdout, err: writeStderr });
  if (typeof parsed === "number") return parsed;
  const verbosity = "verbose" in parsed ? parsed.verbose : 0;
  setupLogging(verbosity);
  try {
    const missing = options.checkPermissions === false ? undefined : missingPermission(parsed);
    if (missing !== undefined) throw new UserError(missing);
    return await dispatch(parsed, options.checkPermissions !== false);
  } catch (e) {
    return report(e, verbosity);
  }
}

function report(e: unknown, verbosity: number): number {
  if (e instanceof ReportedError) return e.exitCode;
  // Whatever wraps it (a load error, a UserError), a refused permission is
  // said as one, unless the message already names the flag.
  const advice = permissionAdvice(e);
  if (e instanceof UserError && (advice === undefined || e.message.includes("--allow-"))) {
    writeStderr(`tappet: ${e.message}`);
    return e.exitCode;
  }
  if (advice !== undefined) {
    writeStderr(`tappet: ${advice}`);
    return 1;
  }
  if (e instanceof OsError) {
    writeStderr(`tappet: ${e.message}`);
    return 1;
  }
  writeStderr(`tappet: internal error: ${(e as Error)?.message ?? String(e)} (run with -vv for details)`);
  if (verbosity >= 2 && e instanceof Error && e.stack) writeStderr(e.stack);
  return 70;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
