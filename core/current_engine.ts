/**
 * The current wire format as an {@linkcode Engine}: a Noise_IKpsk2 handshake
 * (forward secrecy, hidden initiator identity), per-direction transport keys
 * with a 48-bit counter and a sliding replay window, rekeying, cookies under
 * load, and WireGuard's timers. docs/PROTOCOL.md is the specification; this
 * is its implementation. No I/O: time comes in as `now` (CLOCK_MONOTONIC ns)
 * and the wall clock (for the initiation's timestamp) through an option.
 *
 * Sessions: each completed handshake makes a keypair. The responder keeps a
 * new one as `next` until the first datagram under it arrives (that proves
 * the initiator has it); then `next` becomes `current` and `current`
 * becomes `previous`, which still opens late datagrams until it expires.
 * Only `current` seals.
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { constantTimeEqual, memzero, randomBytes, sodium } from "../ffi/sodium.ts";
import type { Endpoint } from "./endpoint.ts";
import { sameEndpoint } from "./endpoint.ts";
import { CookieChecker, CookieJar } from "./cookie.ts";
import {
  checkMac,
  COOKIE,
  DATA,
  INIT,
  mac1Key,
  PROLOGUE,
  readCounter,
  RESP,
  Type,
  writeDataHeader,
} from "./current_wire.ts";
import type { Engine } from "./engine.ts";
import { generateKeyPair, HandshakeState, type KeyPair, keyPairFromSecret } from "./noise.ts";
import { MAX_DATAGRAM, type PacketBuffer } from "./packet.ts";
import { ReplayWindow } from "./replay_window.ts";
import { Stats } from "./stats.ts";
import { isLater, TAI64N_BYTES, writeTai64n } from "./tai64n.ts";

/** The timers and limits (WireGuard's, but for the dead-peer timer). */
export const TIMERS = {
  /** The initiator of a session starts a new handshake when it is this old. */
  rekeyAfterMs: 120_000,
  /** A session neither seals nor opens once it is this old. */
  rejectAfterMs: 180_000,
  /** An unanswered handshake is given up after this long. */
  rekeyAttemptMs: 90_000,
  /** An unanswered initiation is sent again after this, plus jitter. */
  rekeyTimeoutMs: 5_000,
  /** The jitter added to each retry: up to this many ms. */
  rekeyJitterMs: 333,
  /** A keepalive goes out when data was received but nothing sent for this long. */
  keepaliveMs: 10_000,
  /** A handshake starts when data was sent and nothing authenticated came
   * back for this long: a restarted peer is found within it. */
  deadPeerMs: 3_000,
  /** All keys are erased when no handshake renewed them for this long:
   * 3 × the rekey time. */
  eraseAfterMs: 360_000,
  /** A session is renewed after sealing this many messages. */
  rekeyAfterMessages: 2 ** 44,
  /** A session stops sealing before its 48-bit counter can reach this. */
  rejectAfterMessages: 2 ** 48 - 2 ** 16,
  /** Initiations from the peer closer together than this are dropped. */
  minInitiationIntervalMs: 20,
  /** More handshake messages than this per second put the responder under
   * load: it then answers messages without a valid mac2 with a cookie. */
  underLoadPerSecond: 10,
};

/** The timers, each of which tests may shorten. */
export type Timers = typeof TIMERS;

/** Frames kept while no session exists. */
const MAX_STAGED = 64;
/** The largest frame one datagram carries. */
export const MAX_FRAME_CURRENT: number = MAX_DATAGRAM - DATA.OVERHEAD;

/** Options of a {@linkcode CurrentEngine}. Keys are copied. */
export interface CurrentEngineOptions {
  /** Our static X25519 secret key (the .key file), 32 bytes. */
  secretKey: Uint8Array;
  /** The peer's static public key (its .pub file), 32 bytes. */
  peerPublic: Uint8Array;
  /** The pre-shared key, 32 bytes; 32 zero bytes when absent. */
  psk?: Uint8Array;
  /** The peer's address when we connect; undefined when we listen. */
  peer?: Endpoint;
  /** Start-up time, CLOCK_MONOTONIC ns. */
  now: number;
  /** Wall-clock time, ms since the Unix epoch (for the initiation timestamp). */
  wallClock: () => number;
  /** Send a keepalive at least this often (ms) to keep NAT mappings open; 0: never. */
  persistentKeepaliveMs?: number;
  /** Shorter timers, for tests. */
  timers?: Partial<Timers>;
  /** Counters to use; a new set by default. */
  stats?: Stats;
  /** Ephemeral key generator (tests inject deterministic ones). */
  generateKeyPair?: () => KeyPair;
  /** A number in [0, 1) for the retry jitter. */
  random?: () => number;
  /** A session index, 0..255 (tests make them predictable); random by default. */
  randomIndex?: () => number;
}

/** One session's transport keys and counters. */
class Keypair {
  readonly sendKey: Uint8Array<ArrayBuffer>;
  readonly recvKey: Uint8Array<ArrayBuffer>;
  readonly sendNonce = new Uint8Array(12);
  readonly recvNonce = new Uint8Array(12);
  readonly replay = new ReplayWindow();
  sendCounter = 0;

  constructor(
    readonly localIndex: number,
    readonly remoteIndex: number,
    send: Uint8Array,
    recv: Uint8Array,
    readonly isInitiator: boolean,
    readonly createdAt: number,
  ) {
    this.sendKey = new Uint8Array(send);
    this.recvKey = new Uint8Array(recv);
  }

  erase(): void {
    memzero(this.sendKey);
    memzero(this.recvKey);
  }
}

/** Our handshake in flight, as initiator. The ephemeral key and timestamp
 * are kept so the state can be rebuilt after a forged response. */
interface Pending {
  hs: HandshakeState;
  ephemeral: KeyPair;
  timestamp: Uint8Array;
  localIndex: number;
  retryAt: number;
}

type Control = { bytes: Uint8Array; to: Endpoint } | "keepalive" | "staged";

/** The current-format state of one tunnel. */
export class CurrentEngine implements Engine {
  readonly headroom: number = DATA.HEADER;
  readonly overhead: number = DATA.OVERHEAD;
  readonly stats: Stats;
  readonly #t: Timers;
  readonly #static: KeyPair;
  readonly #peerPublic: Uint8Array<ArrayBuffer>;
  readonly #psk: Uint8Array<ArrayBuffer>;
  readonly #mac1Ours: Uint8Array;
  readonly #mac1Peer: Uint8Array;
  readonly #checker: CookieChecker;
  readonly #jar: CookieJar;
  readonly #wallClock: () => number;
  readonly #generate: () => KeyPair;
  readonly #random: () => number;
  readonly #randomIndex: () => number;
  readonly #persistentNs: number;
  /** True when our public key sorts above the peer's: we win ties. */
  readonly #winsTies: boolean;

  #peer: Endpoint | undefined;
  #current: Keypair | undefined;
  #previous: Keypair | undefined;
  #next: Keypair | undefined;
  #pending: Pending | undefined;
  #firstAttemptAt: number | undefined;
  /** When we last sent a response: a new initiation waits the rekey timeout
   * after it, so a responder does not start a second handshake while the
   * initiator's first datagram, which confirms the first, is on its way. */
  #lastResponseSentAt = -Infinity;
  /** A handshake was asked for while that wait ran: start it after. */
  #wantHandshake = false;
  #lastTimestampIn: Uint8Array | undefined;
  readonly #lastTimestampOut = new Uint8Array(TAI64N_BYTES);
  #lastInitiationAt = -Infinity;
  #lastHandshakeAt: number | undefined;
  #lastSentAt: number;
  #firstUnansweredAt: number | undefined;
  #keepaliveAt: number | undefined;
  #loadWindowAt = -Infinity;
  #loadCount = 0;
  #underLoadUntil = -Infinity;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #queue: Control[] = [];
  readonly #staged: Uint8Array[] = [];
  #controlTo: Endpoint | undefined;
  #closed = false;

  /** An engine that initiates at once when it knows its peer. */
  constructor(options: CurrentEngineOptions) {
    this.#t = { ...TIMERS, ...options.timers };
    this.#static = keyPairFromSecret(options.secretKey);
    this.#peerPublic = new Uint8Array(options.peerPublic);
    this.#psk = new Uint8Array(options.psk ?? new Uint8Array(32));
    if (this.#psk.length !== 32) throw new RangeError("the pre-shared key must be 32 bytes");
    this.#mac1Ours = mac1Key(this.#static.publicKey);
    this.#mac1Peer = mac1Key(this.#peerPublic);
    this.#checker = new CookieChecker(this.#static.publicKey);
    this.#jar = new CookieJar(this.#peerPublic);
    this.#wallClock = options.wallClock;
    this.#generate = options.generateKeyPair ?? generateKeyPair;
    this.#random = options.random ?? Math.random;
    this.#randomIndex = options.randomIndex ?? randomIndex;
    this.#persistentNs = (options.persistentKeepaliveMs ?? 0) * 1e6;
    this.#winsTies = compare(this.#static.publicKey, this.#peerPublic) > 0;
    this.stats = options.stats ?? new Stats();
    this.#peer = options.peer;
    this.#lastSentAt = options.now;
    if (this.#peer !== undefined) this.#startHandshake(options.now);
  }

  get peer(): Endpoint | undefined {
    return this.#peer;
  }

  get acceptsFrames(): boolean {
    return this.#peer !== undefined;
  }

  get hasControl(): boolean {
    return this.#queue.length > 0;
  }

  get controlTo(): Endpoint | undefined {
    return this.#controlTo;
  }

  /** True when a session can seal now (for tests and diagnostics). */
  get established(): boolean {
    return this.#current !== undefined;
  }

  // ---- sending ------------------------------------------------------------

  seal(buf: PacketBuffer, length: number, now: number): number {
    if (this.#peer === undefined) return 0;
    if (length > MAX_FRAME_CURRENT) {
      this.stats.dropTxTooLong++;
      return 0;
    }
    const kp = this.#sendable(now);
    if (kp === undefined) {
      this.#stage(buf.payload.slice(0, length));
      this.#startHandshake(now);
      return 0;
    }
    return this.#sealWith(kp, buf, length, now);
  }

  #sendable(now: number): Keypair | undefined {
    const kp = this.#current;
    if (kp === undefined) return undefined;
    if (now - kp.createdAt >= this.#t.rejectAfterMs * 1e6) return undefined;
    if (kp.sendCounter >= this.#t.rejectAfterMessages) return undefined;
    return kp;
  }

  /** Seals `buf.payload[0, length)` (length 0: a keepalive) under `kp`. */
  #sealWith(kp: Keypair, buf: PacketBuffer, length: number, now: number): number {
    const bytes = buf.bytes;
    const counter = kp.sendCounter++;
    writeDataHeader(bytes, kp.remoteIndex, counter);
    const nonce = kp.sendNonce;
    for (let i = 0; i < DATA.COUNTER_LENGTH; i++) nonce[4 + i] = bytes[DATA.COUNTER + i];
    // In place: the ciphertext overwrites the frame, the tag follows it.
    sodium().crypto_aead_chacha20poly1305_ietf_encrypt(
      buf.payload,
      null,
      buf.payload,
      big(length),
      bytes,
      big(DATA.HEADER),
      null,
      nonce,
      kp.sendKey,
    );
    this.#lastSentAt = now;
    this.#keepaliveAt = undefined;
    if (length > 0) {
      this.stats.txFrames++;
      this.stats.txBytes += length;
      this.#firstUnansweredAt ??= now;
    }
    if (
      (kp.isInitiator && now - kp.createdAt >= this.#t.rekeyAfterMs * 1e6) ||
      kp.sendCounter >= this.#t.rekeyAfterMessages
    ) {
      this.#startHandshake(now);
    }
    return length + DATA.OVERHEAD;
  }

  #stage(frame: Uint8Array): void {
    if (this.#staged.length >= MAX_STAGED) {
      this.#staged.shift();
      this.stats.dropTxNoSession++;
    }
    this.#staged.push(frame);
  }

  nextControl(buf: PacketBuffer, now: number): number {
    while (this.#queue.length > 0) {
      const c = this.#queue.shift()!;
      if (typeof c === "object") {
        buf.bytes.set(c.bytes);
        this.#controlTo = c.to;
        this.#lastSentAt = now;
        this.#keepaliveAt = undefined;
        return c.bytes.length;
      }
      const kp = this.#sendable(now);
      if (kp === undefined || this.#peer === undefined) {
        this.#startHandshake(now);
        continue;
      }
      this.#controlTo = this.#peer;
      if (c === "keepalive") {
        this.stats.txKeepalives++;
        return this.#sealWith(kp, buf, 0, now);
      }
      const frame = this.#staged.shift();
      if (frame === undefined) continue;
      buf.payload.set(frame);
      return this.#sealWith(kp, buf, frame.length, now);
    }
    return 0;
  }

  // ---- receiving ----------------------------------------------------------

  open(buf: PacketBuffer, length: number, from: Endpoint, now: number): number {
    this.stats.rxDatagrams++;
    if (this.#closed) return -1;
    if (length >= buf.bytes.length) {
      this.stats.dropTooLong++;
      return -1;
    }
    if (length < 1) {
      this.stats.dropTooShort++;
      return -1;
    }
    switch (buf.bytes[0]) {
      case Type.Data:
        return this.#openData(buf, length, from, now);
      case Type.Initiation:
        this.#onInitiation(buf.bytes.subarray(0, length), from, now);
        return -1;
      case Type.Response:
        this.#onResponse(buf.bytes.subarray(0, length), from, now);
        return -1;
      case Type.Cookie:
        this.#onCookie(buf.bytes.subarray(0, length), now);
        return -1;
      default:
        this.stats.dropMalformed++;
        return -1;
    }
  }

  #byIndex(index: number): Keypair | undefined {
    if (this.#current?.localIndex === index) return this.#current;
    if (this.#previous?.localIndex === index) return this.#previous;
    if (this.#next?.localIndex === index) return this.#next;
    return undefined;
  }

  #openData(buf: PacketBuffer, length: number, from: Endpoint, now: number): number {
    const stats = this.stats;
    const bytes = buf.bytes;
    if (length < DATA.OVERHEAD) {
      stats.dropTooShort++;
      return -1;
    }
    const kp = this.#byIndex(bytes[DATA.RECEIVER]);
    if (kp === undefined) {
      stats.dropUnknownIndex++;
      return -1;
    }
    if (now - kp.createdAt >= this.#t.rejectAfterMs * 1e6) {
      stats.dropExpired++;
      return -1;
    }
    const counter = readCounter(bytes);
    if (counter >= this.#t.rejectAfterMessages || !kp.replay.check(counter)) {
      // Checked before the tag: a replay costs no decryption. (A forged
      // header is caught by the tag below and never enters the window.)
      stats.dropReplay++;
      return -1;
    }
    const nonce = kp.recvNonce;
    for (let i = 0; i < DATA.COUNTER_LENGTH; i++) nonce[4 + i] = bytes[DATA.COUNTER + i];
    const ok = sodium().crypto_aead_chacha20poly1305_ietf_decrypt(
      buf.payload,
      null,
      null,
      buf.payload,
      big(length - DATA.HEADER),
      bytes,
      big(DATA.HEADER),
      nonce,
      kp.recvKey,
    ) === 0;
    if (!ok) {
      stats.dropBadTag++;
      return -1;
    }
    kp.replay.accept(counter);
    if (kp === this.#next) this.#confirmNext();
    this.#authenticated(from, now);
    const frame = length - DATA.OVERHEAD;
    if (frame === 0) {
      stats.rxKeepalives++;
      return -1;
    }
    this.#keepaliveAt ??= now + this.#t.keepaliveMs * 1e6;
    if (
      kp === this.#current && kp.isInitiator &&
      now - kp.createdAt >= (this.#t.rejectAfterMs - this.#t.keepaliveMs - this.#t.rekeyTimeoutMs) * 1e6
    ) {
      this.#startHandshake(now);
    }
    return frame;
  }

  /** The responder's new session is confirmed: it becomes current, and the
   * frames that waited for a session go out. */
  #confirmNext(): void {
    this.#previous?.erase();
    this.#previous = this.#current;
    this.#current = this.#next;
    this.#next = undefined;
    this.#wantHandshake = false; // asked for while this session awaited confirmation
    for (let i = 0; i < this.#staged.length; i++) this.#queue.push("staged");
  }

  /** An authenticated datagram from `from`: roam, and the peer is alive. */
  #authenticated(from: Endpoint, now: number): void {
    if (!sameEndpoint(this.#peer, from)) this.#peer = from;
    this.#firstUnansweredAt = undefined;
    void now;
  }

  /** Counts a handshake message with a valid mac1 and decides whether to
   * process it: under load, only with a valid mac2 and within the source's
   * rate; otherwise a cookie reply goes back instead. */
  #admit(msg: Uint8Array, mac1: number, sender: number, from: Endpoint, now: number): boolean {
    if (now - this.#loadWindowAt >= 1e9) {
      this.#loadWindowAt = now;
      this.#loadCount = 0;
    }
    if (++this.#loadCount > this.#t.underLoadPerSecond) this.#underLoadUntil = now + 1e9;
    if (now >= this.#underLoadUntil) return true;
    if (!this.#checker.checkMac2(msg, mac1 + 16, from, now)) {
      this.#queue.push({ bytes: this.#checker.reply(msg, mac1, sender, from, now), to: from });
      this.stats.hsCookieSent++;
      this.stats.dropUnderLoad++;
      return false;
    }
    if (!this.#allow(from.hostname, now)) {
      this.stats.dropRateLimited++;
      return false;
    }
    return true;
  }

  /** A token bucket per source address: 20 handshakes a second, burst 5. */
  #allow(source: string, now: number): boolean {
    if (this.#buckets.size > 4096) this.#buckets.clear();
    const b = this.#buckets.get(source) ?? { tokens: 5, at: now };
    b.tokens = Math.min(5, b.tokens + ((now - b.at) / 1e9) * 20);
    b.at = now;
    this.#buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  #onInitiation(msg: Uint8Array, from: Endpoint, now: number): void {
    const stats = this.stats;
    if (msg.length !== INIT.LENGTH) {
      stats.dropMalformed++;
      return;
    }
    if (!checkMac(msg, INIT.MAC1, this.#mac1Ours)) {
      stats.dropMac1++;
      return;
    }
    const sender = msg[INIT.SENDER];
    if (!this.#admit(msg, INIT.MAC1, sender, from, now)) return;
    const hs = new HandshakeState({
      pattern: "IKpsk2",
      initiator: false,
      prologue: PROLOGUE,
      s: this.#static,
      psk: this.#psk,
      generateKeyPair: this.#generate,
    });
    const timestamp = hs.readMessage(msg.subarray(INIT.NOISE, INIT.NOISE + INIT.NOISE_LENGTH));
    if (timestamp === null || timestamp.length !== TAI64N_BYTES) {
      hs.erase();
      stats.dropHandshake++;
      return;
    }
    if (!constantTimeEqual(hs.remoteStatic!, this.#peerPublic)) {
      hs.erase();
      stats.dropUnknownPeer++;
      return;
    }
    if (this.#lastTimestampIn !== undefined && !isLater(timestamp, this.#lastTimestampIn)) {
      hs.erase();
      stats.dropStaleInitiation++;
      return;
    }
    if (now - this.#lastInitiationAt < this.#t.minInitiationIntervalMs * 1e6) {
      hs.erase();
      stats.dropRateLimited++;
      return;
    }
    if (this.#pending !== undefined && this.#winsTies) {
      // Both sides initiated at once. The side whose public key sorts
      // higher keeps its own initiation; the other answers it.
      hs.erase();
      stats.hsSimultaneous++;
      return;
    }
    this.#lastTimestampIn = new Uint8Array(timestamp);
    this.#lastInitiationAt = now;
    stats.hsInitRecv++;
    this.#abandonPending();

    const localIndex = this.#newIndex();
    const response = new Uint8Array(RESP.LENGTH);
    response[0] = Type.Response;
    response[RESP.SENDER] = localIndex;
    response[RESP.RECEIVER] = sender;
    response.set(hs.writeMessage(new Uint8Array(0)), RESP.NOISE);
    this.#jar.seal(response, RESP.MAC1, this.#mac1Peer, localIndex, now);
    const [i2r, r2i] = hs.split();
    const kp = new Keypair(localIndex, sender, r2i.key, i2r.key, false, now);
    i2r.erase();
    r2i.erase();
    this.#next?.erase();
    this.#next = kp;
    this.#lastHandshakeAt = now;
    this.#authenticated(from, now);
    this.#queue.push({ bytes: response, to: from });
    this.#lastResponseSentAt = now;
    stats.hsRespSent++;
  }

  #onResponse(msg: Uint8Array, from: Endpoint, now: number): void {
    const stats = this.stats;
    if (msg.length !== RESP.LENGTH) {
      stats.dropMalformed++;
      return;
    }
    const pending = this.#pending;
    if (pending === undefined || msg[RESP.RECEIVER] !== pending.localIndex) {
      stats.dropUnknownIndex++;
      return;
    }
    if (!checkMac(msg, RESP.MAC1, this.#mac1Ours)) {
      stats.dropMac1++;
      return;
    }
    if (!this.#admit(msg, RESP.MAC1, msg[RESP.SENDER], from, now)) return;
    const payload = pending.hs.readMessage(msg.subarray(RESP.NOISE, RESP.NOISE + RESP.NOISE_LENGTH));
    if (payload === null || payload.length !== 0) {
      // A forged response (it passed mac1, so its sender knows our public
      // key) must not kill our handshake: rebuild the state as it was.
      stats.dropHandshake++;
      pending.hs.erase();
      pending.hs = this.#initiatorState(pending.ephemeral);
      pending.hs.writeMessage(pending.timestamp);
      return;
    }
    stats.hsRespRecv++;
    const [i2r, r2i] = pending.hs.split();
    const kp = new Keypair(pending.localIndex, msg[RESP.SENDER], i2r.key, r2i.key, true, now);
    i2r.erase();
    r2i.erase();
    memzero(pending.ephemeral.secretKey);
    this.#pending = undefined;
    this.#firstAttemptAt = undefined;
    this.#wantHandshake = false;
    this.#previous?.erase();
    this.#previous = this.#current;
    this.#current = kp;
    this.#next?.erase();
    this.#next = undefined;
    this.#lastHandshakeAt = now;
    stats.handshakes++;
    this.#authenticated(from, now);
    // Confirm the session to the responder: with the frames that waited for
    // it, or with a keepalive.
    if (this.#staged.length > 0) { for (let i = 0; i < this.#staged.length; i++) this.#queue.push("staged"); }
    else this.#queue.push("keepalive");
  }

  #onCookie(msg: Uint8Array, now: number): void {
    if (msg.length !== COOKIE.LENGTH) {
      this.stats.dropMalformed++;
      return;
    }
    if (this.#jar.accept(msg, now)) this.stats.hsCookieRecv++;
    else this.stats.dropBadTag++;
  }

  // ---- handshakes -----------------------------------------------------------

  #initiatorState(ephemeral: KeyPair): HandshakeState {
    return new HandshakeState({
      pattern: "IKpsk2",
      initiator: true,
      prologue: PROLOGUE,
      s: this.#static,
      rs: this.#peerPublic,
      psk: this.#psk,
      e: ephemeral,
    });
  }

  /** Starts a handshake unless one is in flight (its retries are timed) or
   * we answered one within the rekey timeout (then it starts after). */
  #startHandshake(now: number): void {
    if (this.#peer === undefined || this.#pending !== undefined || this.#closed) return;
    if (now - this.#lastResponseSentAt < this.#t.rekeyTimeoutMs * 1e6) {
      this.#wantHandshake = true;
      return;
    }
    this.#wantHandshake = false;
    this.#firstAttemptAt ??= now;
    this.#sendInitiation(now);
  }

  #sendInitiation(now: number): void {
    this.#abandonPending();
    const ephemeral = this.#generate();
    const timestamp = new Uint8Array(TAI64N_BYTES);
    writeTai64n(timestamp, this.#wallClock());
    if (!isLater(timestamp, this.#lastTimestampOut)) {
      // The wall clock did not move (or went back): still strictly increase.
      timestamp.set(this.#lastTimestampOut);
      for (let i = TAI64N_BYTES - 1; i >= 0 && ++timestamp[i] === 0; i--) { /* carry */ }
    }
    this.#lastTimestampOut.set(timestamp);
    const hs = this.#initiatorState(ephemeral);
    const localIndex = this.#newIndex();
    const msg = new Uint8Array(INIT.LENGTH);
    msg[0] = Type.Initiation;
    msg[INIT.SENDER] = localIndex;
    msg.set(hs.writeMessage(timestamp), INIT.NOISE);
    this.#jar.seal(msg, INIT.MAC1, this.#mac1Peer, localIndex, now);
    const jitter = this.#random() * this.#t.rekeyJitterMs;
    this.#pending = {
      hs,
      ephemeral,
      timestamp,
      localIndex,
      retryAt: now + (this.#t.rekeyTimeoutMs + jitter) * 1e6,
    };
    this.#queue.push({ bytes: msg, to: this.#peer! });
    this.stats.hsInitSent++;
  }

  #abandonPending(): void {
    const p = this.#pending;
    if (p === undefined) return;
    p.hs.erase();
    memzero(p.ephemeral.secretKey);
    this.#pending = undefined;
  }

  /** A random local session index, 0..255, unused by live sessions. */
  #newIndex(): number {
    for (;;) {
      const i = this.#randomIndex() & 0xff;
      if (
        i !== this.#current?.localIndex && i !== this.#previous?.localIndex && i !== this.#next?.localIndex &&
        i !== this.#pending?.localIndex
      ) {
        return i;
      }
    }
  }

  // ---- timers ---------------------------------------------------------------

  tick(now: number): number {
    if (this.#closed) return 60_000;
    const t = this.#t;
    const pending = this.#pending;
    if (pending !== undefined && now >= pending.retryAt) {
      if (now - (this.#firstAttemptAt ?? now) >= t.rekeyAttemptMs * 1e6) {
        // Given up: drop what waited; new traffic starts a new attempt.
        this.#abandonPending();
        this.#firstAttemptAt = undefined;
        this.#wantHandshake = false;
        this.stats.dropTxNoSession += this.#staged.length;
        this.#staged.length = 0;
        this.stats.hsGaveUp++;
      } else {
        this.#sendInitiation(now);
      }
    }
    if (this.#firstUnansweredAt !== undefined && now - this.#firstUnansweredAt >= t.deadPeerMs * 1e6) {
      this.#firstUnansweredAt = undefined;
      this.#startHandshake(now);
    }
    if (this.#wantHandshake || (this.#staged.length > 0 && this.#sendable(now) === undefined)) {
      this.#startHandshake(now);
    }
    if (this.#keepaliveAt !== undefined && now >= this.#keepaliveAt) {
      this.#keepaliveAt = undefined;
      this.#queue.push("keepalive");
    }
    if (this.#persistentNs > 0 && this.#peer !== undefined && now - this.#lastSentAt >= this.#persistentNs) {
      this.#lastSentAt = now;
      this.#queue.push("keepalive");
    }
    for (const which of ["previous", "current"] as const) {
      const kp = which === "previous" ? this.#previous : this.#current;
      if (kp !== undefined && now - kp.createdAt >= t.rejectAfterMs * 1e6) {
        kp.erase();
        if (which === "previous") this.#previous = undefined;
        else this.#current = undefined;
      }
    }
    if (this.#lastHandshakeAt !== undefined && now - this.#lastHandshakeAt >= t.eraseAfterMs * 1e6) {
      this.#eraseSessions();
      this.#lastHandshakeAt = undefined;
      this.stats.keysErased++;
    }
    // Wake often enough for the nearest deadline, at most once a second.
    let next = now + 1e9;
    if (this.#pending !== undefined && this.#pending.retryAt < next) next = this.#pending.retryAt;
    if (this.#keepaliveAt !== undefined && this.#keepaliveAt < next) next = this.#keepaliveAt;
    if (this.#firstUnansweredAt !== undefined) {
      next = Math.min(next, this.#firstUnansweredAt + t.deadPeerMs * 1e6);
    }
    return Math.max(1, (next - now) / 1e6);
  }

  #eraseSessions(): void {
    this.#previous?.erase();
    this.#current?.erase();
    this.#next?.erase();
    this.#previous = this.#current = this.#next = undefined;
    this.#abandonPending();
    this.#firstAttemptAt = undefined;
    this.#wantHandshake = false;
    this.#staged.length = 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#eraseSessions();
    this.#queue.length = 0;
    memzero(this.#static.secretKey);
    memzero(this.#psk);
    this.#checker.erase();
    this.#jar.erase();
  }
}

function randomIndex(): number {
  const one = new Uint8Array(1);
  randomBytes(one);
  return one[0];
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
