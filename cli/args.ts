/**
 * The command line, declared with Optique: the parser is a value, parsing is
 * a pure function ({@linkcode parseArgs}) with unit tests, and help, version
 * and shell completions are generated from the same declarations.
 *
 * Forms:
 *
 *     tappet keygen NAME
 *     tappet genpsk FILE
 *     tappet run --tap IFACE --key FILE --peer-key FILE (--listen | --connect) ADDRESS:PORT
 *                [--protocol current|legacy] [--psk FILE] [--keepalive SECONDS] [--nonce-file FILE]
 *     tappet IFACE NONCEFILE OURKEY THEIRPUB ADDRESS PORT [-l]      (the 2014 command line)
 *     tappet help [COMMAND] | tappet completion SHELL | --help | --version
 *
 * @module
 */

import { runParser } from "@optique/core/facade";
import { merge, object, or } from "@optique/core/constructs";
import { formatMessage, type Message, message, optionName, text } from "@optique/core/message";
import { map, multiple, optional, withDefault } from "@optique/core/modifiers";
import { type InferValue, parseDetailed } from "@optique/core/parser";
import { argument, command, constant, flag, option } from "@optique/core/primitives";
import { choice, integer, string, type ValueParser, type ValueParserResult } from "@optique/core/valueparser";
import { formatUsage } from "@optique/core/usage";
import { type HostPort, type Parsed, parseHostPort, parseIp, parsePort } from "../core/address.ts";

/** The program's name in help and messages. */
export const PROGRAM = "tappet";

function fromParsed<T>(p: Parsed<T>): ValueParserResult<T> {
  return p.ok ? { success: true, value: p.value } : { success: false, error: message`${text(p.error)}` };
}

/** `ADDRESS:PORT`, IPv6 in brackets. */
function hostPort(): ValueParser<"sync", HostPort> {
  return {
    mode: "sync",
    metavar: "ADDRESS:PORT",
    placeholder: { host: "192.0.2.1", port: 1011, family: 4 },
    parse: (input) => fromParsed(parseHostPort(input)),
    format: (v) => (v.family === 6 ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`),
  };
}

/** An IP literal, IPv6 tried first (the 2014 rule). */
function ipLiteral(): ValueParser<"sync", { host: string; family: 4 | 6 }> {
  return {
    mode: "sync",
    metavar: "ADDRESS",
    placeholder: { host: "192.0.2.1", family: 4 },
    parse: (input) => fromParsed(parseIp(input)),
    format: (v) => v.host,
  };
}

/** A UDP port, 1 to 65535 (the 2014 program refused 65535; this one does not). */
function udpPort(): ValueParser<"sync", number> {
  return {
    mode: "sync",
    metavar: "PORT",
    placeholder: 1011,
    parse: (input) => fromParsed(parsePort(input)),
    format: (v) => String(v),
  };
}

const verbosity = map(
  multiple(flag("-v", "--verbose", { description: message`Say more: -v for events, -vv for detail.` })),
  (flags) => flags.length,
);

const keygenCommand = command(
  "keygen",
  object({
    cmd: constant("keygen"),
    name: argument(string({ metavar: "NAME" }), {
      description: message`Write the secret key to NAME.key (mode 0600) and the public key to NAME.pub.`,
    }),
  }),
  {
    brief: message`Make a key pair: NAME.key and NAME.pub.`,
    description:
      message`Make an X25519 key pair with libsodium. Neither file may exist already. Give NAME.pub to the peer; keep NAME.key secret.`,
  },
);

const genpskCommand = command(
  "genpsk",
  object({
    cmd: constant("genpsk"),
    file: argument(string({ metavar: "FILE" }), {
      description: message`Write a new pre-shared key to FILE (mode 0600); FILE must not exist.`,
    }),
  }),
  {
    brief: message`Make a pre-shared key file for --psk.`,
    description:
      message`Make 32 random bytes with libsodium, written as 64 hex characters and a newline. Both peers use the same file with --psk; it adds a secret that a future quantum computer cannot derive from the public keys.`,
  },
);

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
    addr: option("--connect", hostPort(), {
      description: message`Client: send to the server at this address and port.`,
    }),
  }),
  { errors: { noMatch: message`give one of ${optionName("--listen")} or ${optionName("--connect")}` } },
);

const runCommand = command(
  "run",
  merge(
    object({
      cmd: constant("run"),
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
      protocol: withDefault(
        option("--protocol", choice(["current", "legacy"] as const, { metavar: "FORMAT" }), {
          description:
            message`The wire format: current (the default: a Noise handshake, forward secrecy, 24 bytes per frame) or legacy (the 2014 tappet's, to tunnel with one).`,
        }),
        "current" as const,
      ),
      transport: withDefault(
        option("--transport", choice(["ffi", "deno"] as const, { metavar: "SOCKET" }), {
          description:
            message`The UDP socket: ffi (the default: tappet's own, batched with recvmmsg/sendmmsg, faster) or deno (Deno.listenDatagram).`,
        }),
        "ffi" as const,
      ),
      offload: withDefault(
        option("--offload", choice(["on", "off"] as const, { metavar: "ON|OFF" }), {
          description:
            message`TCP segmentation offload between the TAP and tappet (on by default): the kernel hands over TCP super-frames, which tappet cuts into frames before sealing, and joins received segments back.`,
        }),
        "on" as const,
      ),
      nonceFile: optional(
        option("--nonce-file", string({ metavar: "FILE" }), {
          description:
            message`Legacy format only, and required there: the nonce file, 4 bytes incremented at each start (make it with 'dd if=/dev/zero of=FILE bs=1 count=4').`,
        }),
      ),
      psk: optional(
        option("--psk", string({ metavar: "FILE" }), {
          description:
            message`Current format only: a pre-shared key file from 'tappet genpsk', the same on both peers.`,
        }),
      ),
      keepalive: optional(
        option("--keepalive", integer({ min: 1, max: 3600, metavar: "SECONDS" }), {
          description:
            message`Current format only: send a keepalive at least every SECONDS, to keep a NAT mapping open (25 is usual).`,
        }),
      ),
      verbose: verbosity,
    }),
    role,
  ),
  {
    brief: message`Run a tunnel, with named options.`,
    description:
      message`Run a tunnel between the TAP interface and one peer. An IPv6 address goes in brackets: [2001:db8::1]:1011.`,
  },
);

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

/** The whole command line. */
export const parser = or(keygenCommand, genpskCommand, runCommand, legacyForm);

/** What a successful parse yields. */
export type Command = InferValue<typeof parser>;

/** A parse that failed: one line saying what is wrong, and a usage line. */
export interface ParseFailure {
  readonly error: string;
  readonly usage: string;
}

const ROOT_USAGE = [
  `${PROGRAM} keygen NAME`,
  `${PROGRAM} run --tap IFACE --key FILE --peer-key FILE (--listen | --connect) ADDRESS:PORT [options]`,
  `${PROGRAM} IFACE NONCEFILE OURKEY THEIRPUB ADDRESS PORT [-l]`,
  `${PROGRAM} genpsk FILE`,
];

function usageFor(commandPath: readonly string[], args: readonly string[]): string {
  if (commandPath[0] === "run" || args[0] === "run") {
    return formatUsage(PROGRAM, runCommand.usage, { colors: false });
  }
  if (commandPath[0] === "keygen" || args[0] === "keygen") return ROOT_USAGE[0];
  if (commandPath[0] === "genpsk" || args[0] === "genpsk") return ROOT_USAGE[3];
  return ROOT_USAGE.join("\n   or: ");
}

/** Parses `args` without side effects: the command, or what is wrong. */
export function parseArgs(
  args: readonly string[],
): { ok: true; command: Command } | ({ ok: false } & ParseFailure) {
  const r = parseDetailed(parser, args);
  if (r.success) return { ok: true, command: r.value };
  return {
    ok: false,
    error: formatMessage(r.error, { colors: false, quotes: false }),
    usage: usageFor(r.commandPath, args),
  };
}

/** Output channels for {@linkcode cli}. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (line: string) => void;
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** `help X` and `completion S` as option forms: the 2014 positional form
 * would otherwise take "help" for an interface name. */
function rewriteMeta(args: readonly string[]): readonly string[] {
  if (args[0] === "help") return args.length > 1 ? [...args.slice(1), "--help"] : ["--help"];
  if (args[0] === "completion") return ["--completion", ...args.slice(1)];
  return args;
}

/**
 * Parses the real command line. Returns the command to run, or an exit code
 * when it has already been handled: 0 after help, version or a completion
 * script, 2 after a usage error (one line naming the problem, the usage, and
 * a pointer to --help, on `io.err`). Never exits the process itself.
 */
export function cli(rawArgs: readonly string[], version: string, io: CliIo): Command | number {
  const args = rewriteMeta(rawArgs);
  const exit = (code: number): never => {
    throw new Exit(code);
  };
  try {
    return runParser(parser, PROGRAM, args, {
      help: { option: true, command: true, onShow: exit },
      version: { value: version, option: true, onShow: exit },
      completion: { command: true, option: true, onShow: exit },
      brief: message`An encrypted Ethernet tunnel over UDP, between two TAP interfaces.`,
      footer:
        message`'tappet run' uses the current wire format unless given --protocol legacy; the 2014 form always uses the legacy format, to tunnel with the original tappet. See 'tappet run --help'.`,
      colors: false,
      aboveError: "none",
      stdout: io.out,
      stderr: () => {},
      onError: (_code: number, error: Message): never => {
        const parsed = parseArgs(args);
        const usage = parsed.ok ? ROOT_USAGE.join("\n   or: ") : parsed.usage;
        io.err(`${PROGRAM}: ${formatMessage(error, { colors: false, quotes: false })}`);
        io.err(`usage: ${usage}`);
        io.err(`Try '${PROGRAM} --help' for more information.`);
        throw new Exit(2);
      },
    });
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}
