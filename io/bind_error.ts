/**
 * The one wording of a failed bind, for both UDP transports: the FFI socket
 * (an errno) and Deno's (an error class), mapped to the same names first.
 *
 * @module
 */

import { UserError } from "../errors.ts";

/** Ports below this need CAP_NET_BIND_SERVICE: PROT_SOCK of the kernel's
 * <net/sock.h>, the default of sysctl net.ipv4.ip_unprivileged_port_start. */
export const PROT_SOCK = 1024;

/**
 * The one-line {@linkcode UserError} for binding `where` (host:port text,
 * port `port`) that failed with `code`: an errno name ("EADDRINUSE",
 * "EADDRNOTAVAIL", "EACCES"), or "NotCapable" when Deno lacks `--allow-net`;
 * `detail` is the system's text, used for any other code. `cause` becomes
 * the error's cause.
 */
export function bindError(
  code: string,
  where: string,
  port: number,
  detail: string,
  cause?: unknown,
): UserError {
  const message = (() => {
    switch (code) {
      case "EADDRINUSE":
        return `UDP ${where} is already in use (another tappet?): stop that process or choose another port`;
      case "EADDRNOTAVAIL":
        return `cannot listen on ${where}: the address is not on any interface of this host; give a local address`;
      case "NotCapable":
        return `cannot listen on ${where}: Deno needs --allow-net`;
      case "EACCES":
      case "EPERM":
        return port < PROT_SOCK
          ? `cannot listen on ${where}: ports below ${PROT_SOCK} need privileges; use a port of ${PROT_SOCK} or above, or give deno the capability cap_net_bind_service`
          : `cannot listen on ${where}: permission denied`;
      default:
        return `cannot listen on ${where}: ${detail}`;
    }
  })();
  return new UserError(message, { cause });
}
