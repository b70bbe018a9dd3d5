/** tappet without its check of Deno's permissions before a command starts:
 * what a missing permission does without that check. For
 * `permissions_test.ts` only. */

import { main } from "../main.ts";

Deno.exit(await main(Deno.args, { checkPermissions: false }));
