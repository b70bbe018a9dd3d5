/**
 * io/control.ts and cli/status.ts over real Unix sockets: files and modes,
 * stale and live sockets, `tappet status` in both forms and when nothing
 * runs, and hostile clients (silent, garbage, 10 MB, 1000 connections) that
 * must not stop, stall or crash the server, while a timer standing in for
 * the packet loop keeps its pace.
 */

import { strict as assert } from "node:assert";
import { statusCommand } from "../cli/status.ts";
import {
  CONTROL_LIMITS,
  ControlError,
  ControlServer,
  listControlSockets,
  requestControl,
} from "../io/control.ts";
import { UserError } from "../errors.ts";
import { statusOf, type TunnelStatus } from "../tunnel/status.ts";
import { isRoot } from "./_util.ts";
import { fakeSnapshot } from "./_status.ts";
import { TEST_USER, unprivileged } from "./_cli.ts";

function fakeStatus(iface: string): TunnelStatus {
  return statusOf(fakeSnapshot({
    iface,
    counters: { rxBytes: 2048, rxFrames: 2, txBytes: 100, txFrames: 1, dropBadTag: 3 },
    latestHandshakeMs: Date.UTC(2026, 11, 1, 12, 0, 0),
    uptimeMs: 61_000,
  }));
}

async function withServer(
  fn: (dir: string, server: ControlServer) => Promise<void>,
  limits?: Partial<typeof CONTROL_LIMITS>,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-control-" });
  const path = `${dir}/run/tap0.sock`;
  const server = await ControlServer.open({
    path,
    iface: "tap0",
    handler: (req) => (req === "status" ? fakeStatus("tap0") : undefined),
    limits,
  });
  try {
    await fn(dir, server);
  } finally {
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Connects, sends `bytes` (if any), and reads until the server closes. */
async function rawExchange(path: string, bytes?: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    if (bytes) {
      let off = 0;
      try {
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      } catch {
        // The server closed while we were still writing: expected for 10 MB.
      }
    }
    const chunks: number[] = [];
    const buf = new Uint8Array(4096);
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break; // ECONNRESET after the server closed on unread data
      }
      if (n === null) break;
      chunks.push(...buf.subarray(0, n));
    }
    return new TextDecoder().decode(new Uint8Array(chunks));
  } finally {
    conn.close();
  }
}

Deno.test("control socket: directory 0755, socket 0600 owned by us, removed at close", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-control-" });
  const path = `${dir}/run/tappet/tap0.sock`;
  try {
    const server = await ControlServer.open({ path, iface: "tap0", handler: () => ({}) });
    const d = Deno.statSync(`${dir}/run/tappet`);
    assert.equal(d.mode! & 0o777, 0o755);
    const s = Deno.lstatSync(path);
    assert(s.isSocket);
    assert.equal(s.mode! & 0o777, 0o600);
    assert.equal(s.uid, Deno.uid());
    await server.close();
    await server.close();
    assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("control socket: a stale socket is replaced, a live one refused with one line", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-control-" });
  const path = `${dir}/tap0.sock`;
  try {
    // A crashed run: a process that made the socket and died without removing it.
    const crash = new Deno.Command(Deno.execPath(), {
      args: ["eval", `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(9);`],
    });
    assert.equal((await crash.output()).code, 9);
    assert(Deno.lstatSync(path).isSocket, "the crashed run left its socket");
    const server = await ControlServer.open({ path, iface: "tap0", handler: () => "first" });
    try {
      await assert.rejects(
        ControlServer.open({ path, iface: "tap0", handler: () => "second" }),
        (e: unknown) =>
          e instanceof UserError && /another tappet is running on tap0/.test(e.message) &&
          !e.message.includes("\n"),
      );
      assert.equal(await requestControl(path, "status"), "first", "the first server still answers");
    } finally {
      await server.close();
    }
    Deno.writeTextFileSync(path, "not a socket");
    await assert.rejects(
      ControlServer.open({ path, iface: "tap0", handler: () => 1 }),
      (e: unknown) => e instanceof UserError && /exists and is not a socket/.test(e.message),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tappet status: human and JSON forms, one socket and all of a directory", async () => {
  await withServer(async (dir, server) => {
    const now = () => Date.UTC(2026, 11, 1, 12, 0, 37);
    const json = await statusCommand({ control: server.path, json: true });
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.out), fakeStatus("tap0"));
    const human = await statusCommand({ iface: "tap0", dir: `${dir}/run`, now });
    assert.equal(human.code, 0);
    assert.match(human.out, /^interface: tap0\n/);
    assert.match(human.out, /latest handshake: 37 seconds ago/);
    assert.match(human.out, /drops: bad_tag 3\n$/);
    assert.deepEqual(listControlSockets(`${dir}/run`), [server.path]);
    const all = await statusCommand({ dir: `${dir}/run`, json: true });
    assert.equal(all.out.trim().split("\n").length, 1);
    assert.equal(JSON.parse(all.out).interface, "tap0");
  });
});

Deno.test("tappet status: not running is one line and exit 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tappet-control-" });
  try {
    const none = await statusCommand({ dir });
    assert.deepEqual([none.code, none.out, none.errors.length], [1, "", 1]);
    assert.match(none.errors[0], /^no tappet is running \(no control socket in /);
    const one = await statusCommand({ iface: "tap9", dir });
    assert.equal(one.code, 1);
    assert.equal(one.errors.length, 1);
    assert.match(one.errors[0], /^tappet on tap9 is not running \(no control socket .*tap9\.sock\)$/);
    const stale = `${dir}/tap8.sock`;
    const listener = Deno.listen({ transport: "unix", path: stale });
    listener.close();
    if (!(await Deno.lstat(stale).catch(() => null))) {
      // Deno removed it at close: make a stale one the way a crash does.
      const c = new Deno.Command(Deno.execPath(), {
        args: ["eval", `Deno.listen({ transport: "unix", path: ${JSON.stringify(stale)} }); Deno.exit(0);`],
      });
      await c.output();
    }
    const st = await statusCommand({ dir, json: true });
    assert.equal(st.code, 1);
    assert.match(
      st.errors[0],
      /^tappet on tap8 is not running \(control socket .* is left from a run that stopped\)$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("control socket: hostile clients get an error or are closed; the server keeps answering", async () => {
  await withServer(async (_dir, server) => {
    // A timer standing in for the packet loop's visits to the event loop.
    let worstLateMs = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const t = performance.now();
      worstLateMs = Math.max(worstLateMs, t - last - 10);
      last = t;
    }, 10);
    try {
      const silent = await rawExchange(server.path);
      assert.match(silent, /^\{"error":"no request within 300 ms"\}\n$/);
      const garbage = await rawExchange(server.path, new TextEncoder().encode("\x00\xff\x13junk\n"));
      assert.match(garbage, /^\{"error":"request is not text"\}\n$/);
      const unknown = await rawExchange(server.path, new TextEncoder().encode("stop\n"));
      assert.match(unknown, /^\{"error":"unknown request \\"stop\\": try \\"status\\""\}\n$/);
      const big = await rawExchange(server.path, new Uint8Array(10 * 1024 * 1024).fill(0x41));
      assert.match(big, /^\{"error":"request longer than 256 bytes"\}\n$/);
      // 1000 connections at once: at most maxClients are served, the rest
      // closed at once; none stalls the others.
      const conns = await Promise.all(
        Array.from({ length: 1000 }, () => Deno.connect({ transport: "unix", path: server.path })),
      );
      // A client among them is refused like the rest, with a clear error.
      await assert.rejects(requestControl(server.path, "status"), (e: unknown) => e instanceof ControlError);
      await new Promise((r) => setTimeout(r, 100));
      assert(server.refused >= 1000 - CONTROL_LIMITS.maxClients, `refused ${server.refused}`);
      for (const c of conns) c.close();
      await new Promise((r) => setTimeout(r, 400)); // the silent ones' deadline passes
      for (let i = 0; i < 20; i++) {
        assert.equal(((await requestControl(server.path, "status")) as TunnelStatus).rx_bytes, 2048);
      }
    } finally {
      clearInterval(tick);
    }
    // Generous: the machine is shared. A stall would be the 300 ms timeout or more.
    assert(worstLateMs < 250, `the event loop was held for ${worstLateMs.toFixed(0)} ms`);
  }, { timeoutMs: 300 });
});

Deno.test({
  name: "tappet status as an ordinary user: refused by the socket's mode, served once it owns the socket",
  ignore: !isRoot(),
  async fn() {
    const { denoDir, root } = await unprivileged();
    const script = `${root}/status_probe.ts`;
    Deno.writeTextFileSync(
      script,
      `import { statusCommand } from "./cli/status.ts";
       console.log(JSON.stringify(await statusCommand({ control: Deno.args[0], json: true })));`,
    );
    const probe = async (path: string) => {
      const out = await new Deno.Command("setpriv", {
        args: [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, "--clear-groups", Deno.execPath(), "run"]
          .concat(["--quiet", "--cached-only", "--allow-read", "--allow-write", "--allow-net", script, path]),
        env: { DENO_DIR: denoDir },
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return JSON.parse(new TextDecoder().decode(out.stdout));
    };
    await withServer(async (dir, server) => {
      Deno.chmodSync(dir, 0o755);
      const refused = await probe(server.path);
      assert.equal(refused.code, 1);
      assert.deepEqual(refused.errors, [
        `cannot read control socket ${server.path}: permission denied; run as root or as the user tappet runs as`,
      ]);
      const uid = Number(
        new TextDecoder().decode(new Deno.Command("id", { args: ["-u", TEST_USER] }).outputSync().stdout),
      );
      Deno.chownSync(server.path, uid, null);
      const served = await probe(server.path);
      assert.equal(served.code, 0, served.errors.join("; "));
      assert.equal(JSON.parse(served.out).interface, "tap0");
    });
  },
});

Deno.test("tappet status without Deno's permissions: Deno's error, not 'not running'", async () => {
  const file = Deno.makeTempFileSync({ suffix: ".ts" });
  try {
    const url = new URL("../cli/status.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      file,
      `import { statusCommand } from ${JSON.stringify(url)};
       try { await statusCommand({ control: "/tmp/x.sock" }); console.log("no error"); }
       catch (e) { console.log(e instanceof Deno.errors.NotCapable ? "NotCapable" : String(e)); }`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-config", "--allow-read", file],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "NotCapable");
  } finally {
    Deno.removeSync(file);
  }
});
