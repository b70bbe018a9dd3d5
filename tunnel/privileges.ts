/**
 * `--user NAME` (issue 13): the runner's side of giving up root. The user is
 * looked up before anything is opened; once the TAP, the socket, the control
 * socket, the metrics port, the key files and the nonce file are open, the
 * control socket (and its directory, when it is tappet's own under
 * /run/tappet) is given to the user, so that the socket can still be removed
 * at exit, and the process keeps only the user's uid and gid, with no
 * supplementary group and no capability (io/privilege.ts), before the first
 * datagram is handled. `--set-mtu` keeps CAP_NET_ADMIN on the main thread,
 * where tappet makes its SIOCSIFMTU call; nothing else is kept.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { geteuid } from "../ffi/libc.ts";
import { CONTROL_DIR } from "../io/control_path.ts";
import { type Account, dropPrivileges, lookupUser } from "../io/privilege.ts";
import { log } from "../log.ts";

/** The account `--user` names, checked at start: undefined without
 * `--user`. Throws a one-line {@linkcode UserError} for an unknown user, or
 * when tappet is neither root nor already that user. Opens nothing. */
export function accountFor(user: string | undefined): Account | undefined {
  if (user === undefined) return undefined;
  const account = lookupUser(user);
  if (geteuid() !== 0 && geteuid() !== account.uid) {
    throw new UserError(`--user ${user} needs tappet to be started as root; start it as root or drop --user`);
  }
  return account;
}

/** Gives the control socket at `controlPath` (if any) to `account`, then
 * drops to it; see the module doc. Throws an OsError naming the call that
 * failed (the caller must then stop: the process may be half-dropped). */
export function giveUpRoot(account: Account, controlPath: string | undefined, setMtu: boolean): void {
  if (geteuid() === 0 && controlPath !== undefined) {
    Deno.chownSync(controlPath, account.uid, account.gid);
    const dir = controlPath.slice(0, controlPath.lastIndexOf("/"));
    if (dir === CONTROL_DIR || dir.startsWith(`${CONTROL_DIR}/`)) {
      Deno.chownSync(dir, account.uid, account.gid);
    }
  }
  dropPrivileges(account, { keepCapabilities: setMtu ? ["CAP_NET_ADMIN"] : [] });
  const kept = setMtu ? ", keeping CAP_NET_ADMIN for --set-mtu" : "";
  log.info`running as ${account.name} (uid ${account.uid}, gid ${account.gid}), no other group${kept}`;
}
