/**
 * Logging through LogTape. Quiet by default, as the 2014 program is: only
 * warnings and errors reach stderr. `-v` adds information (peer changes,
 * start-up, counters at exit), `-vv` debug detail.
 *
 * Messages caused by network input (send failures, a refused frame) are
 * logged under the `["tappet", "net"]` category, which is rate-limited so
 * that a flood cannot flood the log: at most 5 lines per message per 10 s,
 * then a summary of how many were suppressed.
 *
 * Under systemd (`JOURNAL_STREAM` set, and readable: `--allow-env` must
 * name it) a line is `<N>text`: the syslog priority journald files it at
 * (sd-daemon(3): `<3>` error, `<4>` warning, `<6>` info, `<7>` debug),
 * without the `tappet: ` prefix and the level word, which the journal shows
 * itself, and without a timestamp (the journal adds one). Elsewhere: a line
 * is `tappet: warning: text` (`tappet: text` at info), without a timestamp.
 *
 * Secret keys are never logged: no code passes key material to a logger.
 *
 * @module
 */

import {
  configureSync,
  getLogger,
  getThrottlingFilter,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

/** The logger for start-up, shutdown and state changes. */
export const log: Logger = getLogger(["tappet"]);
/** The rate-limited logger for events caused by network input. */
export const netLog: Logger = getLogger(["tappet", "net"]);

/** The lowest level shown for a `-v` count: 0 → warning, 1 → info, 2 → debug. */
export function levelFor(verbosity: number): LogLevel {
  return verbosity <= 0 ? "warning" : verbosity === 1 ? "info" : "debug";
}

/** syslog priorities (RFC 5424 section 6.2.1, sd-daemon(3)) of LogTape's levels. */
const PRIORITY: Record<LogLevel, number> = { fatal: 2, error: 3, warning: 4, info: 6, debug: 7, trace: 7 };

/** The environment variable systemd sets for a service whose stderr goes to the journal. */
export const JOURNAL_ENV = "JOURNAL_STREAM";

/** True when stderr goes to journald: `JOURNAL_STREAM` is set and Deno
 * lets us read it (systemd.exec(5)); false when the permission is missing. */
export function underJournald(): boolean {
  const perm = Deno.permissions.querySync({ name: "env", variable: JOURNAL_ENV });
  return perm.state === "granted" && (Deno.env.get(JOURNAL_ENV) ?? "") !== "";
}

/** One log line for `record`: `tappet: warning: text`, or `<4>text` for journald. */
export function render(record: LogRecord, journal = false): string {
  let text = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    text += i % 2 === 0 ? String(part) : typeof part === "string" ? part : Deno.inspect(part);
  }
  if (journal) return `<${PRIORITY[record.level]}>${text}`;
  const tag = record.level === "info" ? "" : `${record.level}: `;
  return `tappet: ${tag}${text}`;
}

/** Options of {@linkcode setupLogging}, for tests. */
export interface LogOptions {
  /** Write for journald; default {@linkcode underJournald}(). */
  readonly journal?: boolean;
  /** The throttle's clock, ms; default Date.now. */
  readonly clock?: () => number;
}

const encoder = new TextEncoder();

/** Writes one line to stderr synchronously (a dying process still logs). */
export function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** The `net` category's rate limit: at most `limit` lines of one message
 * per `windowMs` (a fixed window), then one summary line. */
export const NET_THROTTLE = { limit: 5, windowMs: 10_000 } as const;

/**
 * Configures LogTape for the CLI: one line per record to `write` (stderr by
 * default), records below `levelFor(verbosity)` dropped, the `net` category
 * rate-limited ({@linkcode NET_THROTTLE}). Call once, before anything logs.
 */
export function setupLogging(
  verbosity: number,
  write: (line: string) => void = writeStderr,
  options: LogOptions = {},
): void {
  const journal = options.journal ?? underJournald();
  resetSync();
  configureSync({
    sinks: { stderr: (record: LogRecord) => write(render(record, journal)) },
    filters: {
      throttle: getThrottlingFilter({
        ...NET_THROTTLE,
        clock: options.clock,
        summary: { logger: log, level: "warning", message: "{suppressed} similar messages suppressed" },
      }),
    },
    loggers: [
      { category: ["tappet"], lowestLevel: levelFor(verbosity), sinks: ["stderr"] },
      { category: ["tappet", "net"], lowestLevel: levelFor(verbosity), filters: ["throttle"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}
