/**
 * The control socket: a Unix stream socket, by default
 * `/run/tappet/IFACE.sock` (in another network namespace, see
 * {@linkcode controlDir}), through which `tappet status` asks a running
 * tunnel how it is doing.
 *
 * Protocol: the client connects and sends one request line of at most
 * {@linkcode CONTROL_LIMITS}.requestBytes bytes ending in `\n`. The server
 * answers one line of JSON ending in `\n`, then closes the connection:
 * - `status` → the tunnel's status object (see tunnel/status.ts);
 * - anything else → `{"error": "..."}`, which is also the answer to a
 *   request too long, or not complete within the time limit.
 *
 * Files: the directory is created mode 0755 when missing; the socket is mode
 * 0600, owned by the user tappet runs as (so `tappet status` needs root or
 * that user). A socket left by a run that crashed is replaced; one that
 * answers (another tappet on the same interface) is refused. The socket is
 * removed at close, if it is still the one this server made.
 *
 * Hostile clients: every connection has a deadline, a read limit and a
 * place among at most `maxClients`; past the cap a connection is closed at
 * once. The server is async throughout and does no work between requests,
 * so the packet loop, which visits the event loop after each batch, serves
 * a request in that gap.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { concatBytes } from "../core/bytes.ts";
import { CONTROL_DIR, controlDir, defaultControlPath } from "./control_path.ts";

export { CONTROL_DIR, controlDir, defaultControlPath };

/** Limits that keep a client from holding the server. */
export const CONTROL_LIMITS = {
  /** Connections served at once; more are closed at once. */
  maxClients: 16,
  /** Longest request line, bytes, newline included. */
  requestBytes: 256,
  /** Time a connection may take from accept to the end of the answer, ms. */
  timeoutMs: 2000,
  /** Longest answer a client reads, bytes. */
  responseBytes: 1 << 20,
};

/** Answers one request line (without its newline) with a JSON value. */
export type ControlHandler = (request: string) => unknown;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function answer(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value) + "\n");
}

/** Rejects after `ms` unless cleared; `clear` stops the timer. */
function deadline(ms: number): { promise: Promise<never>; clear: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error("timeout")), ms);
  });
  promise.catch(() => {});
  return { promise, clear: () => clearTimeout(id) };
}

/** Options of {@linkcode ControlServer.open}. */
export interface ControlServerOptions {
  /** The socket's path. */
  readonly path: string;
  /** The interface, for messages. */
  readonly iface: string;
  /** Answers requests. */
  readonly handler: ControlHandler;
  /** Overrides of {@linkcode CONTROL_LIMITS}, for tests. */
  readonly limits?: Partial<typeof CONTROL_LIMITS>;
}

/** A listening control socket (see the module comment). */
export class ControlServer {
  /** The socket's path. */
  readonly path: string;
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #handler: ControlHandler;
  readonly #limits: typeof CONTROL_LIMITS;
  readonly #ino: number | null;
  readonly #active = new Set<Deno.UnixConn>();
  readonly #done: Promise<void>;
  #closed = false;
  /** Connections closed at once because `maxClients` were being served. */
  refused = 0;
  /** Requests answered (with a status or an error). */
  answered = 0;

  private constructor(listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>, o: ControlServerOptions) {
    this.path = o.path;
    this.#listener = listener;
    this.#handler = o.handler;
    this.#limits = { ...CONTROL_LIMITS, ...o.limits };
    this.#ino = Deno.lstatSync(o.path).ino;
    this.#done = this.#acceptLoop();
  }

  /**
   * Creates the socket. Throws a one-line {@linkcode UserError} when another
   * tappet answers on it, when the path is something other than a socket, or
   * when the directory or socket cannot be made.
   */
  static async open(o: ControlServerOptions): Promise<ControlServer> {
    const dir = o.path.includes("/") ? o.path.slice(0, o.path.lastIndexOf("/")) || "/" : ".";
    try {
      Deno.statSync(dir);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw cannot(o.path, e);
      try {
        Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
        Deno.chmodSync(dir, 0o755);
      } catch (e) {
        throw cannot(o.path, e);
      }
    }
    await removeStale(o.path, o.iface);
    // Made in a private (0700) directory beside it, set to 0600, then linked
    // into place, so that no other user can connect before the chmod, with
    // no umask change (Deno wants --allow-sys for that), and so that a socket
    // another tappet put there meanwhile is never replaced (link fails).
    let tmpDir: string;
    try {
      tmpDir = Deno.makeTempDirSync({ dir, prefix: ".tappet-" });
    } catch (e) {
      throw cannot(o.path, e);
    }
    const tmpPath = `${tmpDir}/s`;
    let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr> | undefined;
    try {
      listener = Deno.listen({ transport: "unix", path: tmpPath });
      Deno.chmodSync(tmpPath, 0o600);
      Deno.linkSync(tmpPath, o.path);
      return new ControlServer(listener, o);
    } catch (e) {
      listener?.close();
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new UserError(
          `another tappet is running on ${o.iface}: it made control socket ${o.path} just now; stop it first, or give --control PATH`,
        );
      }
      throw cannot(o.path, e);
    } finally {
      Deno.removeSync(tmpDir, { recursive: true });
    }
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        if (this.#closed) return;
        // EMFILE and the like: wait a little instead of spinning.
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (this.#active.size >= this.#limits.maxClients) {
        this.refused++;
        conn.close();
        continue;
      }
      this.#active.add(conn);
      this.#serve(conn).finally(() => {
        this.#active.delete(conn);
        try {
          conn.close();
        } catch {
          // Already closed (by close() or the deadline).
        }
      });
    }
  }

  async #serve(conn: Deno.UnixConn): Promise<void> {
    const limit = this.#limits.requestBytes;
    const buf = new Uint8Array(limit);
    const time = deadline(this.#limits.timeoutMs);
    let reply: Uint8Array;
    try {
      let len = 0;
      let newline = -1;
      while (newline < 0 && len < limit) {
        const n = await Promise.race([conn.read(buf.subarray(len)), time.promise]);
        if (n === null) break;
        newline = buf.subarray(len, len + n).indexOf(10);
        if (newline >= 0) newline += len;
        len += n;
      }
      if (newline < 0) {
        reply = answer({
          error: len >= limit ? `request longer than ${limit} bytes` : "request not ended by a newline",
        });
      } else {
        const request = decoder.decode(buf.subarray(0, newline)).trim();
        reply = this.#answer(request);
      }
    } catch {
      reply = answer({ error: `no request within ${this.#limits.timeoutMs} ms` });
    }
    try {
      let off = 0;
      while (off < reply.length) off += await Promise.race([conn.write(reply.subarray(off)), time.promise]);
      this.answered++;
    } catch {
      // The client went away or does not read: it loses its answer.
    } finally {
      time.clear();
    }
  }

  #answer(request: string): Uint8Array {
    if (request.length > 0 && !/^[\x20-\x7e]+$/.test(request)) {
      return answer({ error: "request is not text" });
    }
    try {
      const value = this.#handler(request);
      return answer(value === undefined ? { error: `unknown request "${request}": try "status"` } : value);
    } catch (e) {
      return answer({ error: `request failed: ${(e as Error).message}` });
    }
  }

  /** Stops listening, closes the connections being served, and removes the
   * socket file if it is still this server's. Twice is harmless. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#listener.close();
      for (const conn of this.#active) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      try {
        if (Deno.lstatSync(this.path).ino === this.#ino) Deno.removeSync(this.path);
      } catch {
        // Gone already.
      }
    }
    await this.#done;
  }
}

function cannot(path: string, e: unknown): UserError {
  const why = e instanceof Deno.errors.PermissionDenied
    ? "permission denied: run as root, or give --control PATH in a directory you can write"
    : (e as Error).message;
  return new UserError(`cannot create control socket ${path}: ${why}`, { cause: e });
}

/** Removes a socket left at `path` by a run that crashed; throws when a live
 * tappet answers there or when `path` is not a socket. */
async function removeStale(path: string, iface: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw cannot(path, e);
  }
  if (!info.isSocket) {
    throw new UserError(
      `control socket path ${path} exists and is not a socket: remove it, or give --control PATH`,
    );
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound) {
      Deno.removeSync(path);
      return;
    }
    throw cannot(path, e);
  }
  throw new UserError(
    `another tappet is running on ${iface}: its control socket ${path} answers; stop it first, or give --control PATH`,
  );
}

/** Why a request to a control socket failed. */
export type ControlFailure = "absent" | "stale" | "denied" | "timeout" | "closed" | "bad-answer";

/** A failed request to a control socket. */
export class ControlError extends Error {
  /** The kind of failure. */
  readonly kind: ControlFailure;
  /** `message` says what happened, without the path. */
  constructor(kind: ControlFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ControlError";
    this.kind = kind;
  }
}

/**
 * Sends `request` to the control socket at `path` and returns the parsed
 * JSON answer. Throws a {@linkcode ControlError}: `absent` (no socket),
 * `stale` (a socket nobody listens on), `denied` (no permission), `timeout`
 * (no answer within `timeoutMs`), `closed` (closed without an answer: the
 * server is serving as many clients as it takes), `bad-answer` (not JSON,
 * or too long).
 * A Deno permission that is missing (connecting to a Unix socket needs
 * read, write and net permission) is rethrown as Deno's `NotCapable`, not
 * taken for a tappet that does not run. The connection is closed on every
 * path.
 */
export async function requestControl(path: string, request: string, timeoutMs = 5000): Promise<unknown> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) throw e;
    if (e instanceof Deno.errors.NotFound) throw new ControlError("absent", "no such socket", { cause: e });
    if (e instanceof Deno.errors.ConnectionRefused) {
      throw new ControlError("stale", "nothing listens on it", { cause: e });
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new ControlError("denied", "permission denied", { cause: e });
    }
    throw new ControlError("absent", (e as Error).message, { cause: e });
  }
  const time = deadline(timeoutMs);
  try {
    await Promise.race([conn.write(encoder.encode(request + "\n")), time.promise]);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await Promise.race([conn.read(buf), time.promise]);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > CONTROL_LIMITS.responseBytes) throw new ControlError("bad-answer", "answer too long");
    }
    if (total === 0) throw new ControlError("closed", "closed without an answer");
    const text = decoder.decode(concatBytes(chunks));
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ControlError("bad-answer", "answer is not JSON", { cause: e });
    }
  } catch (e) {
    if (e instanceof ControlError) throw e;
    if ((e as Error).message === "timeout") {
      throw new ControlError("timeout", `no answer within ${timeoutMs} ms`);
    }
    throw new ControlError("bad-answer", (e as Error).message, { cause: e });
  } finally {
    time.clear();
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** The control sockets (`*.sock`) in `dir`, sorted; none when `dir` is missing. */
export function listControlSockets(dir: string = controlDir()): string[] {
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) if (e.name.endsWith(".sock")) out.push(`${dir}/${e.name}`);
  } catch {
    return [];
  }
  return out.sort();
}
