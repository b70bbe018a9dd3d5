/**
 * `tappet status [IFACE] [--json] [--control PATH]`: asks running tunnels
 * through their control sockets (io/control.ts) and prints what they say.
 *
 * Which sockets: `--control PATH` alone; else IFACE's default socket
 * (`/run/tappet/IFACE.sock`); else every `*.sock` in `/run/tappet`. The human
 * form prints one `wg show`-like block per tunnel, a blank line between; the
 * JSON form prints one object per line per tunnel (JSON Lines; with one
 * tunnel, that is one JSON document). It needs no permission beyond
 * connecting to the socket.
 *
 * @module
 */

import {
  controlDir,
  ControlError,
  defaultControlPath,
  listControlSockets,
  requestControl,
} from "../io/control.ts";
import { formatStatus, type TunnelStatus } from "../tunnel/status.ts";

/** The parsed options of `tappet status`. */
export interface StatusOptions {
  /** The interface to ask about; every running tappet when absent. */
  readonly iface?: string;
  /** Print JSON instead of the human form. */
  readonly json?: boolean;
  /** The control socket to read instead of IFACE's default. */
  readonly control?: string;
  /** Where the default sockets are; {@linkcode controlDir} unless a test says. */
  readonly dir?: string;
  /** Time to wait for each answer, ms. */
  readonly timeoutMs?: number;
  /** The wall clock for "37 seconds ago", ms since the epoch. */
  readonly now?: () => number;
}

/** What `tappet status` prints and how it exits. */
export interface StatusResult {
  /** Text for stdout, newline-terminated, or "" when nothing answered. */
  readonly out: string;
  /** One line per socket that did not answer, for stderr (without "tappet: "). */
  readonly errors: readonly string[];
  /** 0 when every socket asked answered; 1 otherwise. */
  readonly code: number;
}

function isStatus(v: unknown): v is TunnelStatus {
  return typeof v === "object" && v !== null && typeof (v as TunnelStatus).interface === "string" &&
    typeof (v as TunnelStatus).peer === "object";
}

function failureLine(path: string, iface: string | undefined, e: unknown): string {
  const who = iface === undefined ? "tappet" : `tappet on ${iface}`;
  if (e instanceof ControlError) {
    switch (e.kind) {
      case "absent":
        return `${who} is not running (no control socket ${path})`;
      case "stale":
        return `${who} is not running (control socket ${path} is left from a run that stopped)`;
      case "denied":
        return `cannot read control socket ${path}: permission denied; run as root or as the user tappet runs as`;
      case "timeout":
        return `${who} did not answer on ${path} (${e.message})`;
      case "closed":
        return `${who} closed ${path} without answering (busy with other clients): try again`;
      case "bad-answer":
        return `${who} gave a bad answer on ${path} (${e.message})`;
    }
  }
  return `cannot read control socket ${path}: ${(e as Error).message}`;
}

/** The name a socket path implies: `/run/tappet/tap0.sock` → `tap0`. */
function ifaceOf(path: string): string | undefined {
  const m = /([^\/]+)\.sock$/.exec(path);
  return m ? m[1] : undefined;
}

/** Runs `tappet status` with `o`; never throws for a tunnel that is not
 * running, and never exits the process. Rethrows Deno's `NotCapable` when
 * the read, write or net permission for the socket is missing. */
export async function statusCommand(o: StatusOptions): Promise<StatusResult> {
  const dir = o.dir ?? controlDir();
  let targets: { path: string; iface?: string }[];
  if (o.control !== undefined) targets = [{ path: o.control, iface: o.iface }];
  else if (o.iface !== undefined) {
    targets = [{ path: o.dir ? `${dir}/${o.iface}.sock` : defaultControlPath(o.iface), iface: o.iface }];
  } else {
    targets = listControlSockets(dir).map((path) => ({ path, iface: ifaceOf(path) }));
    if (targets.length === 0) {
      return { out: "", errors: [`no tappet is running (no control socket in ${dir})`], code: 1 };
    }
  }
  const answers = await Promise.all(targets.map(async (t) => {
    try {
      const v = await requestControl(t.path, "status", o.timeoutMs);
      if (isStatus(v)) return { status: v };
      const why = typeof v === "object" && v !== null && "error" in v ? String(v.error) : "not a status";
      return { error: `tappet on ${t.path} gave a bad answer (${why})` };
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) throw e;
      return { error: failureLine(t.path, t.iface, e) };
    }
  }));
  const statuses = answers.flatMap((a) => (a.status ? [a.status] : []));
  const errors = answers.flatMap((a) => (a.error ? [a.error] : []));
  const now = (o.now ?? Date.now)();
  const out = statuses.length === 0
    ? ""
    : o.json
    ? statuses.map((s) => JSON.stringify(s)).join("\n") + "\n"
    : statuses.map((s) => formatStatus(s, now)).join("\n\n") + "\n";
  return { out, errors, code: errors.length === 0 ? 0 : 1 };
}
