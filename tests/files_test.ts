/** Key files, keygen and the nonce file, on a real file system. */

import { strict as assert } from "node:assert";
import { keygen } from "../keygen.ts";
import { UserError } from "../errors.ts";
import { parseKeyFile, readKeyFile } from "../io/keyfile.ts";
import { takeNoncePrefix } from "../io/noncefile.ts";
import { publicKeyOf } from "../ffi/sodium.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

Deno.test("key file parser: each malformed file gets its own reason", () => {
  const cases: [string, RegExp][] = [
    ["", /is empty/],
    [KEY, /no final newline/],
    [KEY + "\n\n", /holds 66 bytes/],
    [KEY.slice(2) + "\n", /holds 63 bytes/],
    [KEY.slice(0, 10) + "zz" + KEY.slice(12) + "\n", /not hex at byte 11/],
    [KEY.slice(0, 64) + "\r", /does not end in a newline/],
  ];
  for (const [text, want] of cases) {
    const r = parseKeyFile(enc(text));
    assert.ok(!r.ok, JSON.stringify(text));
    assert.match(r.error, want);
  }
});

Deno.test("keygen: writes NAME.key 0600 and NAME.pub 0644 that belong together", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const files = keygen(`${dir}/alice`);
    const key = Deno.statSync(files.secretKeyFile);
    const pub = Deno.statSync(files.publicKeyFile);
    assert.equal(key.mode! & 0o777, 0o600);
    assert.equal(pub.mode! & 0o777, 0o644);
    assert.match(Deno.readTextFileSync(files.secretKeyFile), /^[0-9a-f]{64}\n$/);
    assert.match(Deno.readTextFileSync(files.publicKeyFile), /^[0-9a-f]{64}\n$/);
    const sk = readKeyFile(files.secretKeyFile, "secret");
    const pk = readKeyFile(files.publicKeyFile, "public");
    assert.deepEqual(publicKeyOf(sk), pk);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("keygen: refuses to overwrite either file and leaves nothing behind", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/bob.pub`, "mine\n");
    assert.throws(
      () => keygen(`${dir}/bob`),
      (e) => e instanceof UserError && /bob\.pub already exists/.test(e.message),
    );
    assert.throws(
      () => Deno.statSync(`${dir}/bob.key`),
      Deno.errors.NotFound,
      "no empty bob.key left behind",
    );
    assert.equal(Deno.readTextFileSync(`${dir}/bob.pub`), "mine\n");
    Deno.writeTextFileSync(`${dir}/carol.key`, "x");
    assert.throws(() => keygen(`${dir}/carol`), /carol\.key already exists/);
    assert.throws(() => Deno.statSync(`${dir}/carol.pub`), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("key files: missing, wrong size, and a world-readable secret key", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assert.throws(
      () => readKeyFile(`${dir}/none.key`, "secret"),
      /none\.key does not exist: make one with 'tappet keygen/,
    );
    Deno.writeTextFileSync(`${dir}/short.pub`, "abc\n");
    assert.throws(
      () => readKeyFile(`${dir}/short.pub`, "public"),
      /public key file .*short\.pub holds 4 bytes/,
    );
    Deno.writeTextFileSync(`${dir}/open.key`, KEY + "\n", { mode: 0o644 });
    Deno.chmodSync(`${dir}/open.key`, 0o644);
    const warnings: string[] = [];
    readKeyFile(`${dir}/open.key`, "secret", (m) => warnings.push(m));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /chmod 600/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("nonce file: incremented, written back, host order; wrong sizes and overflow refused", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = `${dir}/nonce`;
    Deno.writeFileSync(f, new Uint8Array(4));
    assert.equal(takeNoncePrefix(f), 1);
    assert.equal(takeNoncePrefix(f), 2);
    assert.deepEqual(Deno.readFileSync(f), new Uint8Array([2, 0, 0, 0]));
    Deno.writeFileSync(f, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    assert.throws(() => takeNoncePrefix(f), /prefix overflow.*regenerate keys on both peers/);
    assert.deepEqual(
      Deno.readFileSync(f),
      new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      "not written on failure",
    );
    Deno.writeFileSync(f, new Uint8Array(5));
    assert.throws(() => takeNoncePrefix(f), /holds 5 bytes.*exactly 4 bytes/);
    assert.throws(
      () => takeNoncePrefix(`${dir}/missing`),
      /does not exist: create it with: dd if=\/dev\/zero/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
