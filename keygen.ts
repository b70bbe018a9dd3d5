/**
 * `tappet keygen NAME`: a new X25519 key pair from libsodium, written as
 * `NAME.key` (secret, mode 0600) and `NAME.pub` (public, mode 0644), each 64
 * lowercase hex characters and a newline, the format of the 2014
 * `tappet-keygen`.
 *
 * Both paths are checked before either is created, and neither is ever
 * overwritten; if writing the second file fails, the first is removed, so a
 * failed keygen leaves nothing behind (the 2014 keygen leaves an empty
 * NAME.key).
 *
 * Each file is created with its final mode (`O_CREAT | O_EXCL` with the mode),
 * never chmod-ed by path afterwards, which would follow a symlink swapped in
 * between. As with ssh-keygen, the process umask can only make a mode
 * stricter: under umask 077 `NAME.pub` is 0600.
 *
 * `tappet genpsk FILE` writes a pre-shared key the same way: 32 random bytes
 * from libsodium as 64 hex characters and a newline, mode 0600.
 *
 * `tappet pubkey` reads a secret key file's contents (on stdin) and gives the
 * public key, as `wg pubkey` does.
 *
 * @module
 */

import { UserError } from "./errors.ts";
import { boxKeypair, memzero, publicKeyOf, randomBytes } from "./ffi/sodium.ts";
import { fileError } from "./io/file_error.ts";
import { formatKeyFile, KEY_FILE_BYTES, parseKeyFile } from "./io/keyfile.ts";

/** The two files {@linkcode keygen} wrote. */
export interface KeyPairFiles {
  /** `NAME.key`: the secret key, mode 0600. */
  readonly secretKeyFile: string;
  /** `NAME.pub`: the public key, mode 0644. */
  readonly publicKeyFile: string;
  /** The public key as `NAME.pub` holds it: 64 lowercase hex characters. */
  readonly publicKeyHex: string;
}

/** The directory a new file `path` goes in, for messages. */
function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** Why `path` cannot be created in its directory, as one line. */
function cannotCreate(e: unknown, path: string): UserError {
  const dir = dirOf(path);
  if (e instanceof Deno.errors.NotFound) {
    return new UserError(
      `cannot create ${path}: directory ${dir} does not exist; make it, or choose another NAME`,
      {
        cause: e,
      },
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new UserError(
      `cannot create ${path}: this user may not write in directory ${dir}; choose one you own, e.g. ~/${
        path.slice(dir.length + 1).replace(/\.(key|pub)$/, "")
      }`,
      { cause: e },
    );
  }
  return fileError(e, `new file ${path}`, `check that directory ${dir} exists`);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw cannotCreate(e, path);
  }
}

/** Creates `path` (which must not exist) with `mode` (less the umask) and
 * `bytes`, synced to disk. Closes the file on every path. */
function writeNew(path: string, bytes: Uint8Array, mode: number): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { write: true, createNew: true, mode });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new UserError(`${path} already exists: refusing to overwrite it; choose another NAME`);
    }
    throw cannotCreate(e, path);
  }
  try {
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
    file.syncSync();
  } finally {
    file.close();
  }
}

/**
 * Writes a new key pair to `NAME.key` and `NAME.pub`. Throws a one-line
 * {@linkcode UserError} when either exists or cannot be written.
 */
export function keygen(name: string): KeyPairFiles {
  if (name === "") throw new UserError("the key name is empty: give a NAME for NAME.key and NAME.pub");
  const secretKeyFile = `${name}.key`;
  const publicKeyFile = `${name}.pub`;
  for (const path of [secretKeyFile, publicKeyFile]) {
    if (exists(path)) {
      throw new UserError(`${path} already exists: refusing to overwrite it; choose another NAME`);
    }
  }
  const { publicKey, secretKey } = boxKeypair();
  const secretText = formatKeyFile(secretKey);
  memzero(secretKey);
  const publicText = formatKeyFile(publicKey);
  try {
    writeNew(secretKeyFile, secretText, 0o600);
  } finally {
    memzero(secretText);
  }
  try {
    writeNew(publicKeyFile, publicText, 0o644);
  } catch (e) {
    try {
      Deno.removeSync(secretKeyFile);
    } catch { /* report the first error */ }
    throw e;
  }
  const publicKeyHex = new TextDecoder().decode(publicText.subarray(0, KEY_FILE_BYTES - 1));
  return { secretKeyFile, publicKeyFile, publicKeyHex };
}

/**
 * The public key of the secret key file contents `input` (a whole file, or
 * its first 65 bytes or more), as 64 lowercase hex characters. Zeroes
 * `input` and every copy of the secret. Throws a one-line
 * {@linkcode UserError} when `input` is not a key file.
 */
export function pubkey(input: Uint8Array): string {
  const parsed = parseKeyFile(input);
  memzero(input);
  if (!parsed.ok) throw new UserError(`the secret key on standard input ${parsed.error}`);
  const pub = publicKeyOf(parsed.value);
  memzero(parsed.value);
  return new TextDecoder().decode(formatKeyFile(pub).subarray(0, KEY_FILE_BYTES - 1));
}

/** Writes a new pre-shared key to `file` (mode 0600). Throws a one-line
 * {@linkcode UserError} when it exists or cannot be written. */
export function genpsk(file: string): string {
  if (file === "") throw new UserError("the file name is empty: give a FILE for the pre-shared key");
  if (exists(file)) {
    throw new UserError(`${file} already exists: refusing to overwrite it; choose another FILE`);
  }
  const psk = new Uint8Array(32);
  randomBytes(psk);
  const text = formatKeyFile(psk);
  memzero(psk);
  try {
    writeNew(file, text, 0o600);
  } finally {
    memzero(text);
  }
  return file;
}
