/**
 * The command line as the user meets it: help (`-h` and `--help` everywhere,
 * `tappet help X`), version, completion scripts, a misspelt subcommand, and
 * usage errors, before and around the pure {@linkcode parseArgs}.
 *
 * Errors, on stderr: a bad value (a port, an address) is its one line and
 * `Try 'tappet --help'`; a missing or unknown argument is its line, the one
 * usage line of the form it is closest to, and `Try 'tappet --help'`; the
 * whole usage block only for a bare `tappet`. Exit status 2 for all of them.
 *
 * @module
 */

import { isSubcommand, parseArgs, PROGRAM, SUBCOMMANDS } from "./args.ts";
import type { Command } from "./args.ts";
import { completionScript, SHELLS } from "./completion.ts";
import { helpPage, isHelpTopic, topHelp, usageBlock } from "./help.ts";
import { editDistance } from "./edit_distance.ts";

/** Output channels for {@linkcode cli}: `out` gets help, version and
 * scripts; `err` gets error lines, one per call. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (line: string) => void;
}

const TRY = `Try '${PROGRAM} --help' for more information.`;
const HELP = new Set(["-h", "--help"]);
const VERBOSE = /^(-v+|--verbose)$/;
/** First words that are not in SUBCOMMANDS but are handled here. */
const META = ["help", "completion", "version"];
/** The 2014 form's positional arguments. */
const LEGACY_POSITIONALS = 6;

export { editDistance };

/** The subcommand `word` is a likely typo of (at most 2 edits, and fewer
 * than half its letters), or undefined. */
export function closestCommand(word: string): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of [...Object.keys(SUBCOMMANDS), ...META]) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestD && d <= 2 && d < Math.max(c.length, word.length) / 2) [best, bestD] = [c, d];
  }
  return best;
}

/**
 * Parses the real command line. Returns the command to run, or an exit code
 * when it has already been handled: 0 after help, version or a completion
 * script, 2 after a usage error (on `io.err`, in the forms above). Never
 * exits the process itself.
 */
export function cli(rawArgs: readonly string[], version: string, io: CliIo): Command | number {
  // `tappet -v keygen X` is `tappet keygen -v X`.
  const lead = rawArgs.findIndex((a) => !VERBOSE.test(a));
  const args = lead > 0 && isSubcommand(rawArgs[lead])
    ? [rawArgs[lead], ...rawArgs.slice(0, lead), ...rawArgs.slice(lead + 1)]
    : rawArgs;
  const usageError = (line: string, usage?: string): number => {
    io.err(`${PROGRAM}: ${line}`);
    if (usage !== undefined) io.err(`usage: ${usage}`);
    io.err(TRY);
    return 2;
  };
  const first = args[0];
  if (first === undefined) {
    for (const line of usageBlock().split("\n")) io.err(line);
    io.err(TRY);
    return 2;
  }
  const wantsHelp = args.some((a) => HELP.has(a));
  if (HELP.has(first)) return show(io, topHelp());
  if (first === "--version" || first === "version") {
    if (wantsHelp) return show(io, helpPage("version"));
    return show(io, `${PROGRAM} ${version}\n`);
  }
  if (first === "help") {
    const topic = args[1];
    if (topic === undefined || HELP.has(topic)) return show(io, topic ? helpPage("help") : topHelp());
    if (isHelpTopic(topic)) return show(io, helpPage(topic));
    const near = closestCommand(topic);
    return usageError(
      `no help for '${topic}'${near ? `; did you mean '${near}'?` : ""}`,
      `${PROGRAM} help [COMMAND]`,
    );
  }
  if (first === "completion") {
    if (wantsHelp) return show(io, helpPage("completion"));
    const shell = args[1];
    const usage = `${PROGRAM} completion ${SHELLS.join("|")}`;
    if (shell === undefined) return usageError(`missing SHELL: give ${SHELLS.join(", ")}`, usage);
    if (!(SHELLS as readonly string[]).includes(shell)) {
      return usageError(`unknown shell '${shell}': give ${SHELLS.join(", ")}`);
    }
    if (args.length > 2) return usageError(`unknown argument '${args[2]}'`, usage);
    return show(io, completionScript(shell as (typeof SHELLS)[number]));
  }
  if (isSubcommand(first)) {
    if (wantsHelp) return show(io, helpPage(first));
  } else if (!first.startsWith("-")) {
    // Not a subcommand: the 2014 form, unless it is too short to be one and
    // its first word is close to a subcommand.
    if (wantsHelp) return show(io, helpPage("legacy"));
    const positionals = args.filter((a) => !a.startsWith("-")).length;
    const near = positionals < LEGACY_POSITIONALS ? closestCommand(first) : undefined;
    if (near !== undefined) return usageError(`unknown command '${first}'; did you mean '${near}'?`);
    if (args.length === 1) {
      return usageError(
        `unknown command '${first}': give one of ${[...Object.keys(SUBCOMMANDS), ...META].join(", ")}, ` +
          "or the 2014 form's six arguments",
        `${PROGRAM} IFACE NONCEFILE OURKEY THEIRPUB ADDRESS PORT [-l]`,
      );
    }
  } else if (wantsHelp) return show(io, topHelp());
  const parsed = parseArgs(args);
  if (parsed.ok) return parsed.command;
  return usageError(parsed.error, parsed.kind === "usage" ? parsed.usage : undefined);
}

function show(io: CliIo, text: string): number {
  io.out(text);
  return 0;
}
