/**
 * TAP offloads, as wireguard-go does them for TUN: with IFF_VNET_HDR and
 * TUNSETOFFLOAD the kernel hands tappet TCP super-frames of up to 64 KiB
 * (TSO) instead of one frame per segment, and takes such super-frames back,
 * so each TCP stack sees a few large packets instead of many small ones.
 * The wire carries plain frames only.
 *
 * - io/vnet.ts: the virtio_net_hdr in front of every frame, and the header
 *   offsets and sums the others share.
 * - io/tso.ts: {@linkcode TsoSplitter} cuts a super-frame read from the TAP
 *   into the frames that cross the tunnel.
 * - io/coalesce.ts: {@linkcode Coalescer} joins received segments of one
 *   flow back into super-frames for the TAP.
 *
 * The TAP device (io/tap.ts) turns the offloads on at start and off again
 * at close, so the TAP is left as it was found.
 *
 * @module
 */

export { SUPER_FRAME_BYTES, Vnet, VNET_HDR_LEN } from "./vnet.ts";
export { TsoSplitter } from "./tso.ts";
export { Coalescer } from "./coalesce.ts";
