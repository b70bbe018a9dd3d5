/**
 * tappet: an encrypted Ethernet-over-UDP tunnel between two TAP interfaces,
 * for Deno, with libsodium and the kernel's TAP driver reached through FFI.
 *
 * This module is the public API. It only re-exports; each item is documented
 * where it is defined.
 *
 * - The protocol core, without I/O: {@linkcode LegacySession} seals and opens
 *   datagrams of the 2014 wire format in place; {@linkcode LegacyNonce} and
 *   {@linkcode LegacyReplay} are its nonce source and replay rule.
 * - The edges: {@linkcode TapDevice} (a {@linkcode FrameDevice}), and two
 *   {@linkcode Transport}s: {@linkcode FfiUdpTransport}, tappet's own
 *   batched socket (the default, with a {@linkcode SyncTransport} side), and
 *   {@linkcode DenoUdpTransport} (Deno's); in-memory fakes for tests
 *   ({@linkcode FakeDevice}, {@linkcode FakeNetwork}, {@linkcode FakeWaiter}).
 * - Forwarding: {@linkcode Forwarder}, the synchronous steps over an
 *   {@linkcode Engine} (a wire format: {@linkcode LegacyEngine},
 *   {@linkcode CurrentEngine}), driven by {@linkcode PollDriver} (the default
 *   path, one loop on the main thread) or {@linkcode AsyncDriver};
 *   {@linkcode Tunnel} picks the driver and owns the edges, and
 *   {@linkcode runTunnel} starts one the way the `tappet` command does.
 * - Files: {@linkcode keygen}, key files, the nonce file.
 *
 * ```ts
 * import { keygen } from "./mod.ts";
 * keygen("alice"); // alice.key (0600) and alice.pub (0644)
 * ```
 *
 * @module
 */

export { type HostPort, type Parsed, parseHostPort, parseIp, parsePort } from "./core/address.ts";
export {
  HEADROOM,
  isAccepted,
  KEEPALIVE,
  LegacySession,
  MAX_FRAME,
  MIN_FRAME,
  Open,
  type OpenKind,
  OVERHEAD,
} from "./core/legacy.ts";
export { LegacyNonce, NONCE_BYTES } from "./core/legacy_nonce.ts";
export { LegacyReplay } from "./core/legacy_replay.ts";
export { MAX_DATAGRAM, PacketBuffer, type PacketBufferOptions } from "./core/packet.ts";
export { Arena, ARENA_BYTES, copyBytes } from "./core/arena.ts";
export { type OnesSum, onesSum } from "./core/checksum.ts";
export { type Counter, COUNTERS, Stats } from "./core/stats.ts";
export { OsError, ReportedError, UserError } from "./errors.ts";
export { keygen, type KeyPairFiles } from "./keygen.ts";
export { formatKeyFile, type KeyKind, parseKeyFile, readKeyFile } from "./io/keyfile.ts";
export { nextNoncePrefix, takeNoncePrefix } from "./io/noncefile.ts";
export { checkInterfaceName, type FrameDevice, TapDevice } from "./io/tap.ts";
export { type Endpoint, sameEndpoint } from "./core/endpoint.ts";
export type { SendFailure, SyncTransport, Transport } from "./io/transport.ts";
export { type BindInfo, DenoUdpTransport } from "./io/udp_deno.ts";
export { decodeSockaddr, type FfiBindInfo, FfiUdpTransport, SOCKET_BUFFER_BYTES } from "./io/udp_ffi.ts";
export { FdWaiter, PollSet, PollWaiter, type Waiter } from "./io/wait.ts";
export {
  CALLS_KEPT,
  type FakeDatagram,
  FakeDevice,
  FakeNetwork,
  FakeTransport,
  FakeWaiter,
  type WaitCall,
} from "./io/fake.ts";
export {
  Batch,
  DEFAULT_BATCH,
  Forwarder,
  type ForwarderOptions,
  RECEIVE_ERROR_PAUSE_MS,
  type TunnelEvents,
} from "./tunnel/forwarder.ts";
export { IDLE_POLL_MS, PARK_MS, PollDriver, YIELD_NS, yieldToEventLoop } from "./tunnel/poll_driver.ts";
export { AsyncDriver } from "./tunnel/async_driver.ts";
export { type LoopStatus, Tunnel, type TunnelInfo, type TunnelOptions } from "./tunnel/loop.ts";
export { type InterfaceState, interfaceState } from "./tunnel/iface.ts";
export type { Engine, SessionInfo } from "./core/engine.ts";
export { LEGACY_KEEPALIVE_MS, LegacyEngine, type LegacyEngineOptions } from "./core/legacy_engine.ts";
export {
  type CommonConfig,
  type CurrentConfig,
  type LegacyConfig,
  type RunHooks,
  runTunnel,
  tapMtuFor,
  type TunnelConfig,
} from "./tunnel/run.ts";
export {
  CurrentEngine,
  type CurrentEngineOptions,
  MAX_FRAME_CURRENT,
  TIMERS,
  type Timers,
} from "./core/current_engine.ts";
export { CipherState, HandshakeState, type KeyPair, type PatternName, SymmetricState } from "./core/noise.ts";
export { ReplayWindow } from "./core/replay_window.ts";
export { DATA, PROLOGUE, Type } from "./core/current_wire.ts";
