/**
 * One way to turn a failed file operation into a line the user can act on,
 * for every module that opens the user's files (key files, nonce files,
 * keygen's output).
 *
 * @module
 */

import { UserError } from "../errors.ts";

/** The `--allow-*` flag a Deno permission error names ("run again with the
 * --allow-read flag"), in `e` or its chain of causes, or undefined when
 * there is none. Deno reports a refused permission as NotCapable (older
 * versions as PermissionDenied, which otherwise means the OS said EACCES). */
export function deniedFlag(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    const flag = /--allow-[a-z-]+/.exec(cur.message)?.[0];
    if (cur instanceof Deno.errors.NotCapable) return flag ?? "--allow-all";
    if (cur instanceof Deno.errors.PermissionDenied && flag !== undefined) return flag;
  }
  return undefined;
}

/** A one-line {@linkcode UserError} for a failed file operation on `what`
 * ("secret key file a.key"). `create` is the advice when it is missing. */
export function fileError(e: unknown, what: string, create: string): UserError {
  if (e instanceof Deno.errors.NotFound) {
    return new UserError(`${what} does not exist: ${create}`, { cause: e });
  }
  const flag = deniedFlag(e);
  if (flag !== undefined) {
    return new UserError(
      `${what} cannot be opened: Deno was not granted ${flag}; run tappet with ${flag} (see "Running it" in the README)`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new UserError(
      `${what} cannot be opened (permission denied): check its owner and mode, and the user tappet runs as`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new UserError(`${what} is a directory: give the path of a file`, { cause: e });
  }
  return new UserError(`${what}: ${(e as Error).message}`, { cause: e });
}
