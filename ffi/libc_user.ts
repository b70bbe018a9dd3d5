/**
 * glibc through `Deno.dlopen`: the calls that look up a user and give up
 * root (io/privilege.ts). Kept apart from ./libc.ts, whose symbols are on the
 * packet path; errno and its text come from there (the same libc.so.6, the
 * same per-thread errno). Opened on first use, not at import time.
 *
 * @module
 */

import { libc } from "./libc.ts";

const SYMBOLS = {
  /** int getpwnam_r(const char *name, struct passwd *pwd, char *buf,
   *   size_t buflen, struct passwd **result): 0 with *result NULL when there
   *   is no such user; ERANGE when buf is too small. Goes through NSS. */
  getpwnam_r: { parameters: ["buffer", "buffer", "buffer", "usize", "buffer"], result: "i32" },
  /** int setgroups(size_t size, const gid_t *list): glibc applies it to every
   * thread of the process. */
  setgroups: { parameters: ["usize", "pointer"], result: "i32" },
  /** int setgid(gid_t gid): as root, the real, effective and saved gids, on
   * every thread (glibc's set*id broadcast). */
  setgid: { parameters: ["u32"], result: "i32" },
  /** int setuid(uid_t uid): as root, the real, effective and saved uids, on
   * every thread. */
  setuid: { parameters: ["u32"], result: "i32" },
  /** uid_t getuid(void) */
  getuid: { parameters: [], result: "u32" },
  /** gid_t getgid(void) */
  getgid: { parameters: [], result: "u32" },
  /** gid_t getegid(void) */
  getegid: { parameters: [], result: "u32" },
  /** int prctl(int option, unsigned long arg2, unsigned long arg3,
   *   unsigned long arg4, unsigned long arg5): variadic in C; five
   *   register-sized arguments are correct on x86-64 and aarch64 Linux. */
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  /** int capset(cap_user_header_t hdrp, const cap_user_data_t datap): the
   * calling thread only. */
  capset: { parameters: ["buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Constants from the headers named beside each. */
export const U = {
  // <linux/prctl.h>
  PR_SET_KEEPCAPS: 8,
  // <linux/capability.h>
  LINUX_CAPABILITY_VERSION_3: 0x20080522,
  // glibc <pwd.h>, LP64: struct passwd { char *pw_name; char *pw_passwd;
  // uid_t pw_uid; gid_t pw_gid; char *pw_gecos; char *pw_dir; char *pw_shell; }
  PASSWD_SIZE: 48,
  PW_UID_OFFSET: 16,
  PW_GID_OFFSET: 20,
  PW_DIR_OFFSET: 32,
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Lib | undefined;

/** Opens the symbols on first use (after ./libc.ts, so that errno() works). */
export function libcUser(): Lib {
  if (lib === undefined) {
    libc();
    try {
      lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    } catch (cause) {
      throw new Error(`cannot load libc.so.6 (${(cause as Error).message}); tappet needs Linux with glibc`, {
        cause,
      });
    }
  }
  return lib;
}
