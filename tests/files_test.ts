/** Key files, keygen and the nonce file, on a real file system. */

import { strict as assert } from "node:assert";
import { keygen } from "../keygen.ts";
import { UserError } from "../errors.ts";
import { parseKeyFile, readKeyFile } from "../io/keyfile.ts";
import { takeNoncePrefix } from "../io/noncefile.ts";
import { publicKeyOf } from "../ffi/sodium.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// What the 2014 read_hexkey (util.c) accepts: fgets of the first line, which
// must be 64 characters and a newline; each character decoded after | 0x20.
const ACCEPTED: [string, Uint8Array][] = [
  ["64 hex and a newline", enc(KEY + "\n")],
  ["a blank line after the key (66 bytes)", enc(KEY + "\n\n")],
  ["anything after the first line", enc(KEY + "\n# alice, 2014\n")],
  ["another key after the first", enc(KEY + "\n" + KEY + "\n")],
  ["binary junk after the first line", new Uint8Array([...enc(KEY + "\n"), 0, 0xff, 0x0d])],
  ["uppercase hex", enc(KEY.toUpperCase() + "\n")],
  ["mixed case", enc(KEY.slice(0, 32) + KEY.slice(32).toUpperCase() + "\n")],
  // 0x10 | 0x20 = '0': the 2014 decoder takes the control bytes 0x10-0x19 for digits.
  [
    "control bytes 0x10-0x19 as digits (a 2014 quirk)",
    new Uint8Array([0x10, 0x11, ...enc(KEY.slice(2) + "\n")]),
  ],
];

const REFUSED: [string, Uint8Array, RegExp][] = [
  ["empty", enc(""), /is empty/],
  ["no newline", enc(KEY), /has no final newline/],
  ["short, no newline", enc(KEY.slice(2)), /holds 62 bytes and no newline/],
  ["short first line", enc(KEY.slice(2) + "\n"), /holds 62 bytes before its first newline, not 64/],
  ["a blank line first", enc("\n" + KEY + "\n"), /holds 0 bytes before its first newline/],
  ["long first line", enc(KEY + "00\n"), /more than 64 bytes before its first newline/],
  ["DOS line end", enc(KEY + "\r\n"), /DOS line ends.*dos2unix/],
  ["not hex", enc(KEY.slice(0, 10) + "zz" + KEY.slice(12) + "\n"), /not hex at byte 11/],
  ["a space", enc(" " + KEY.slice(1) + "\n"), /not hex at byte 1/],
  [
    "a NUL (strlen stops the 2014 reader)",
    enc(KEY.slice(0, 5) + "\0" + KEY.slice(6) + "\n"),
    /not hex at byte 6/,
  ],
  ["a g", enc("g" + KEY.slice(1) + "\n"), /not hex at byte 1/],
];

Deno.test("key file parser: accepts every shape the 2014 read_hexkey accepts, with the same key", () => {
  const want = new Uint8Array(KEY.match(/../g)!.map((h) => parseInt(h, 16)));
  for (const [what, bytes] of ACCEPTED) {
    const r = parseKeyFile(bytes);
    assert.ok(r.ok, `${what}: ${!r.ok && r.error}`);
    if (what.includes("0x10")) assert.equal(r.value[0], 0x01, what);
    else assert.deepEqual(r.value, want, what);
  }
});

Deno.test("key file parser: refuses the rest, each with its own reason", () => {
  for (const [what, bytes, reason] of REFUSED) {
    const r = parseKeyFile(bytes);
    assert.ok(!r.ok, what);
    assert.match(r.error, reason, what);
    assert.match(r.error, /first line must be 64 hex characters and a newline/, what);
  }
});

Deno.test("key files: a secret key or PSK open to group or others is refused with chmod 600", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = `${dir}/k`;
    Deno.writeTextFileSync(f, KEY + "\n");
    for (const mode of [0o640, 0o604, 0o644, 0o660, 0o620, 0o666]) {
      Deno.chmodSync(f, mode);
      const m = mode.toString(8).padStart(4, "0");
      assert.throws(
        () => readKeyFile(f, "secret"),
        new RegExp(`secret key file .*k is open to others \\(mode ${m}\\); refusing it: run 'chmod 600 .*k'`),
      );
      assert.throws(() => readKeyFile(f, "psk"), /pre-shared key file .* run 'chmod 600/);
      assert.equal(readKeyFile(f, "public").length, 32, "a public key may be read by all");
    }
    for (const mode of [0o600, 0o400]) {
      Deno.chmodSync(f, mode);
      assert.equal(readKeyFile(f, "secret").length, 32, mode.toString(8));
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
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

Deno.test("key files: missing, wrong size, a long file (only its head is read)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assert.throws(
      () => readKeyFile(`${dir}/none.key`, "secret"),
      /none\.key does not exist: make one with 'tappet keygen/,
    );
    Deno.writeTextFileSync(`${dir}/short.pub`, "abc\n");
    assert.throws(
      () => readKeyFile(`${dir}/short.pub`, "public"),
      /public key file .*short\.pub holds 3 bytes before its first newline/,
    );
    Deno.writeTextFileSync(`${dir}/long.pub`, "abc\n".repeat(10_000));
    assert.throws(() => readKeyFile(`${dir}/long.pub`, "public"), /holds 3 bytes before its first newline/);
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
