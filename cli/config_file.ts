/**
 * `tappet run --config FILE`: the options of `tappet run` in a TOML file
 * (parsed with smol-toml), one top-level key per option, named as the
 * option without its dashes (`peer-key = "b.pub"` for `--peer-key b.pub`),
 * with the values the command line takes. On/off options also take TOML
 * booleans (`offload = false`). Relative paths are relative to the file's
 * directory.
 *
 * A bad file is one {@linkcode UserError} line naming the file, the line and
 * the key: `FILE:LINE: key "offload": ...`. Options given on the command line
 * override the file's ({@linkcode mergeRunOptions}).
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import { type HostPort, type Parsed, parseHostPort } from "../core/address.ts";
import { UserError } from "../errors.ts";
import { editDistance } from "./edit_distance.ts";
import { parseConnect, type PeerAddress } from "../io/resolve.ts";

/** The options of `tappet run`, as the command line and the file give them.
 * Field names are those of cli/args.ts's `run` command. */
export interface RunOptions {
  readonly tap: string;
  readonly key: string;
  readonly peerKey: string;
  readonly role: "listen" | "connect";
  /** `listen`: the address to bind. `connect`: the server's address or name. */
  readonly addr: PeerAddress;
  readonly protocol: "current" | "legacy";
  readonly transport: "ffi" | "deno";
  readonly offload: "on" | "off";
  readonly nonceFile?: string;
  readonly psk?: string;
  readonly keepalive?: number;
  /** The control socket's path; default /run/tappet/IFACE.sock. */
  readonly control?: string;
  /** Where to serve Prometheus metrics; off when absent. */
  readonly metrics?: HostPort;
  /** The client's local address and port (issue 12). */
  readonly bind?: HostPort;
  /** The user to run as after start-up (issue 13). */
  readonly user?: string;
  /** TCP MSS clamping (issue 14); default on. */
  readonly clampMss?: "on" | "off";
  /** The path MTU to assume, bytes (issue 14). */
  readonly pathMtu?: number;
  /** Set the TAP's MTU to the one that fits (issue 14). */
  readonly setMtu?: "on" | "off";
  /** `-v` count: 0, 1 or 2. */
  readonly verbose?: number;
}

/** Some of the options, as one source (the file, or the command line) gives them. */
export type PartialRunOptions = { -readonly [K in keyof RunOptions]?: RunOptions[K] };

/** The defaults of options that have one (those of cli/args.ts). */
export const RUN_DEFAULTS = { protocol: "current", transport: "ffi", offload: "on", clampMss: "on" } as const;

type Check = (v: unknown, dir: string) => Parsed<unknown>;

const text = (what: string): Check => (v) =>
  typeof v === "string" && v.length > 0
    ? { ok: true, value: v }
    : { ok: false, error: `give ${what} as a string` };
const path: Check = (v, dir) => {
  const s = text("a file name")(v, dir);
  if (!s.ok) return s;
  const p = s.value as string;
  return { ok: true, value: p.startsWith("/") ? p : `${dir}/${p}` };
};
const oneOf = (...values: string[]): Check => (v) => {
  if (typeof v === "string" && values.includes(v)) return { ok: true, value: v };
  const list = values.map((x) => `"${x}"`).join(" or ");
  return { ok: false, error: `${typeof v === "string" ? `"${v}"` : "this"} is not ${list}: give ${list}` };
};
const onOff: Check = (v, dir) => {
  if (typeof v === "boolean") return { ok: true, value: v ? "on" : "off" };
  const r = oneOf("on", "off")(v, dir);
  return r.ok ? r : { ok: false, error: `${r.error}, or true or false` };
};
const integer = (min: number, max: number, unit: string): Check => (v) =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max
    ? { ok: true, value: v }
    : { ok: false, error: `${JSON.stringify(v)} is not a whole number of ${unit} from ${min} to ${max}` };
const hostPort: Check = (v, dir) => {
  const s = text('"ADDRESS:PORT"')(v, dir);
  return s.ok ? parseHostPort(s.value as string) : s;
};
const peerAddress: Check = (v, dir) => {
  const s = text('"ADDRESS:PORT" or "NAME:PORT"')(v, dir);
  return s.ok ? parseConnect(s.value as string) : s;
};

/** Every key, the option field it sets, and how its value is checked. */
const KEYS: Record<string, { field: keyof RunOptions | "listen" | "connect"; check: Check }> = {
  "tap": { field: "tap", check: text("the TAP interface's name") },
  "key": { field: "key", check: path },
  "peer-key": { field: "peerKey", check: path },
  "listen": { field: "listen", check: hostPort },
  "connect": { field: "connect", check: peerAddress },
  "protocol": { field: "protocol", check: oneOf("current", "legacy") },
  "psk": { field: "psk", check: path },
  "keepalive": { field: "keepalive", check: integer(1, 3600, "seconds") },
  "nonce-file": { field: "nonceFile", check: path },
  "transport": { field: "transport", check: oneOf("ffi", "deno") },
  "offload": { field: "offload", check: onOff },
  "control": { field: "control", check: path },
  "metrics": { field: "metrics", check: hostPort },
  "bind": { field: "bind", check: hostPort },
  "user": { field: "user", check: text("a user name") },
  "clamp-mss": { field: "clampMss", check: onOff },
  // IPv4's least MTU (RFC 791: 576) to the largest IP datagram.
  "path-mtu": { field: "pathMtu", check: integer(576, 65535, "bytes") },
  "set-mtu": { field: "setMtu", check: onOff },
  "verbose": { field: "verbose", check: integer(0, 2, "levels") },
};

/** The config file's keys. */
export const CONFIG_KEYS: readonly string[] = Object.keys(KEYS);

/** The known key closest to `key`: one that contains it or is contained
 * in it first (the nearest in length), else the least edit distance. */
export function closestKey(key: string): string {
  const norm = key.toLowerCase().replaceAll("_", "-");
  const score = (k: string) => {
    const d = editDistance(norm, k);
    return d > 0 && (k.includes(norm) || norm.includes(k))
      ? Math.min(d, 0.5 + Math.abs(k.length - norm.length) / 100)
      : d;
  };
  return CONFIG_KEYS.reduce((best, k) => (score(k) < score(best) ? k : best));
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The 1-based line where top-level key `key` is set (or opens a table), or undefined. */
function lineOf(source: string, key: string): number | undefined {
  const k = escapeRe(key);
  const re = new RegExp(
    `^\\s*(?:${k}|"${k}"|'${k}')\\s*(?:=|\\.)|^\\s*\\[\\[?\\s*(?:${k}|"${k}"|'${k}')\\s*[\\].]`,
  );
  const i = source.split("\n").findIndex((l) => re.test(l));
  return i < 0 ? undefined : i + 1;
}

function dirOf(file: string): string {
  const abs = file.startsWith("/") ? file : `${Deno.cwd()}/${file}`;
  return abs.slice(0, abs.lastIndexOf("/")) || "/";
}

/**
 * Parses the text of config file `file` (`source`). Returns the options it
 * sets; throws a one-line {@linkcode UserError} (`FILE:LINE: key "K": ...`)
 * for a syntax error, an unknown key, a wrong type, a bad value, or both
 * `listen` and `connect`. Required keys are checked by
 * {@linkcode mergeRunOptions}, since the command line may give them.
 */
export function parseConfig(source: string, file: string): PartialRunOptions {
  let doc: Record<string, unknown>;
  try {
    doc = parse(source) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new UserError(`${file}:${e.line}: not valid TOML: ${first}`, { cause: e });
    }
    throw e;
  }
  const dir = dirOf(file);
  const where = (key: string) => {
    const line = lineOf(source, key);
    return line === undefined ? `${file}: key "${key}"` : `${file}:${line}: key "${key}"`;
  };
  const out: PartialRunOptions & { listen?: HostPort; connect?: PeerAddress } = {};
  for (const [key, value] of Object.entries(doc)) {
    const spec = KEYS[key];
    if (spec === undefined) {
      throw new UserError(`${where(key)} is not a tappet run option: did you mean "${closestKey(key)}"?`);
    }
    const r = spec.check(value, dir);
    if (!r.ok) throw new UserError(`${where(key)}: ${r.error}`);
    (out as Record<string, unknown>)[spec.field] = r.value;
  }
  if (out.listen !== undefined && out.connect !== undefined) {
    const [a, b] = [lineOf(source, "listen"), lineOf(source, "connect")];
    throw new UserError(
      `${file}:${
        Math.max(a ?? 0, b ?? 0)
      }: keys "listen" (line ${a}) and "connect" (line ${b}) are both set: keep one (listen for the server, connect for the client)`,
    );
  }
  const { listen, connect, ...rest } = out;
  if (listen !== undefined) return { ...rest, role: "listen", addr: listen };
  if (connect !== undefined) return { ...rest, role: "connect", addr: connect };
  return rest;
}

/** Reads and parses config file `file` (see {@linkcode parseConfig}). A file
 * that cannot be read is one line naming it. */
export function readConfigFile(file: string): PartialRunOptions {
  let source: string;
  try {
    source = Deno.readTextFileSync(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (e as Error).message;
    throw new UserError(`cannot read config file ${file}: ${why}`, { cause: e });
  }
  return parseConfig(source, file);
}

/**
 * The options of `tappet run`: those given on the command line (`cli`, only
 * what the user typed, without defaults) over those of the file
 * (`fromFile`, from {@linkcode readConfigFile} of `file`), then the
 * defaults. `--listen`/`--connect` on the command line replace the file's
 * `listen`/`connect`. Throws a one-line {@linkcode UserError} naming the
 * file and the key when a required option is in neither.
 */
export function mergeRunOptions(
  fromFile: PartialRunOptions,
  cli: PartialRunOptions,
  file: string,
): RunOptions {
  const given = Object.fromEntries(
    Object.entries(cli).filter(([, v]) => v !== undefined),
  ) as PartialRunOptions;
  const merged: PartialRunOptions = { ...RUN_DEFAULTS, ...fromFile, ...given };
  for (const [field, key] of [["tap", "tap"], ["key", "key"], ["peerKey", "peer-key"]] as const) {
    if (merged[field] === undefined) {
      throw new UserError(`${file}: key "${key}" is missing: add ${key} = "...", or give --${key}`);
    }
  }
  if (merged.role === undefined || merged.addr === undefined) {
    throw new UserError(
      `${file}: key "listen" or "connect" is missing: add listen = "ADDRESS:PORT" (server) or connect = "ADDRESS:PORT" (client)`,
    );
  }
  return merged as RunOptions;
}
