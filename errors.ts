/**
 * The two kinds of failure that end a tappet command. Protocol outcomes (a
 * bad tag, a replay, a runt) are not errors: they are counted and dropped.
 *
 * @module
 */

/**
 * A failure the user can act on. `message` is one line that names the file,
 * value or interface, says what is wrong and what to do. The CLI prints it
 * after `tappet: ` and exits with `exitCode`; it never prints a stack trace.
 */
export class UserError extends Error {
  /** Process exit status: 2 for a usage error, 1 for everything else. */
  readonly exitCode: number;

  /** `message` is the whole line shown to the user, without "tappet: ". */
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, { cause: options?.cause });
    this.name = "UserError";
    this.exitCode = options?.exitCode ?? 1;
  }
}

/**
 * A failed system call made through FFI: the call's name and errno. Made by
 * `lastError(syscall)` in ffi/libc.ts right after the call, which reads errno
 * on the same thread and names it.
 */
export class OsError extends Error {
  /** The call that failed, e.g. `ioctl(TUNSETIFF)`. */
  readonly syscall: string;
  /** errno as the kernel returned it. */
  readonly errno: number;
  /** errno's symbolic name, e.g. "EBADFD" ("errno N" for one not named). */
  readonly code: string;

  /** `text` is the C library's description of `errno`, `code` its name. */
  constructor(syscall: string, errno: number, text: string, code = `errno ${errno}`) {
    super(`${syscall}: ${text}`);
    this.name = "OsError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
  }
}

/**
 * A failure already reported on stderr, in the order the user should read
 * it (the runner says why a running tunnel ended before its stop lines). The
 * CLI prints nothing more and exits with `exitCode`; `cause` is the error.
 */
export class ReportedError extends Error {
  /** Process exit status. */
  readonly exitCode: number;

  /** `exitCode` for the process; the reported error as `cause`. */
  constructor(exitCode: number, options: { cause: unknown }) {
    super((options.cause as Error)?.message ?? String(options.cause), options);
    this.name = "ReportedError";
    this.exitCode = exitCode;
  }
}
