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
 * - The edges: {@linkcode TapDevice} (a {@linkcode FrameDevice}) and
 *   {@linkcode DenoUdpTransport} (a {@linkcode Transport}), with in-memory
 *   fakes for tests.
 * - The packet loop {@linkcode Tunnel}, which drives an {@linkcode Engine}
 *   (a wire format, such as {@linkcode LegacyEngine}), and
 *   {@linkcode runTunnel}, which starts one the way the `tappet` command does.
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
export { MAX_DATAGRAM, PacketBuffer } from "./core/packet.ts";
export { Stats } from "./core/stats.ts";
export { OsError, UserError } from "./errors.ts";
export { keygen, type KeyPairFiles } from "./keygen.ts";
export { formatKeyFile, type KeyKind, parseKeyFile, readKeyFile } from "./io/keyfile.ts";
export { nextNoncePrefix, takeNoncePrefix } from "./io/noncefile.ts";
export { checkInterfaceName, type FrameDevice, TapDevice } from "./io/tap.ts";
export { type Endpoint, sameEndpoint } from "./core/endpoint.ts";
export type { SendFailure, SyncTransport, Transport } from "./io/transport.ts";
export { type BindInfo, DenoUdpTransport } from "./io/udp_deno.ts";
export { decodeSockaddr, type FfiBindInfo, FfiUdpTransport, SOCKET_BUFFER_BYTES } from "./io/udp_ffi.ts";
export { FdWaiter, PollSet } from "./io/wait.ts";
export { type FakeDatagram, FakeDevice, FakeNetwork, FakeTransport } from "./io/fake.ts";
export { DEFAULT_BATCH, Tunnel, type TunnelEvents, type TunnelOptions } from "./tunnel/loop.ts";
export type { Engine, SessionInfo } from "./core/engine.ts";
export { LEGACY_KEEPALIVE_MS, LegacyEngine, type LegacyEngineOptions } from "./core/legacy_engine.ts";
export {
  type CommonConfig,
  type CurrentConfig,
  type LegacyConfig,
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
