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

function render(record: LogRecord): string {
  let text = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    text += i % 2 === 0 ? String(part) : typeof part === "string" ? part : Deno.inspect(part);
  }
  const tag = record.level === "info" ? "" : `${record.level}: `;
  return `tappet: ${tag}${text}`;
}

const encoder = new TextEncoder();

/** Writes one line to stderr synchronously (a dying process still logs). */
export function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/**
 * Configures LogTape for the CLI: one line per record to `write` (stderr by
 * default), records below `levelFor(verbosity)` dropped, the `net` category
 * rate-limited. Call once, before anything logs.
 */
export function setupLogging(verbosity: number, write: (line: string) => void = writeStderr): void {
  resetSync();
  configureSync({
    sinks: { stderr: (record: LogRecord) => write(render(record)) },
    filters: {
      throttle: getThrottlingFilter({
        limit: 5,
        windowMs: 10_000,
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
