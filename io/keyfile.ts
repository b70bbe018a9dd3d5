/**
 * Key files, as the 2014 `tappet-keygen` writes them and tappet reads them:
 * 64 hex characters and a newline (65 bytes), the 32-byte X25519 key of
 * NaCl's crypto_box. `NAME.key` holds the secret key (mode 0600), `NAME.pub`
 * the public key (mode 0644). Writers write lowercase hex.
 *
 * Readers accept exactly what the 2014 `read_hexkey` (util.c) accepts: it
 * reads the first line with `fgets` and requires it to be 64 characters and
 * a newline; whatever follows the first newline (a blank line, a comment) is
 * ignored. Each character is decoded after `| 0x20`, so upper- and lowercase
 * hex are accepted, and so (a quirk kept for compatibility) are the control
 * bytes 0x10 to 0x19, as the digits 0 to 9.
 *
 * The secret key never becomes a JS string: hex is decoded from and encoded
 * to bytes, and buffers that held it are zeroed.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { memzero } from "../ffi/sodium.ts";
import type { Parsed } from "../core/parsed.ts";
import { fileError } from "./file_error.ts";
/** Re-exported for older importers; new code imports `io/file_error.ts`. */
export { fileError } from "./file_error.ts";

/** Size of a key file: 64 hex characters and `\n`. */
export const KEY_FILE_BYTES = 65;
/** Size of a key: 32 bytes. */
export const KEY_BYTES = 32;
/** Hex characters on a key file's first line. */
const HEX_CHARS = 2 * KEY_BYTES;
const NEWLINE = 0x0a;
const CR = 0x0d;

/** The 2014 `decode_hex` rule for one character: `c | 0x20`, then 0-9 or
 * a-f; -1 when it is neither. */
function nibble(c: number): number {
  const l = c | 0x20;
  if (l >= 0x30 && l <= 0x39) return l - 0x30; // 0-9 (and 0x10-0x19, as in 2014)
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10; // a-f, A-F
  return -1;
}

/**
 * Decodes the contents of a key file (all of it, or at least its first 65
 * bytes). On success the caller owns the 32-byte key (and zeroes it when
 * done, if secret). The error says what is wrong with the contents; the
 * caller adds the file name.
 */
export function parseKeyFile(bytes: Uint8Array): Parsed<Uint8Array<ArrayBuffer>> {
  const need = "its first line must be 64 hex characters and a newline, as 'tappet keygen' writes";
  if (bytes.length === 0) return { ok: false, error: `is empty: ${need}` };
  const nl = bytes.subarray(0, KEY_FILE_BYTES).indexOf(NEWLINE);
  if (nl === -1) {
    if (bytes.length === HEX_CHARS) return { ok: false, error: `has no final newline: ${need}` };
    if (bytes.length < HEX_CHARS) {
      return { ok: false, error: `holds ${bytes.length} bytes and no newline: ${need}` };
    }
    if (bytes[HEX_CHARS] === CR) {
      return { ok: false, error: `has DOS line ends (\\r before the newline): ${need} (run dos2unix on it)` };
    }
    return { ok: false, error: `has more than 64 bytes before its first newline: ${need}` };
  }
  if (nl < HEX_CHARS) {
    const dos = nl === HEX_CHARS - 1 && bytes[nl - 1] === CR ? " (it has a DOS line end)" : "";
    return { ok: false, error: `holds ${nl} bytes before its first newline, not 64${dos}: ${need}` };
  }
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
  out[HEX_CHARS] = NEWLINE;
  return out;
}

/** Which key a file is expected to hold, for messages. */
export type KeyKind = "secret" | "public" | "psk";

function describe(kind: KeyKind): string {
  return kind === "secret" ? "secret key file" : kind === "psk" ? "pre-shared key file" : "public key file";
}

/** The mode bits that let group or others at a file: refused for secrets,
 * as ssh refuses a private key that is not 0600 or stricter. */
const GROUP_OTHER_BITS = 0o077;

/** Reads at most the first 65 bytes of the open `file` (all the 2014 reader
 * looks at). The caller zeroes the result. */
function readHead(file: Deno.FsFile): Uint8Array {
  const buf = new Uint8Array(KEY_FILE_BYTES);
  let got = 0;
  while (got < buf.length) {
    const n = file.readSync(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Reads and decodes key file `path`. Throws a one-line {@linkcode UserError}
 * naming the file when it is missing, unreadable or malformed, and when a
 * secret key or pre-shared key file is open to group or others (with the
 * `chmod 600` that fixes it). The mode is checked on the open file, not the
 * path. `_warn` is no longer called (such files are refused); kept so that
 * callers need not change.
 */
export function readKeyFile(
  path: string,
  kind: KeyKind,
  _warn?: (message: string) => void,
): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array;
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(path, { read: true });
    const info = file.statSync();
    if (!info.isFile) {
      throw new UserError(`${describe(kind)} ${path} is not a regular file: give the path of a key file`);
    }
    if (kind !== "public" && info.mode !== null && (info.mode & GROUP_OTHER_BITS) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      throw new UserError(
        `${describe(kind)} ${path} is open to others (mode ${mode}); refusing it: run 'chmod 600 ${path}'`,
      );
    }
    bytes = readHead(file);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const create = kind === "secret"
      ? "make one with 'tappet keygen NAME'"
      : kind === "psk"
      ? "make one with 'tappet genpsk FILE' and copy it to both peers"
      : "copy the peer's NAME.pub here";
    throw fileError(e, `${describe(kind)} ${path}`, create);
  } finally {
    file?.close();
  }
  const parsed = parseKeyFile(bytes);
  memzero(bytes);
  if (!parsed.ok) throw new UserError(`${describe(kind)} ${path} ${parsed.error}`);
  return parsed.value;
}
