/**
 * What the forwarder does with the path's size (issue 14): the largest
 * datagram known to cross the path, the largest frame that then fits, and
 * the frames read from the TAP that do not fit:
 *
 * - IPv4 with DF, or IPv6: an ICMP "fragmentation needed" (with the IP MTU
 *   that fits) or ICMPv6 "packet too big" goes back into the TAP (core/icmp.ts),
 *   at most {@linkcode ICMP_PER_SECOND} a second; the frame is dropped;
 * - IPv4 without DF: cut into fragments that fit (core/fragment.ts), each
 *   sealed as a datagram of its own;
 * - anything else (not IP): dropped.
 * Each outcome is counted (the `mtu*` counters of core/stats.ts).
 *
 * An IPv6 packet of at most 1280 bytes (IPv6's minimum link MTU, RFC 8200
 * §5) cannot be refused with "packet too big"; where the path is too small
 * for it after the overhead, it is kept ({@linkcode PathFit.deferred}, up
 * to {@linkcode DEFERRED_MAX} a batch) and sealed and sent at the start of
 * the next outbound step, after the batch it came in (so datagrams still
 * leave in the order they were sealed), as a datagram the kernel may
 * fragment (the runner's `sendFragmentable`: DF off for that one send; see
 * io/sockopt.ts). Without that means (the Deno socket) or beyond the limit
 * it is dropped (mtuDropMinIpv6). {@linkcode PathFit.ipv6BelowMinimum} then
 * says so for `status`.
 *
 * @module
 */

import { copyBytes } from "../core/arena.ts";
import type { Endpoint } from "../core/endpoint.ts";
import type { Engine } from "../core/engine.ts";
import { fragmentIpv4, type FragmentSink } from "../core/fragment.ts";
import { errorAllowed, tooBigError } from "../core/icmp.ts";
import { ETH_P_IPV6, ipOffset } from "../core/mss.ts";
import { PacketBuffer } from "../core/packet.ts";
import type { Stats } from "../core/stats.ts";
import type { FrameDevice } from "../io/tap.ts";
import type { TunnelEvents } from "./forwarder.ts";
import { ipUdpHeader } from "./iface.ts";

/** ICMP errors written into the TAP per second, at most (as Linux's
 * net.ipv4.icmp_msgs_per_sec, scaled down: one tunnel, one sender). */
export const ICMP_PER_SECOND = 100;
/** IPv6's minimum link MTU (RFC 8200 §5), bytes. */
export const IPV6_MIN_MTU = 1280;
/** IPv6 frames of at most 1280 bytes kept per batch to go out as
 * fragmentable datagrams. */
export const DEFERRED_MAX = 8;
/** Fragment buffers per outbound batch: a full batch of frames up to twice
 * the path's frame size can be cut. */
const SPARES_PER_FRAME = 2;
/** Bytes of a fragment buffer: fragments are cut to fit it when the path
 * allows more. */
const SPARE_BYTES = 9216;
/** Room a seal needs after the frame (the current format's 16-byte tag),
 * with slack. */
const SEAL_SLACK = 64;

/**
 * The largest UDP payload, bytes, known to cross the path: the engine's own
 * finding (probing, `maxDatagram`) when it has one, else the configured or
 * measured path MTU (`--path-mtu`, or the MTU of the underlay interface the
 * route to the peer uses) less the IP and UDP headers (28 over IPv4, 48 over
 * IPv6); undefined when none is known.
 */
export function maxDatagram(engine: Engine, pathMtu: number | undefined, family: 4 | 6): number | undefined {
  const probed = engine.maxDatagram;
  if (probed !== undefined) return probed;
  return pathMtu === undefined ? undefined : pathMtu - ipUdpHeader(family);
}

/** The largest frame that fits a datagram of `maxDatagram` bytes after the
 * wire format's `overhead`; Infinity when the datagram size is unknown. */
export function maxFrame(maxDatagram: number | undefined, overhead: number): number {
  return maxDatagram === undefined ? Infinity : maxDatagram - overhead;
}

/** Takes a new datagram size `d` (see {@linkcode maxDatagram}): caps the
 * device's TSO cuts (a TapDevice's `maxFrame`) and reports the path MTU to
 * `events` (`first`: it was unknown). Returns the new largest frame. */
export function pathChanged(
  engine: Engine,
  device: FrameDevice,
  events: TunnelEvents,
  d: number | undefined,
  family: 4 | 6,
  first: boolean,
): number {
  const limit = maxFrame(d, engine.overhead);
  if (d === undefined) return limit;
  const tap = device as { maxFrame?: number };
  if ("maxFrame" in tap) tap.maxFrame = limit;
  events.pathChanged?.(d + ipUdpHeader(family), limit, first);
  return limit;
}

/** The fragment buffers and the ICMP writer of one forwarder; made once. */
export class PathFit {
  /** Fragment buffers; the forwarder seals them like read frames. */
  readonly spares: PacketBuffer[];
  readonly #sink: FragmentSink;
  readonly #icmp: PacketBuffer;
  readonly #icmpBufs: PacketBuffer[];
  readonly #icmpLengths = new Int32Array(1);
  readonly #stats: Stats;
  readonly #device: FrameDevice;
  readonly #headroom: number;
  #used = 0;
  /** The first spare the last {@linkcode handle} wrote a fragment to. */
  first = 0;
  #windowAt = -Infinity;
  #sentInWindow = 0;
  /** True once an IPv6 frame of at most 1280 bytes met a path too small
   * for it (status says so). */
  ipv6BelowMinimum = false;
  /** Buffers of the IPv6 frames kept to go out as fragmentable datagrams:
   * `[0, deferredCount)`, lengths in {@linkcode deferredLengths}; empty
   * when the runner has no way to send them. */
  readonly deferred: PacketBuffer[];
  /** Lengths of the kept frames. */
  readonly deferredLengths = new Int32Array(DEFERRED_MAX);
  /** How many frames are kept. The forwarder empties the list. */
  deferredCount = 0;
  readonly #ignore = () => {};

  /** Buffers for a batch of `batch` frames, with `headroom` and `reserve`
   * as the forwarder's. */
  constructor(
    device: FrameDevice,
    stats: Stats,
    batch: number,
    headroom: number,
    reserve: number,
    canDefer: boolean,
  ) {
    this.deferred = Array.from(
      { length: canDefer ? DEFERRED_MAX : 0 },
      () => new PacketBuffer(headroom, { reserve, size: SPARE_BYTES }),
    );
    this.#device = device;
    this.#stats = stats;
    this.#headroom = headroom;
    const n = batch * SPARES_PER_FRAME;
    this.spares = Array.from({ length: n }, () => new PacketBuffer(headroom, { reserve, size: SPARE_BYTES }));
    this.#sink = {
      bytes: this.spares.map((b) => b.payload),
      views: this.spares.map((b) => b.view),
      bases: Int32Array.from(this.spares, (b) => b.payloadAt),
      lengths: new Int32Array(n),
    };
    this.#icmp = new PacketBuffer(0, { reserve, size: 2048 });
    this.#icmpBufs = [this.#icmp];
  }

  /** Starts a batch: every fragment buffer is free again. */
  reset(): void {
    this.#used = 0;
  }

  /**
   * Handles the frame `buf.payload[0, length)` that is larger than `limit`
   * (the largest frame that fits). Returns how many fragments it wrote to
   * {@linkcode spares} from {@linkcode first} (their lengths in
   * {@linkcode lengthOf}), 0 when the frame was answered with an ICMP error
   * or dropped (counted).
   */
  handle(buf: PacketBuffer, length: number, limit: number, now: number): number {
    const s = this.#stats;
    const v = buf.view;
    const base = buf.payloadAt;
    const ip = ipOffset(v, base, length);
    if (ip < 0) {
      s.mtuDropNotIp++;
      return 0;
    }
    const ipMax = limit - ip;
    if (v.getUint16(base + ip - 2) === ETH_P_IPV6) {
      if (length - ip <= IPV6_MIN_MTU) {
        this.ipv6BelowMinimum = true;
        const k = this.deferredCount;
        if (k < this.deferred.length) {
          copyBytes(this.deferred[k].payload, 0, buf.payload, 0, length);
          this.deferredLengths[k] = length;
          this.deferredCount = k + 1;
          s.mtuKernelFragmented++;
        } else {
          s.mtuDropMinIpv6++;
        }
        return 0;
      }
      this.#sendError(buf, length, ip, Math.max(ipMax, IPV6_MIN_MTU), now);
      return 0;
    }
    const dontFragment = (v.getUint16(base + ip + 6) & 0x4000) !== 0;
    if (dontFragment) {
      this.#sendError(buf, length, ip, ipMax, now);
      return 0;
    }
    const fit = Math.min(limit, SPARE_BYTES - this.#headroom - SEAL_SLACK);
    const first = this.#used;
    this.first = first;
    const count = fragmentIpv4(
      buf.payload,
      v,
      base,
      length,
      ip,
      fit,
      this.#sink,
      first,
      this.spares.length - first,
    );
    if (count === 0) {
      s.mtuDropUnfragmentable++;
      return 0;
    }
    this.#used += count;
    s.mtuFragmented++;
    s.mtuFragments += count;
    return count;
  }

  /**
   * Handles (see {@linkcode handle}) the frame in `buf` too big for the
   * path, seals the fragments it made and puts them in `outBufs` /
   * `outLengths` from `out`. Returns the new `out`.
   */
  sealOversized(
    engine: Engine,
    buf: PacketBuffer,
    length: number,
    limit: number,
    now: number,
    outBufs: PacketBuffer[],
    outLengths: Int32Array,
    out: number,
  ): number {
    const count = this.handle(buf, length, limit, now);
    for (let j = this.first; j < this.first + count; j++) {
      const dlen = engine.seal(this.spares[j], this.lengthOf(j), now);
      if (dlen === 0) continue;
      outBufs[out] = this.spares[j];
      outLengths[out++] = dlen;
    }
    return out;
  }

  /** Seals the kept IPv6 frames and sends each with `send` (DF off) to the
   * engine's peer; empties the list. */
  sendDeferred(
    engine: Engine,
    send: (buf: PacketBuffer, length: number, to: Endpoint) => void,
    now: number,
  ): void {
    for (let i = 0; i < this.deferredCount; i++) {
      const buf = this.deferred[i];
      const dlen = engine.seal(buf, this.deferredLengths[i], now);
      if (dlen > 0 && engine.peer !== undefined) send(buf, dlen, engine.peer);
    }
    this.deferredCount = 0;
  }

  /** The length of the fragment in spare `i`. */
  lengthOf(i: number): number {
    return this.#sink.lengths[i];
  }

  #sendError(buf: PacketBuffer, length: number, ip: number, mtu: number, now: number): void {
    const s = this.#stats;
    s.mtuTooBig++;
    if (!errorAllowed(buf.view, buf.payloadAt, length, ip)) return;
    if (now - this.#windowAt >= 1e9) {
      this.#windowAt = now;
      this.#sentInWindow = 0;
    }
    if (++this.#sentInWindow > ICMP_PER_SECOND) {
      s.mtuIcmpLimited++;
      return;
    }
    const b = this.#icmp;
    this.#icmpLengths[0] = tooBigError(buf.view, buf.payloadAt, length, ip, mtu, b.view, b.payloadAt);
    if (this.#device.writeFrames(this.#icmpBufs, this.#icmpLengths, 1, this.#ignore) === 1) s.mtuIcmpSent++;
  }
}
