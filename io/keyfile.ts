/**
 * Key files, as the 2014 `tappet-keygen` writes them and tappet reads them:
 * exactly 64 hex characters and a newline (65 bytes), the 32-byte X25519 key
 * of NaCl's crypto_box. `NAME.key` holds the secret key (mode 0600),
 * `NAME.pub` the public key (mode 0644). Readers accept upper- and lowercase
 * hex; writers write lowercase.
 *
 * The secret key never becomes a JS string: hex is decoded from and encoded
 * to bytes, and buffers that held it are zeroed.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { memzero } from "../ffi/sodium.ts";
import type { Parsed } from "../core/address.ts";

/** Size of a key file: 64 hex characters and `\n`. */
export const KEY_FILE_BYTES = 65;
/** Size of a key: 32 bytes. */
export const KEY_BYTES = 32;

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10; // a-f, A-F
  return -1;
}

/**
 * Decodes the contents of a key file. On success the caller owns the 32-byte
 * key (and zeroes it when done, if secret). The error says what is wrong
 * with the contents; the caller adds the file name.
 */
export function parseKeyFile(bytes: Uint8Array): Parsed<Uint8Array<ArrayBuffer>> {
  const need = "it must hold 64 hex characters and a newline, as written by 'tappet keygen'";
  if (bytes.length === 0) return { ok: false, error: `is empty: ${need}` };
  if (bytes.length === KEY_FILE_BYTES - 1 && bytes[KEY_FILE_BYTES - 2] !== 0x0a) {
    return { ok: false, error: `has no final newline: ${need}` };
  }
  if (bytes.length !== KEY_FILE_BYTES) {
    return { ok: false, error: `holds ${bytes.length} bytes, not 65: ${need}` };
  }
  if (bytes[64] !== 0x0a) return { ok: false, error: `does not end in a newline: ${need}` };
  const key = new Uint8Array(KEY_BYTES);
  for (let i = 0; i < KEY_BYTES; i++) {
    const hi = nibble(bytes[2 * i]);
    const lo = nibble(bytes[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      memzero(key);
      const at = hi < 0 ? 2 * i : 2 * i + 1;
      return { ok: false, error: `has a character that is not hex at byte ${at + 1}: ${need}` };
    }
    key[i] = (hi << 4) | lo;
  }
  return { ok: true, value: key };
}

const HEX = new TextEncoder().encode("0123456789abcdef");

/** The 65-byte key file contents for a 32-byte key: lowercase hex and a
 * newline. The caller zeroes the result if the key is secret. */
export function formatKeyFile(key: Uint8Array): Uint8Array<ArrayBuffer> {
  if (key.length !== KEY_BYTES) throw new RangeError("a key is 32 bytes");
  const out = new Uint8Array(KEY_FILE_BYTES);
  for (let i = 0; i < KEY_BYTES; i++) {
    out[2 * i] = HEX[key[i] >> 4];
    out[2 * i + 1] = HEX[key[i] & 15];
  }
  out[64] = 0x0a;
  return out;
}

/** Which key a file is expected to hold, for messages. */
export type KeyKind = "secret" | "public" | "psk";

function describe(kind: KeyKind): string {
  return kind === "secret" ? "secret key file" : kind === "psk" ? "pre-shared key file" : "public key file";
}

/**
 * Reads and decodes key file `path`. Throws a one-line {@linkcode UserError}
 * naming the file when it is missing, unreadable or malformed. Reports a
 * secret key file that group or others can access through `warn`.
 */
export function readKeyFile(
  path: string,
  kind: KeyKind,
  warn: (message: string) => void = () => {},
): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) {
      throw new UserError(`${describe(kind)} ${path} is not a regular file: give the path of a key file`);
    }
    if (kind !== "public" && info.mode !== null && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      warn(`${describe(kind)} ${path} can be read by others (mode ${mode}): run chmod 600 ${path}`);
    }
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const create = kind === "secret"
      ? "make one with 'tappet keygen NAME'"
      : kind === "psk"
      ? "make one with 'tappet genpsk FILE' and copy it to both peers"
      : "copy the peer's NAME.pub here";
    throw fileError(e, `${describe(kind)} ${path}`, create);
  }
  const parsed = parseKeyFile(bytes);
  memzero(bytes);
  if (!parsed.ok) throw new UserError(`${describe(kind)} ${path} ${parsed.error}`);
  return parsed.value;
}

/** A one-line {@linkcode UserError} for a failed file operation on `what`
 * ("secret key file a.key"). `create` is the advice when it is missing. */
export function fileError(e: unknown, what: string, create: string): UserError {
  if (e instanceof Deno.errors.NotFound) {
    return new UserError(`${what} does not exist: ${create}`, { cause: e });
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new UserError(
      `${what} cannot be opened (permission denied): check its owner and mode, and the user tappet runs as`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.NotCapable) {
    return new UserError(
      `${what} cannot be opened: Deno was not granted access; run with --allow-read and --allow-write`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new UserError(`${what} is a directory: give the path of a file`, { cause: e });
  }
  return new UserError(`${what}: ${(e as Error).message}`, { cause: e });
}
