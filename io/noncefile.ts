/**
 * The legacy format's nonce file (`PROTOCOL.md` §1 "Nonce file"): exactly 4
 * bytes, a host-order u32 (little-endian on x86-64 and arm64). Each run
 * increments it, writes it back and fsyncs it before its first datagram, and
 * uses the new value as its nonce prefix; so a restarted peer's nonces sort
 * above every nonce of its earlier runs.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { fileError } from "./file_error.ts";

/** Size of a nonce file in bytes. */
export const NONCE_FILE_BYTES = 4;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The advice for a nonce file that must be recreated. */
export const NONCE_FILE_HOWTO = "create it with: dd if=/dev/zero of=FILE bs=1 count=4";

function wrongSize(size: number): string {
  return `holds ${size} bytes, but the file must hold exactly 4 bytes: ${NONCE_FILE_HOWTO} ` +
    "(only with new keys on both peers, or a value above every earlier one)";
}

/**
 * The next prefix for nonce-file contents `before`: the host-order u32 plus
 * one, and the 4 bytes to write back. Pure. The error says what is wrong; the
 * caller adds the file name.
 */
export function nextNoncePrefix(
  before: Uint8Array,
): { ok: true; prefix: number; after: Uint8Array<ArrayBuffer> } | { ok: false; error: string } {
  if (before.length !== NONCE_FILE_BYTES) return { ok: false, error: wrongSize(before.length) };
  const view = new DataView(before.buffer, before.byteOffset, 4);
  const prefix = (view.getUint32(0, LITTLE_ENDIAN) + 1) >>> 0;
  if (prefix === 0) {
    return {
      ok: false,
      error:
        "is at its maximum (prefix overflow): regenerate keys on both peers and reset the nonce files to zero",
    };
  }
  const after = new Uint8Array(NONCE_FILE_BYTES);
  new DataView(after.buffer).setUint32(0, prefix, LITTLE_ENDIAN);
  return { ok: true, prefix, after };
}

/**
 * Takes the next nonce prefix from file `path`: reads it, increments it,
 * writes it back and fsyncs it, then returns the new value. The file is
 * closed on every path. Throws a one-line {@linkcode UserError} naming the
 * file on any failure; a prefix is consumed only when this returns.
 */
export function takeNoncePrefix(path: string): number {
  const what = `nonce file ${path}`;
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(path, { read: true, write: true });
    const size = file.statSync().size;
    if (size !== NONCE_FILE_BYTES) throw new UserError(`${what} ${wrongSize(size)}`);
    const before = new Uint8Array(NONCE_FILE_BYTES);
    let got = 0;
    while (got < NONCE_FILE_BYTES) {
      const n = file.readSync(before.subarray(got));
      if (n === null) throw new UserError(`${what} shrank while being read: try again`);
      got += n;
    }
    const next = nextNoncePrefix(before);
    if (!next.ok) throw new UserError(`${what} ${next.error}`);
    file.seekSync(0, Deno.SeekMode.Start);
    let put = 0;
    while (put < NONCE_FILE_BYTES) put += file.writeSync(next.after.subarray(put));
    file.syncSync();
    return next.prefix;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw fileError(e, what, NONCE_FILE_HOWTO.replace("FILE", path));
  } finally {
    file?.close();
  }
}
