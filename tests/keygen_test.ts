/** keygen, genpsk and pubkey as a user runs them: modes, output, and the
 * directory that cannot be written. */

import { strict as assert } from "node:assert";
import { tappetArgv } from "../scripts/harness.ts";
import { sh } from "../scripts/netns.ts";
import { isRoot } from "./_util.ts";
import { oneLine, tappet, TEST_USER, unprivileged } from "./_cli.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;

/** Runs tappet under `umask`, with `stdin` if given; stdout, stderr, status. */
async function run(args: string[], opts: { umask?: string; stdin?: string } = {}) {
  const argv = tappetArgv(args).map(quote).join(" ");
  const input = opts.stdin !== undefined ? ` < ${quote(opts.stdin)}` : "";
  const out = await new Deno.Command("sh", {
    args: ["-c", `umask ${opts.umask ?? "022"} && exec ${argv}${input}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, out: dec(out.stdout), err: dec(out.stderr) };
}

const mode = (path: string) => Deno.statSync(path).mode! & 0o777;

Deno.test("keygen: the files get their modes at creation, whatever the umask allows; it prints the public key", async () => {
  const d = Deno.makeTempDirSync({ prefix: "tappet-keygen-" });
  try {
    const a = await run(["keygen", `${d}/a`], { umask: "000" });
    assert.equal(a.code, 0, a.err);
    assert.equal(mode(`${d}/a.key`), 0o600, "umask 000 does not open the secret key");
    assert.equal(mode(`${d}/a.pub`), 0o644);
    const pub = Deno.readTextFileSync(`${d}/a.pub`).trim();
    const lines = a.out.trim().split("\n");
    assert.equal(lines.length, 3, a.out);
    assert.match(lines[0], new RegExp(`secret key is in ${d}/a\\.key \\(mode 0600\\)`));
    assert.match(lines[1], new RegExp(`public key is in ${d}/a\\.pub`));
    assert.equal(lines[2], pub, "the public key, as a.pub holds it");
    const b = await run(["keygen", `${d}/b`], { umask: "077" });
    assert.equal(b.code, 0, b.err);
    assert.equal(mode(`${d}/b.key`), 0o600);
    assert.equal(mode(`${d}/b.pub`), 0o600, "a umask can only make a mode stricter");
    const p = await run(["genpsk", `${d}/s.psk`], { umask: "000" });
    assert.equal(p.code, 0, p.err);
    assert.equal(mode(`${d}/s.psk`), 0o600);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("keygen: no mode is set by path after creation (a symlink swapped in would be followed)", () => {
  const source = Deno.readTextFileSync(new URL("../keygen.ts", import.meta.url));
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""); // comments may mention chmod
  assert.doesNotMatch(code, /\bchmod(Sync)?\s*\(/);
  assert.match(code, /createNew: true, mode/, "the mode is given to open(2) with O_EXCL");
});

Deno.test("pubkey: prints the public key of a secret key on stdin, as wg pubkey", async () => {
  const d = Deno.makeTempDirSync({ prefix: "tappet-pubkey-" });
  try {
    assert.equal((await run(["keygen", `${d}/x`])).code, 0);
    const r = await run(["pubkey"], { stdin: `${d}/x.key` });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, Deno.readTextFileSync(`${d}/x.pub`), "exactly what x.pub holds");
    Deno.writeTextFileSync(`${d}/bad`, "not a key\n");
    const bad = await run(["pubkey"], { stdin: `${d}/bad` });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^tappet: the secret key on standard input holds 9 bytes before its first newline/);
    assert.equal(bad.err.trim().split("\n").length, 1);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("keygen: a directory that does not exist is named as such", async () => {
  oneLine(
    await tappet(["keygen", "/nonexistent-dir/x"]),
    1,
    /cannot create \/nonexistent-dir\/x\.key: directory \/nonexistent-dir does not exist; make it, or choose another NAME/,
  );
});

Deno.test({
  name: "keygen: a directory the user cannot write says so (not 'check its owner and mode')",
  ignore: !isRoot(),
  fn: async () => {
    await unprivileged();
    const d = Deno.makeTempDirSync({ prefix: "tappet-ro-" });
    try {
      Deno.chmodSync(d, 0o755); // root's: the test user may enter it, not write in it
      const o = await tappet(["keygen", `${d}/x`], { user: true });
      oneLine(
        o,
        1,
        new RegExp(
          `cannot create ${d}/x\\.key: this user may not write in directory ${d}; choose one you own, e.g. ~/x$`,
        ),
      );
      assert.equal([...Deno.readDirSync(d)].length, 0, "nothing left behind");
      await sh(["chown", TEST_USER, d]);
      assert.equal((await tappet(["keygen", `${d}/x`], { user: true })).code, 0, "its own directory works");
    } finally {
      Deno.removeSync(d, { recursive: true });
    }
  },
});
