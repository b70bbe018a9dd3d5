/**
 * The current format's sessions: one session's transport keys (seal and open
 * in place), and the three key slots of a peer, as in wireguard-go's
 * `Keypairs` and boringtun's session ring:
 *
 * - `current` seals, and opens;
 * - `next` is a responder's new session, which opens but does not seal until
 *   a datagram under it proves the initiator has it (it is then confirmed);
 * - `previous` opens late datagrams of the session before.
 *
 * - `older`, rarely set, the session before `previous` while the peer may
 *   still seal under it: it opened a datagram more recently than `previous`
 *   did (the peer had not yet confirmed `previous` when a rekey came).
 *
 * Confirmation rule (no tie-break, issue 10): a confirmed session becomes
 * `current` when it is newer (by our clock) than `current`; otherwise it only
 * opens, as `previous`. So when both sides initiated at once, each seals
 * under the session it initiated and opens the other's, and the first rekey
 * leaves one session. Whatever leaves `current` becomes `previous`.
 *
 * Time: ns, the engine's clock.
 *
 * @module
 */

import { big } from "../ffi/big.ts";
import { memzero, randomBytes, sodium } from "../ffi/sodium.ts";
import { DATA, writeDataHeader } from "./current_wire.ts";
import type { PacketBuffer } from "./packet.ts";
import { ReplayWindow } from "./replay_window.ts";

/**
 * One session's transport keys (not an X25519 `KeyPair`) and counters. It
 * owns the two 32-byte keys it is given and zeroes them in
 * {@linkcode erase}; nothing seals or opens afterwards.
 */
export class TransportKeys {
  readonly sendNonce = new Uint8Array(12);
  readonly recvNonce = new Uint8Array(12);
  readonly replay = new ReplayWindow();
  /** The counter of the next datagram sealed. */
  sendCounter = 0;
  /** When a datagram under this session last opened (ns); -Infinity: never. */
  lastOpenedAt = -Infinity;
  #erased = false;

  /**
   * @param localIndex our index for it (the peer's datagrams carry it).
   * @param remoteIndex the peer's index (our datagrams carry it).
   * @param sendKey 32 bytes, owned from now on.
   * @param recvKey 32 bytes, owned from now on.
   * @param isInitiator true when we initiated the handshake.
   * @param createdAt when the handshake completed here, ns.
   */
  constructor(
    readonly localIndex: number,
    readonly remoteIndex: number,
    readonly sendKey: Uint8Array,
    readonly recvKey: Uint8Array,
    readonly isInitiator: boolean,
    readonly createdAt: number,
  ) {}

  /** True after {@linkcode erase}. */
  get erased(): boolean {
    return this.#erased;
  }

  /** Seals `buf.payload[0, length)` (length 0: a keepalive) in place under
   * the next counter, as a data message (or one of `type`: a probe);
   * returns the datagram length, `length + 24`. No allocation. Throws once
   * erased. */
  seal(buf: PacketBuffer, length: number, type?: number): number {
    if (this.#erased) throw new Error("the session has been erased");
    const bytes = buf.bytes;
    writeDataHeader(bytes, this.remoteIndex, this.sendCounter++, type);
    const nonce = this.sendNonce;
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
      this.sendKey,
    );
    return length + DATA.OVERHEAD;
  }

  /** Decrypts the data datagram `buf.bytes[0, length)` in place; true when
   * its tag is valid (the caller checks the counter against the replay
   * window first and accepts it after). No allocation. */
  open(buf: PacketBuffer, length: number): boolean {
    if (this.#erased) return false;
    const bytes = buf.bytes;
    const nonce = this.recvNonce;
    for (let i = 0; i < DATA.COUNTER_LENGTH; i++) nonce[4 + i] = bytes[DATA.COUNTER + i];
    return sodium().crypto_aead_chacha20poly1305_ietf_decrypt(
      buf.payload,
      null,
      null,
      buf.payload,
      big(length - DATA.HEADER),
      bytes,
      big(DATA.HEADER),
      nonce,
      this.recvKey,
    ) === 0;
  }

  /** Zeroes both keys. Idempotent. */
  erase(): void {
    this.#erased = true;
    memzero(this.sendKey);
    memzero(this.recvKey);
  }
}

/** The key slots of one peer (see the module comment); only `current` seals. */
export class Sessions {
  current: TransportKeys | undefined;
  previous: TransportKeys | undefined;
  older: TransportKeys | undefined;
  next: TransportKeys | undefined;

  /** The session our index `index` names, or undefined. */
  byIndex(index: number): TransportKeys | undefined {
    if (this.current?.localIndex === index) return this.current;
    if (this.previous?.localIndex === index) return this.previous;
    if (this.next?.localIndex === index) return this.next;
    if (this.older?.localIndex === index) return this.older;
    return undefined;
  }

  /** A random index (0..255, from `random`) that no live session uses and
   * that is not `also`. */
  freeIndex(random: () => number, also?: number): number {
    for (;;) {
      const i = random() & 0xff;
      if (this.byIndex(i) === undefined && i !== also) return i;
    }
  }

  /** A responder's new session: it replaces (and erases) an unconfirmed one. */
  setNext(kp: TransportKeys): void {
    this.next?.erase();
    this.next = kp;
  }

  /**
   * A confirmed session: an initiator's, once the response came, or `next`,
   * once a datagram under it opened. Returns true when it became `current`
   * (it is newer than `current`), false when it only opens.
   */
  confirm(kp: TransportKeys): boolean {
    if (kp === this.next) this.next = undefined;
    const old = this.current;
    if (old === undefined || kp.createdAt >= old.createdAt) {
      this.current = kp;
      if (old !== undefined) this.#demote(old);
      return true;
    }
    this.#demote(kp);
    return false;
  }

  /** `kp` becomes `previous`; the old `previous` stays as `older` only if
   * the peer sent under it more recently than under `kp`. */
  #demote(kp: TransportKeys): void {
    const prev = this.previous;
    this.previous = kp;
    this.older?.erase();
    this.older = undefined;
    if (prev !== undefined && prev.lastOpenedAt > kp.lastOpenedAt) this.older = prev;
    else prev?.erase();
  }

  /** Erases and forgets the sessions older than `maxAge` ns at `now`. */
  expire(now: number, maxAge: number): void {
    for (const slot of ["older", "previous", "current", "next"] as const) {
      const keys = this[slot];
      if (keys !== undefined && now - keys.createdAt >= maxAge) {
        keys.erase();
        this[slot] = undefined;
      }
    }
  }

  /** Erases every session. */
  eraseAll(): void {
    this.previous?.erase();
    this.current?.erase();
    this.next?.erase();
    this.older?.erase();
    this.previous =
      this.current =
      this.next =
      this.older =
        undefined;
  }
}

/** A uniformly random session index, 0..255, from libsodium. */
export function randomIndex(): number {
  const one = new Uint8Array(1);
  randomBytes(one);
  return one[0];
}
