/**
 * tunnel/route.ts: the RTM_GETROUTE request against bytes worked out from
 * <linux/netlink.h> and <linux/rtnetlink.h> by hand, the answer's RTA_OIF,
 * and the kernel's answer for loopback.
 */

import { strict as assert } from "node:assert";
import { outputInterface, routeRequest, underlayMtu } from "../tunnel/route.ts";

Deno.test("route: the RTM_GETROUTE request for 198.18.1.2", () => {
  const req = routeRequest(new Uint8Array([198, 18, 1, 2]), 4);
  assert.deepEqual([...req], [
    ...[36, 0, 0, 0, 26, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0], // nlmsghdr: len 36, RTM_GETROUTE, NLM_F_REQUEST, seq 1
    ...[2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // rtmsg: AF_INET, dst_len 32
    ...[8, 0, 1, 0, 198, 18, 1, 2], // rtattr RTA_DST
  ]);
});

Deno.test("route: RTA_OIF is found after other attributes; errors give undefined", () => {
  const answer = new Uint8Array([
    ...[52, 0, 0, 0, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], // RTM_NEWROUTE
    ...[2, 32, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0],
    ...[8, 0, 1, 0, 198, 18, 1, 2], // RTA_DST
    ...[5, 0, 9, 0, 7, 0, 0, 0], // a 5-byte attribute, padded to 8
    ...[8, 0, 4, 0, 3, 0, 0, 0], // RTA_OIF 3
  ]);
  assert.equal(outputInterface(answer, answer.length), 3);
  const error = answer.slice();
  error[4] = 2; // NLMSG_ERROR
  assert.equal(outputInterface(error, error.length), undefined);
  assert.equal(outputInterface(answer, 20), undefined);
});

Deno.test("route: loopback goes through lo, with lo's MTU", () => {
  const lo = underlayMtu("127.0.0.1", 4);
  assert.equal(lo?.iface, "lo");
  assert.ok((lo?.mtu ?? 0) >= 1500);
  assert.equal(underlayMtu("::1", 6)?.iface, "lo");
});
