/**
 * ffi/: errno named and turned into an OsError at once, a library that
 * cannot be loaded reported with the facts and its cause (including a
 * missing --allow-ffi, told apart from a missing library), and the timers'
 * clock in nanoseconds since boot. No root needed.
 */

import { strict as assert } from "node:assert";
import { Errno, errnoName, lastError, libc, monotonicNs } from "../ffi/libc.ts";
import { LibraryLoadError } from "../ffi/load.ts";
import { OsError, UserError } from "../errors.ts";

Deno.test("errnoName: the names of <asm-generic/errno.h>, a number for the others", () => {
  assert.equal(errnoName(90), "EMSGSIZE");
  assert.equal(errnoName(92), "ENOPROTOOPT");
  assert.equal(errnoName(5), "EIO");
  assert.equal(errnoName(Errno.EADDRINUSE), "EADDRINUSE");
  assert.equal(errnoName(4242), "errno 4242");
});

Deno.test("lastError: the failed call, its errno, name and text", () => {
  assert.ok(libc().close(-1) < 0);
  const e = lastError("close");
  assert.ok(e instanceof OsError);
  assert.equal(e.errno, 9);
  assert.equal(e.code, "EBADF");
  assert.equal(e.message, "close: Bad file descriptor");
});

Deno.test("LibraryLoadError: the library, what was tried, and the dlopen error as cause", () => {
  let cause: unknown;
  try {
    Deno.dlopen("/nonexistent/libx.so.1", { f: { parameters: [], result: "void" } });
  } catch (e) {
    cause = e;
  }
  const e = new LibraryLoadError("libx", ["/nonexistent/libx.so.1"], cause, { advice: "install libx" });
  assert.ok(e instanceof UserError, "a runner that does not know it still prints one line");
  assert.equal(e.cause, cause);
  assert.equal(e.library, "libx");
  assert.deepEqual(e.tried, ["/nonexistent/libx.so.1"]);
  assert.equal(e.permissionDenied, false);
  assert.match(e.facts, /^libx cannot be loaded \(tried \/nonexistent\/libx\.so\.1: .*No such file/);
  assert.equal(e.message, `${e.facts}: install libx`);
});

Deno.test("LibraryLoadError: without --allow-ffi it says the permission was refused, not that the library is missing", async () => {
  const script = `
    import { sodium } from "${new URL("../ffi/sodium.ts", import.meta.url).href}";
    try { sodium(); } catch (e) {
      console.log(JSON.stringify({ name: e.name, library: e.library, permissionDenied: e.permissionDenied,
        cause: e.cause?.name, tried: e.tried, message: e.message }));
    }`;
  const file = Deno.makeTempFileSync({ suffix: ".ts" });
  Deno.writeTextFileSync(file, script);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", "--allow-read", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(r, {
      name: "LibraryLoadError",
      library: "libsodium",
      permissionDenied: true,
      cause: "NotCapable",
      tried: ["libsodium.so.23", "libsodium.so.26", "libsodium.so"],
      message: "libsodium cannot be loaded: Deno does not allow native code: run deno with --allow-ffi",
    });
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("monotonicNs: nanoseconds since boot, as /proc/uptime counts them", () => {
  const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  const ns = monotonicNs();
  assert.ok(Math.abs(ns / 1e9 - uptime) < 2, `${ns} ns against ${uptime} s of uptime`);
  assert.ok(monotonicNs() >= ns);
});
