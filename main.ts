/**
 * The tappet command. It only parses the command line, dispatches, and maps
 * a failure to one line on stderr and an exit status: 0 success, 1 a failure
 * the message explains, 2 a usage error, 70 an internal error. No stack
 * traces unless -vv.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { cli, type Command } from "./cli/args.ts";
import { OsError, ReportedError, UserError } from "./errors.ts";
import { genpsk, keygen } from "./keygen.ts";
import { log, setupLogging, writeStderr } from "./log.ts";
import { runTunnel } from "./tunnel/run.ts";
import { tunnelConfigFromArgs } from "./cli/config.ts";

/** tappet's version, from deno.json. */
export const VERSION: string = denoJson.version;

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text.endsWith("\n") ? text : text + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

async function dispatch(command: Command): Promise<void> {
  switch (command.cmd) {
    case "keygen": {
      const files = keygen(command.name);
      log.info`wrote ${files.secretKeyFile} (secret, mode 0600) and ${files.publicKeyFile} (public)`;
      return;
    }
    case "genpsk": {
      const file = genpsk(command.file);
      log.info`wrote ${file} (pre-shared key, mode 0600): copy it to the peer and give both --psk ${file}`;
      return;
    }
    case "legacy":
    case "run":
      await runTunnel(tunnelConfigFromArgs(command));
      return;
  }
}

/** Runs tappet with `args`; resolves to the process exit status. */
export async function main(args: readonly string[]): Promise<number> {
  const parsed = cli(args, VERSION, { out: writeStdout, err: writeStderr });
  if (typeof parsed === "number") return parsed;
  const verbosity = "verbose" in parsed ? parsed.verbose : 0;
  setupLogging(verbosity);
  try {
    await dispatch(parsed);
    return 0;
  } catch (e) {
    return report(e, verbosity);
  }
}

function report(e: unknown, verbosity: number): number {
  if (e instanceof ReportedError) return e.exitCode;
  if (e instanceof UserError) {
    writeStderr(`tappet: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof Deno.errors.NotCapable) {
    writeStderr(
      `tappet: Deno did not grant a permission (${e.message}); run with --allow-ffi --allow-net --allow-read --allow-write`,
    );
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
