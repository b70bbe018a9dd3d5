/**
 * The command line, declared with Optique: the parser is a value, parsing is
 * a pure function ({@linkcode parseArgs}) with unit tests, and help, version
 * and shell completions are generated from the same declarations.
 *
 * Forms:
 *
 *     tappet keygen NAME
 *     tappet genpsk FILE
 *     tappet pubkey < NAME.key
 *     tappet run --tap IFACE --key FILE --peer-key FILE (--listen | --connect) ADDRESS:PORT
 *                [--protocol current|legacy] [--psk FILE] [--keepalive SECONDS] [--nonce-file FILE]
 *                [--bind ADDRESS:PORT] [--transport ffi|deno] [--offload on|off] [-v]
 *                [--control PATH] [--metrics ADDRESS:PORT] [--config FILE]
 *     tappet run --config FILE [any run option, which overrides the file's]
 *     tappet status [IFACE] [--json] [--control PATH]
 *     tappet IFACE NONCEFILE OURKEY THEIRPUB ADDRESS PORT [-l]      (the 2014 command line)
 *
 * The first word picks the form, so a subcommand's mistakes are reported
 * against that subcommand only. Help, version, completion and misspelt
 * subcommands are handled before this, in `cli/main.ts`.
 *
 * @module
 */

import { merge, object, or } from "@optique/core/constructs";
import { formatMessage, message, optionName, text } from "@optique/core/message";
import { map, multiple, optional, withDefault } from "@optique/core/modifiers";
import { type InferValue, parseDetailed, type Parser } from "@optique/core/parser";
import { argument, constant, flag, option } from "@optique/core/primitives";
import { choice, integer, string, type ValueParser, type ValueParserResult } from "@optique/core/valueparser";
import { type HostPort, parseHostPort, parseIp, parsePort } from "../core/address.ts";
import type { Parsed } from "../core/parsed.ts";
import { parseConnect, type PeerAddress } from "../io/resolve.ts";

/** The program's name in help and messages. */
export const PROGRAM = "tappet";

function fromParsed<T>(p: Parsed<T>): ValueParserResult<T> {
  return p.ok ? { success: true, value: p.value } : { success: false, error: message`${text(p.error)}` };
}

/** A value parser that names its value `metavar`, shows `placeholder` in
 * help, reads with `parse` and writes back with `format`. */
function valueParser<T>(
  metavar: ValueParser<"sync", T>["metavar"],
  placeholder: T,
  parse: (input: string) => Parsed<T>,
  format: (v: T) => string,
): ValueParser<"sync", T> {
  return { mode: "sync", metavar, placeholder, parse: (input) => fromParsed(parse(input)), format };
}

/** `ADDRESS:PORT`, IPv6 in brackets. */
const hostPort = () =>
  valueParser<HostPort>(
    "ADDRESS:PORT",
    { host: "192.0.2.1", port: 1011, family: 4 },
    parseHostPort,
    (v) => (v.family === 6 ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`),
  );

/** `ADDRESS:PORT` or `NAME:PORT` (a host name, resolved at start). */
const peerAddress = () =>
  valueParser<PeerAddress>(
    "ADDRESS:PORT",
    { host: "192.0.2.1", port: 1011, family: 4 },
    parseConnect,
    (v) => (v.name ?? (v.family === 6 ? `[${v.host}]` : v.host)) + `:${v.port}`,
  );

/** An IP literal, IPv6 tried first (the 2014 rule). */
const ipLiteral = () =>
  valueParser<{ host: string; family: 4 | 6 }>(
    "ADDRESS",
    { host: "192.0.2.1", family: 4 },
    parseIp,
    (v) => v.host,
  );

/** A UDP port, 1 to 65535 (the 2014 program refused 65535; this one does not). */
const udpPort = () => valueParser<number>("PORT", 1011, parsePort, (v) => String(v));

const verbosity = map(
  multiple(flag("-v", "--verbose", { description: message`Say more: -v for events, -vv for detail.` })),
  (flags) => flags.length,
);

const keygenForm = object({
  cmd: constant("keygen"),
  name: argument(string({ metavar: "NAME" }), {
    description: message`Write the secret key to NAME.key (mode 0600) and the public key to NAME.pub.`,
  }),
  verbose: verbosity,
});

const genpskForm = object({
  cmd: constant("genpsk"),
  file: argument(string({ metavar: "FILE" }), {
    description: message`Write a new pre-shared key to FILE (mode 0600); FILE must not exist.`,
  }),
  verbose: verbosity,
});

const pubkeyForm = object({ cmd: constant("pubkey"), verbose: verbosity });

const role = or(
  object({
    role: constant("listen"),
    addr: option("--listen", hostPort(), {
      description:
        message`Server: bind this local address and port, and learn the peer from the first valid datagram.`,
    }),
  }),
  object({
    role: constant("connect"),
    addr: option("--connect", peerAddress(), {
      description:
        message`Client: send to the server at this address (or host name, resolved at start and again while the server is silent) and port.`,
    }),
  }),
  { errors: { noMatch: message`give one of ${optionName("--listen")} or ${optionName("--connect")}` } },
);

const RUN_OPTIONS = {
  tap: option("--tap", string({ metavar: "IFACE" }), {
    description:
      message`The TAP interface to attach to; create it first with 'ip tuntap add IFACE mode tap user USER'.`,
  }),
  key: option("--key", string({ metavar: "FILE" }), {
    description: message`Our secret key file (NAME.key from 'tappet keygen').`,
  }),
  peerKey: option("--peer-key", string({ metavar: "FILE" }), {
    description: message`The peer's public key file (its NAME.pub).`,
  }),
  protocol: option("--protocol", choice(["current", "legacy"] as const, { metavar: "FORMAT" }), {
    description:
      message`The wire format: current (the default: a Noise handshake, forward secrecy, 24 bytes per frame) or legacy (the 2014 tappet's, to tunnel with one).`,
  }),
  transport: option("--transport", choice(["ffi", "deno"] as const, { metavar: "SOCKET" }), {
    description:
      message`The UDP socket: ffi (the default: tappet's own, batched with recvmmsg/sendmmsg, faster) or deno (Deno.listenDatagram).`,
  }),
  offload: option("--offload", choice(["on", "off"] as const, { metavar: "ON|OFF" }), {
    description:
      message`TCP segmentation offload between the TAP and tappet (on by default): the kernel hands over TCP super-frames, which tappet cuts into frames before sealing, and joins received segments back.`,
  }),
  nonceFile: option("--nonce-file", string({ metavar: "FILE" }), {
    description:
      message`Legacy format only, and required there: the nonce file, 4 bytes incremented at each start (make it with 'dd if=/dev/zero of=FILE bs=1 count=4').`,
  }),
  psk: option("--psk", string({ metavar: "FILE" }), {
    description:
      message`Current format only: a pre-shared key file from 'tappet genpsk', the same on both peers.`,
  }),
  keepalive: option("--keepalive", integer({ min: 1, max: 3600, metavar: "SECONDS" }), {
    description:
      message`Current format only: send a keepalive at least every SECONDS, to keep a NAT mapping open (25 is usual).`,
  }),
  bind: option("--bind", hostPort(), {
    description:
      message`Client only: send from this local address and port (for a firewall that allows one source port); by default the kernel picks them.`,
  }),
  control: option("--control", string({ metavar: "PATH" }), {
    description:
      message`The control socket that 'tappet status' reads; default /run/tappet/IFACE.sock (its directory is made 0755 if missing, the socket is 0600).`,
  }),
  metrics: option("--metrics", hostPort(), {
    description: message`Serve Prometheus metrics at http://ADDRESS:PORT/metrics; off by default.`,
  }),
  user: option("--user", string({ metavar: "USER" }), {
    description:
      message`Started as root: give up root for USER (its uid and gid, no other group, no capability) once the TAP, the sockets and the files are open.`,
  }),
  // Issue 14: the path's size.
  pathMtu: option("--path-mtu", integer({ min: 576, max: 65535, metavar: "BYTES" }), {
    description:
      message`The path MTU to the peer, bytes (576, IPv4's least, to 65535): by default the MTU of the underlay interface the route to the peer uses; give it when a narrower link lies beyond.`,
  }),
  clampMss: option("--clamp-mss", choice(["on", "off"] as const, { metavar: "ON|OFF" }), {
    description:
      message`Lower the MSS option of TCP SYNs crossing the tunnel, both ways, so that TCP's segments fit the path (on by default).`,
  }),
  // "on", as the config file's set-mtu key gives it.
  setMtu: map(
    flag("--set-mtu", {
      description:
        message`Set the TAP interface's MTU to the one that fits the path (needs CAP_NET_ADMIN, kept after a privilege drop only with this option).`,
    }),
    () => "on" as const,
  ),
  config: option("--config", string({ metavar: "FILE" }), {
    description:
      message`Read the options from a TOML file (keys named as the options: tap = "tap0"); the command line overrides it.`,
  }),
};

const O = RUN_OPTIONS;

/** The `run` options that are optional and have no default in both forms. */
const OPTIONAL_RUN = {
  nonceFile: optional(O.nonceFile),
  psk: optional(O.psk),
  keepalive: optional(O.keepalive),
  bind: optional(O.bind),
  control: optional(O.control),
  metrics: optional(O.metrics),
  user: optional(O.user),
  pathMtu: optional(O.pathMtu),
};

const runForm = merge(
  object({
    cmd: constant("run"),
    tap: O.tap,
    key: O.key,
    peerKey: O.peerKey,
    protocol: withDefault(O.protocol, "current" as const),
    transport: withDefault(O.transport, "ffi" as const),
    offload: withDefault(O.offload, "on" as const),
    ...OPTIONAL_RUN,
    clampMss: withDefault(O.clampMss, "on" as const),
    setMtu: optional(O.setMtu),
    config: optional(O.config),
    verbose: verbosity,
  }),
  role,
);

/** `run --config FILE`: every option optional, no defaults (the file's
 * values and then the defaults come after, in cli/config_file.ts). */
const runConfigForm = object({
  cmd: constant("run-config"),
  config: O.config,
  tap: optional(O.tap),
  key: optional(O.key),
  peerKey: optional(O.peerKey),
  protocol: optional(O.protocol),
  transport: optional(O.transport),
  offload: optional(O.offload),
  ...OPTIONAL_RUN,
  clampMss: optional(O.clampMss),
  setMtu: optional(O.setMtu),
  listen: optional(option("--listen", hostPort())),
  connect: optional(option("--connect", peerAddress())),
  verbose: verbosity,
});

const statusForm = object({
  cmd: constant("status"),
  iface: optional(argument(string({ metavar: "IFACE" }), {
    description:
      message`The interface to show; every tappet running here (in this network namespace) when left out.`,
  })),
  json: option("--json", { description: message`Print one JSON object per interface (keys in the README).` }),
  control: optional(option("--control", string({ metavar: "PATH" }), {
    description: message`Read this control socket (as given to 'tappet run --control').`,
  })),
  verbose: verbosity,
});

const legacyForm = object({
  cmd: constant("legacy"),
  iface: argument(string({ metavar: "IFACE" }), { description: message`2014 form: the TAP interface.` }),
  nonceFile: argument(string({ metavar: "NONCEFILE" }), { description: message`2014 form: the nonce file.` }),
  ourKey: argument(string({ metavar: "OURKEY" }), { description: message`2014 form: our secret key file.` }),
  theirPub: argument(string({ metavar: "THEIRPUB" }), {
    description: message`2014 form: the peer's public key file.`,
  }),
  address: argument(ipLiteral(), {
    description: message`2014 form: the address to listen on (-l) or to send to.`,
  }),
  port: argument(udpPort(), { description: message`2014 form: the UDP port, 1 to 65535.` }),
  listen: option("-l", { description: message`2014 form: be the server.` }),
  verbose: verbosity,
});

/**
 * The subcommands, by their first word, each with its own parser (given the
 * words after the first) and its one usage line. The 2014 form has no first
 * word of its own: any other first word starts it. A new subcommand (such as
 * `status`) is one entry here, one in `help.ts`, and a case in main.ts.
 */
export const SUBCOMMANDS = {
  keygen: { parser: keygenForm, usage: `${PROGRAM} keygen NAME` },
  genpsk: { parser: genpskForm, usage: `${PROGRAM} genpsk FILE` },
  pubkey: { parser: pubkeyForm, usage: `${PROGRAM} pubkey < NAME.key` },
  run: {
    parser: runForm,
    usage:
      `${PROGRAM} run --tap IFACE --key FILE --peer-key FILE (--listen | --connect) ADDRESS:PORT [options]`,
  },
  status: { parser: statusForm, usage: `${PROGRAM} status [IFACE] [--json] [--control PATH]` },
} as const;

/** A subcommand's first word. */
export type Subcommand = keyof typeof SUBCOMMANDS;

/** The 2014 form, as the one usage line of its own. */
export const LEGACY_USAGE = `${PROGRAM} IFACE NONCEFILE OURKEY THEIRPUB ADDRESS PORT [-l]`;

/** The 2014 form's parser. */
export const legacyParser = legacyForm;

/** What a successful parse yields. */
export type Command =
  | InferValue<typeof keygenForm>
  | InferValue<typeof genpskForm>
  | InferValue<typeof pubkeyForm>
  | InferValue<typeof runForm>
  | InferValue<typeof runConfigForm>
  | InferValue<typeof statusForm>
  | InferValue<typeof legacyForm>;

/** Whether `word` is a subcommand's first word. */
export function isSubcommand(word: string | undefined): word is Subcommand {
  return word !== undefined && Object.hasOwn(SUBCOMMANDS, word);
}

/** A parse that failed. `kind` is "value" for a value that is wrong (a
 * port, an address: the line says it all), "usage" for an argument that is
 * missing or unknown (the usage line of the form helps). */
export interface ParseFailure {
  readonly kind: "value" | "usage";
  /** One line, without "tappet: ". */
  readonly error: string;
  /** The one usage line of the form the arguments are closest to. */
  readonly usage: string;
}

/** A value parser's failure, as Optique reports it: the option or the
 * metavar, a colon, then our own one-line reason. */
const VALUE_ERROR = /^(--[a-z-]+|[A-Z][A-Z:]*): /;

/** Optique's messages, said as tappet says the rest, on one line. */
function tidy(raw: string, usage: string): string {
  const flat = raw.replace(/\s*\n+\s*/g, " ").trim();
  // A form with one argument: name it from the usage line.
  if (flat === "Missing required argument.") return `missing ${usage.split(" ").at(-1)}`;
  let m = /^Expected an? (\S+), but too few arguments\.$/.exec(flat);
  if (m) return `missing ${m[1]}`;
  m = /^Missing option (\S+)\.$/.exec(flat);
  if (m) return `missing option ${m[1]}`;
  m = /^Unexpected option or (?:subcommand|argument): (\S+)\.(?: Did you mean (?:one of these\? )?(.*?)\??)?$/
    .exec(flat);
  if (m) {
    return `unknown argument '${m[1]}'` + (m[2] ? `; did you mean ${m[2].split(/,? /).join(" or ")}?` : "");
  }
  m = /^.* and (\S+) cannot be used together\.$/.exec(flat);
  if (m && !m[1].startsWith("-")) return `unexpected argument '${m[1]}'`;
  m = /^[A-Z][A-Z:]*: (.*)$/.exec(flat); // a positional value: our reason names it already
  if (m) return m[1];
  return flat.replace(/\.$/, "");
}

/** Parses `args` without side effects: the command, or what is wrong. Help,
 * version, completion and misspelt subcommands are `cli()`'s, not this. */
export function parseArgs(
  args: readonly string[],
): { ok: true; command: Command } | ({ ok: false } & ParseFailure) {
  const first = args[0];
  const sub = isSubcommand(first) ? SUBCOMMANDS[first] : undefined;
  // `run --config FILE` has no required option: its own parser.
  const withFile = first === "run" && args.some((a) => a === "--config" || a.startsWith("--config="));
  const parser = withFile ? runConfigForm : sub?.parser;
  const r = parser !== undefined
    ? parseDetailed(parser as Parser<"sync", Command, unknown>, args.slice(1))
    : parseDetailed(legacyForm, args);
  if (r.success) return { ok: true, command: r.value as Command };
  const raw = formatMessage(r.error, { colors: false, quotes: false });
  const usage = sub?.usage ?? LEGACY_USAGE;
  return { ok: false, kind: VALUE_ERROR.test(raw) ? "value" : "usage", error: tidy(raw, usage), usage };
}
