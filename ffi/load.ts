/**
 * The one error of ffi/ that is not a failed system call: a native library
 * that cannot be opened (or initialised). It states facts only, with the
 * original error as `cause`; what to tell the user (which package to
 * install, which `--allow-*` permission is missing) is the runner's to say.
 *
 * @module
 */

import { UserError } from "../errors.ts";

/**
 * A native library that could not be loaded.
 *
 * - {@linkcode library}: which one, as tappet names it ("libc", "libsodium").
 * - {@linkcode tried}: every path or soname tried, in order.
 * - {@linkcode envVariable}: the environment variable that named the one
 *   path tried, when that override was used.
 * - {@linkcode permissionDenied}: Deno refused `dlopen` itself (no
 *   `--allow-ffi`), so the library was never looked for.
 * - `cause`: the first error (from `Deno.dlopen`, or from the library's init).
 *
 * It is a {@linkcode UserError} so that a runner that does not know it still
 * prints one line; `message` carries an advice sentence kept for those
 * runners (see the `advice` argument).
 */
export class LibraryLoadError extends UserError {
  /** The library, as tappet names it: "libc" or "libsodium". */
  readonly library: string;
  /** The paths or sonames tried, in order. */
  readonly tried: readonly string[];
  /** The environment variable whose value was the only path tried, if any. */
  readonly envVariable?: string;
  /** True when Deno refused to load native code at all (`--allow-ffi`). */
  readonly permissionDenied: boolean;
  /** The facts alone, without advice: "libsodium cannot be loaded (tried …: …)". */
  readonly facts: string;

  /** `cause` is the first failure; `advice` (optional) is appended to the
   * message after a colon. */
  constructor(
    library: string,
    tried: readonly string[],
    cause: unknown,
    options: { envVariable?: string; advice?: string; what?: string } = {},
  ) {
    const permissionDenied = cause instanceof Deno.errors.NotCapable;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const facts = options.what ?? `${library} cannot be loaded (tried ${tried.join(", ")}: ${reason})`;
    super(options.advice === undefined ? facts : `${facts}: ${options.advice}`, { cause });
    this.name = "LibraryLoadError";
    this.library = library;
    this.tried = tried;
    this.envVariable = options.envVariable;
    this.permissionDenied = permissionDenied;
    this.facts = facts;
  }
}
