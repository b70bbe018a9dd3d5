/**
 * libsodium through `Deno.dlopen`: all of tappet's cryptography.
 *
 * The library is found, opened and initialised (`sodium_init()`, checked) on
 * first use, not at import time. `TAPPET_LIBSODIUM` names a library path to
 * try instead of the sonames below. A failure is a
 * {@linkcode LibraryLoadError}. Buffers are passed as typed arrays; callers
 * never see a pointer.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { LibraryLoadError } from "./load.ts";

/** int crypto_aead_chacha20poly1305_ietf_encrypt(unsigned char *c,
 *   unsigned long long *clen_p, const unsigned char *m, unsigned long long mlen,
 *   const unsigned char *ad, unsigned long long adlen, const unsigned char *nsec,
 *   const unsigned char *npub, const unsigned char *k): c = ciphertext || tag;
 *   c may equal m (in place). The xchacha20 variant has the same signature. */
const AEAD_ENCRYPT = {
  parameters: ["buffer", "buffer", "buffer", "u64", "buffer", "u64", "buffer", "buffer", "buffer"],
  result: "i32",
} as const;

/** int crypto_aead_chacha20poly1305_ietf_decrypt(unsigned char *m,
 *   unsigned long long *mlen_p, unsigned char *nsec, const unsigned char *c,
 *   unsigned long long clen, const unsigned char *ad, unsigned long long adlen,
 *   const unsigned char *npub, const unsigned char *k): -1 when the tag is
 *   wrong (m untouched); m may equal c. The xchacha20 variant has the same
 *   signature. */
const AEAD_DECRYPT = {
  parameters: ["buffer", "buffer", "buffer", "buffer", "u64", "buffer", "u64", "buffer", "buffer"],
  result: "i32",
} as const;

const SYMBOLS = {
  /** int sodium_init(void): 0 on success, 1 if already done, -1 on failure */
  sodium_init: { parameters: [], result: "i32" },
  /** void randombytes_buf(void *buf, size_t size) */
  randombytes_buf: { parameters: ["buffer", "usize"], result: "void" },
  /** void sodium_memzero(void *pnt, size_t len) */
  sodium_memzero: { parameters: ["buffer", "usize"], result: "void" },
  /** int sodium_memcmp(const void *b1, const void *b2, size_t len):
   * constant time, 0 when equal */
  sodium_memcmp: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  /** int crypto_box_keypair(unsigned char *pk, unsigned char *sk) */
  crypto_box_keypair: { parameters: ["buffer", "buffer"], result: "i32" },
  /** int crypto_scalarmult_base(unsigned char *q, const unsigned char *n) */
  crypto_scalarmult_base: { parameters: ["buffer", "buffer"], result: "i32" },
  /** int crypto_scalarmult(unsigned char *q, const unsigned char *n,
   *                        const unsigned char *p) */
  crypto_scalarmult: {
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
  },
  /** int crypto_box_beforenm(unsigned char *k, const unsigned char *pk,
   *                          const unsigned char *sk) */
  crypto_box_beforenm: {
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
  },
  /** int crypto_box_easy_afternm(unsigned char *c, const unsigned char *m,
   *   unsigned long long mlen, const unsigned char *n, const unsigned char *k) */
  crypto_box_easy_afternm: {
    parameters: ["buffer", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
  },
  /** int crypto_box_open_easy_afternm(unsigned char *m, const unsigned char *c,
   *   unsigned long long clen, const unsigned char *n, const unsigned char *k) */
  crypto_box_open_easy_afternm: {
    parameters: ["buffer", "buffer", "u64", "buffer", "buffer"],
    result: "i32",
  },
  /** int crypto_generichash(unsigned char *out, size_t outlen,
   *   const unsigned char *in, unsigned long long inlen,
   *   const unsigned char *key, size_t keylen): BLAKE2b, outlen 16..64,
   *   key NULL or 16..64 bytes */
  crypto_generichash: {
    parameters: ["buffer", "usize", "buffer", "u64", "buffer", "usize"],
    result: "i32",
  },
  /** {@linkcode AEAD_ENCRYPT}: 12-byte nonce */
  crypto_aead_chacha20poly1305_ietf_encrypt: AEAD_ENCRYPT,
  /** {@linkcode AEAD_DECRYPT}: 12-byte nonce */
  crypto_aead_chacha20poly1305_ietf_decrypt: AEAD_DECRYPT,
  /** {@linkcode AEAD_ENCRYPT} with a 24-byte nonce (npub) */
  crypto_aead_xchacha20poly1305_ietf_encrypt: AEAD_ENCRYPT,
  /** {@linkcode AEAD_DECRYPT} with a 24-byte nonce (npub) */
  crypto_aead_xchacha20poly1305_ietf_decrypt: AEAD_DECRYPT,
} as const satisfies Deno.ForeignLibraryInterface;

/** The sonames tried, in order, after `TAPPET_LIBSODIUM`. */
export const SODIUM_NAMES = [
  "libsodium.so.23",
  "libsodium.so.26",
  "libsodium.so",
] as const;

/** The environment variable that names a libsodium to load first. */
export const SODIUM_ENV = "TAPPET_LIBSODIUM";

/** libsodium's symbols, initialised. */
export type Sodium = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Sodium | undefined;

/** Sizes from <sodium/crypto_aead_chacha20poly1305.h> and
 * <sodium/crypto_aead_xchacha20poly1305.h>. */
export const AEAD = {
  KEYBYTES: 32,
  /** chacha20poly1305_ietf nonce */
  NPUBBYTES: 12,
  /** xchacha20poly1305_ietf nonce */
  XNPUBBYTES: 24,
  ABYTES: 16,
} as const;

/** Sizes from <sodium/crypto_box.h> and <sodium/crypto_scalarmult.h>. */
export const BOX = {
  PUBLICKEYBYTES: 32,
  SECRETKEYBYTES: 32,
  BEFORENMBYTES: 32,
  NONCEBYTES: 24,
  MACBYTES: 16,
} as const;

function envOverride(): string | undefined {
  const perm = Deno.permissions.querySync({ name: "env", variable: SODIUM_ENV });
  return perm.state === "granted" ? Deno.env.get(SODIUM_ENV) || undefined : undefined;
}

/**
 * Loads and initialises libsodium on first call; later calls return the same
 * symbols. Throws a {@linkcode LibraryLoadError} (library "libsodium", the
 * names tried, the first failure as `cause`) when no library can be loaded or
 * `sodium_init()` fails.
 */
export function sodium(): Sodium {
  if (lib !== undefined) return lib;
  const override = envOverride();
  const names = override ? [override] : [...SODIUM_NAMES];
  let first: unknown;
  let opened: Sodium | undefined;
  for (const name of names) {
    try {
      opened = Deno.dlopen(name, SYMBOLS).symbols;
      break;
    } catch (e) {
      first ??= e;
    }
  }
  if (opened === undefined && first instanceof Deno.errors.NotCapable) {
    throw new LibraryLoadError("libsodium", names, first, {
      what: "libsodium cannot be loaded: Deno does not allow native code",
      advice: "run deno with --allow-ffi",
    });
  }
  if (opened === undefined) {
    const reason = first instanceof Error ? first.message : String(first);
    // The advice is kept here until the runner words its own from the
    // error's fields (library, tried, envVariable, permissionDenied).
    throw new LibraryLoadError("libsodium", names, first, {
      envVariable: override ? SODIUM_ENV : undefined,
      what: override
        ? `${SODIUM_ENV}=${override} cannot be loaded (${reason})`
        : `libsodium not found (tried ${names.join(", ")})`,
      advice: "install the Debian package libsodium23 (apt-get install libsodium23)" +
        (override ? ` or correct ${SODIUM_ENV}` : ` or set ${SODIUM_ENV} to the library's path`),
    });
  }
  if (opened.sodium_init() < 0) {
    const cause = new Error("sodium_init() returned -1");
    throw new LibraryLoadError("libsodium", names, cause, {
      what: "sodium_init() failed",
      advice: "libsodium cannot run on this system",
    });
  }
  lib = opened;
  return lib;
}

/** Fills `buf` with random bytes from libsodium's generator. */
export function randomBytes(buf: Uint8Array): void {
  sodium().randombytes_buf(buf, BigInt(buf.length));
}

/** Overwrites `buf` with zeros in a way the compiler cannot skip. */
export function memzero(buf: Uint8Array): void {
  sodium().sodium_memzero(buf, BigInt(buf.length));
}

/** Constant-time equality of two buffers of the same length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sodium().sodium_memcmp(a, b, BigInt(a.length)) === 0;
}

/** The X25519 public key of secret key `sk` (32 bytes each). */
export function publicKeyOf(sk: Uint8Array): Uint8Array<ArrayBuffer> {
  const pk = new Uint8Array(BOX.PUBLICKEYBYTES);
  sodium().crypto_scalarmult_base(pk, sk);
  return pk;
}

/** A new crypto_box (X25519) key pair from libsodium's generator. */
export function boxKeypair(): { publicKey: Uint8Array<ArrayBuffer>; secretKey: Uint8Array<ArrayBuffer> } {
  const publicKey = new Uint8Array(BOX.PUBLICKEYBYTES);
  const secretKey = new Uint8Array(BOX.SECRETKEYBYTES);
  if (sodium().crypto_box_keypair(publicKey, secretKey) !== 0) {
    throw new Error("crypto_box_keypair() failed");
  }
  return { publicKey, secretKey };
}

/**
 * `crypto_box_beforenm(theirPublic, ourSecret)`: the shared key of the
 * legacy format, the same for both directions. Throws when libsodium rejects
 * the public key (a low-order point).
 */
export function boxBeforenm(theirPublic: Uint8Array, ourSecret: Uint8Array): Uint8Array<ArrayBuffer> {
  const k = new Uint8Array(BOX.BEFORENMBYTES);
  if (sodium().crypto_box_beforenm(k, theirPublic, ourSecret) !== 0) {
    throw new UserError(
      "the peer's public key is a low-order point, unusable for key agreement: check the peer key file",
    );
  }
  return k;
}
