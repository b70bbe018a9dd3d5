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
 * `tappet genpsk FILE` writes a pre-shared key the same way: 32 random bytes
 * from libsodium as 64 hex characters and a newline, mode 0600.
 *
 * @module
 */

import { UserError } from "./errors.ts";
import { boxKeypair, memzero, randomBytes } from "./ffi/sodium.ts";
import { fileError, formatKeyFile } from "./io/keyfile.ts";

/** The two files {@linkcode keygen} wrote. */
export interface KeyPairFiles {
  /** `NAME.key`: the secret key, mode 0600. */
  readonly secretKeyFile: string;
  /** `NAME.pub`: the public key, mode 0644. */
  readonly publicKeyFile: string;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw fileError(e, path, "");
  }
}

/** Creates `path` (which must not exist) with exactly `mode` and `bytes`,
 * synced to disk. */
function writeNew(path: string, bytes: Uint8Array, mode: number): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { write: true, createNew: true, mode });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new UserError(`${path} already exists: refusing to overwrite it; choose another NAME`);
    }
    throw fileError(e, `key file ${path}`, "check that its directory exists");
  }
  try {
    Deno.chmodSync(path, mode); // exactly, whatever the umask
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
  try {
    writeNew(secretKeyFile, secretText, 0o600);
  } finally {
    memzero(secretText);
  }
  try {
    writeNew(publicKeyFile, formatKeyFile(publicKey), 0o644);
  } catch (e) {
    try {
      Deno.removeSync(secretKeyFile);
    } catch { /* report the first error */ }
    throw e;
  }
  return { secretKeyFile, publicKeyFile };
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
