/** The completion scripts, run by the shell they are for: bash, with
 * COMP_WORDS and COMP_CWORD set as readline sets them, the completion
 * function called, and COMPREPLY read back. zsh and fish are checked for
 * syntax when installed. */

import { strict as assert } from "node:assert";
import { completionScript } from "../cli/completion.ts";
import { sh } from "../scripts/netns.ts";
import { isRoot } from "./_util.ts";

const SCRIPT = completionScript("bash");

/** Runs `argv` to the end (from `cwd`, in netns `ns`): its stdout lines,
 * sorted. Fails on a non-zero exit, and with `quiet` on any stderr. */
async function outputLines(
  argv: string[],
  quiet: string,
  opts: { ns?: string; cwd?: string },
): Promise<string[]> {
  const out = await new Deno.Command(opts.ns ? "ip" : argv[0], {
    args: opts.ns ? ["netns", "exec", opts.ns, ...argv] : argv.slice(1),
    cwd: opts.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(err, "", quiet);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").sort();
}

/** What bash's completion of `line` (the last word being completed; a
 * trailing space starts a new one) offers, sorted; in netns `ns` if given,
 * from directory `cwd`. */
async function complete(line: string, opts: { ns?: string; cwd?: string } = {}): Promise<string[]> {
  const words = line.split(" ");
  const dir = Deno.makeTempDirSync({ prefix: "tappet-compl-" });
  try {
    Deno.writeTextFileSync(`${dir}/tappet.bash`, SCRIPT);
    const program = [
      `source ${dir}/tappet.bash`,
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
      `COMP_CWORD=${words.length - 1}`,
      "_tappet",
      `printf '%s\\n' "\${COMPREPLY[@]}"`,
    ].join("\n");
    return await outputLines(
      ["bash", "--norc", "--noprofile", "-c", program],
      "no errors from the script",
      opts,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("completion (bash): registers _tappet for tappet", async () => {
  const out = await new Deno.Command("bash", {
    args: ["--norc", "-c", `${SCRIPT}\ncomplete -p tappet`],
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "complete -F _tappet tappet");
});

Deno.test("completion (bash): subcommands, help topics, shells, options and their values", async () => {
  const first = await complete("tappet ");
  for (const w of ["keygen", "genpsk", "pubkey", "run", "status", "help", "completion", "version"]) {
    assert.ok(first.includes(w), `${w} in ${first}`);
  }
  assert.deepEqual(await complete("tappet ke"), ["keygen"]);
  assert.deepEqual(await complete("tappet completion "), ["bash", "fish", "zsh"]);
  assert.deepEqual(await complete("tappet help comp"), ["completion"]);
  assert.deepEqual(await complete("tappet run --pe"), ["--peer-key"]);
  assert.deepEqual(await complete("tappet run --tap x --b"), ["--bind"]);
  assert.deepEqual(await complete("tappet run --protocol "), ["current", "legacy"]);
  assert.deepEqual(await complete("tappet run --transport "), ["deno", "ffi"]);
  assert.deepEqual(await complete("tappet run --connect "), [], "no guess at an address");
  assert.deepEqual(await complete("tappet tp0 n a b 1.2.3.4 41011 -"), ["--help", "--verbose", "-l", "-v"]);
});

Deno.test("completion (bash): file names for the file options and the 2014 form's files", async () => {
  const d = Deno.makeTempDirSync({ prefix: "tappet-files-" });
  try {
    for (const f of ["alice.key", "alice.pub", "bob.pub", "nonce", "x.psk"]) {
      Deno.writeTextFileSync(`${d}/${f}`, "");
    }
    for (const opt of ["--key", "--peer-key", "--psk", "--nonce-file", "--config"]) {
      assert.deepEqual(await complete(`tappet run ${opt} al`, { cwd: d }), ["alice.key", "alice.pub"], opt);
    }
    assert.deepEqual(await complete(`tappet run --psk ${d}/x`), [`${d}/x.psk`], "with a directory");
    assert.deepEqual(await complete("tappet keygen b", { cwd: d }), ["bob.pub"]);
    assert.deepEqual(await complete("tappet tp0 no", { cwd: d }), ["nonce"], "NONCEFILE");
    assert.deepEqual(await complete("tappet tp0 nonce alice.key b", { cwd: d }), ["bob.pub"], "THEIRPUB");
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test({
  name: "completion (bash): TAP interfaces for --tap and as the 2014 form's first word, not TUNs or veths",
  ignore: !isRoot(),
  fn: async () => {
    const ns = `tptcompl${Deno.pid}`;
    await sh(["ip", "netns", "add", ns]);
    try {
      await sh(["ip", "-n", ns, "tuntap", "add", "tpcompl0", "mode", "tap"]);
      await sh(["ip", "-n", ns, "tuntap", "add", "tpcompl1", "mode", "tap"]);
      await sh(["ip", "-n", ns, "tuntap", "add", "tuncompl0", "mode", "tun"]);
      await sh(["ip", "-n", ns, "link", "add", "vecompl0", "type", "veth", "peer", "name", "vecompl1"]);
      assert.deepEqual(await complete("tappet run --tap ", { ns }), ["tpcompl0", "tpcompl1"]);
      assert.deepEqual(await complete("tappet run --tap tpcompl1 --key k --tap tpc", { ns }), [
        "tpcompl0",
        "tpcompl1",
      ]);
      const first = await complete("tappet tp", { ns });
      assert.deepEqual(first, ["tpcompl0", "tpcompl1"]);
    } finally {
      await sh(["ip", "netns", "del", ns], { allowFail: true });
    }
  },
});

const has = (shell: string) =>
  new Deno.Command("sh", { args: ["-c", `command -v ${shell}`], stdout: "null" }).outputSync().success;

/** Runs `program` in `shell` (from `cwd`, in netns `ns`); its stdout lines,
 * sorted. Fails on any stderr. */
function shell(name: string, program: string, opts: { ns?: string; cwd?: string } = {}): Promise<string[]> {
  const argv = name === "zsh" ? ["zsh", "-f", "-c", program] : ["fish", "--no-config", "-c", program];
  return outputLines(argv, `${name} printed errors`, opts);
}

/** Where zsh and fish look for tappet's completion script. */
const SCRIPT_FILE = { zsh: "_tappet", fish: "tappet.fish" } as const;

/** The test `name`, skipped unless each of `shells` is installed (and, with
 * `root`, unless root): `body` gets a scratch directory holding each shell's
 * script under {@linkcode SCRIPT_FILE}, deleted afterwards. */
function shellTest(
  name: string,
  shells: (keyof typeof SCRIPT_FILE)[],
  body: (d: string) => Promise<void>,
  root = false,
): void {
  Deno.test({
    name,
    ignore: (root && !isRoot()) || !shells.every(has),
    fn: async () => {
      const d = Deno.makeTempDirSync({ prefix: `tappet-${shells.join("")}-` });
      try {
        for (const s of shells) Deno.writeTextFileSync(`${d}/${SCRIPT_FILE[s]}`, completionScript(s));
        await body(d);
      } finally {
        Deno.removeSync(d, { recursive: true });
      }
    },
  });
}

shellTest(
  "completion (fish): complete -C gives subcommands, options, values, file names",
  ["fish"],
  async (d) => {
    Deno.writeTextFileSync(`${d}/alice.key`, "");
    const C = async (line: string) =>
      (await shell("fish", `source ${d}/tappet.fish; complete -C '${line}'`, { cwd: d })).map((l) =>
        l.split("\t")[0]
      );
    const first = await C("tappet ");
    for (const w of ["keygen", "run", "status", "help", "completion"]) {
      assert.ok(first.includes(w), `${w}: ${first}`);
    }
    assert.deepEqual(await C("tappet run --pe"), ["--peer-key"]);
    assert.deepEqual(await C("tappet run --protocol "), ["current", "legacy"]);
    assert.deepEqual(await C("tappet completion "), ["bash", "fish", "zsh"]);
    assert.deepEqual(await C("tappet run --key al"), ["alice.key"]);
  },
);

shellTest(
  "completion (zsh): _tappet offers the words zsh's compadd and _files are given",
  ["zsh"],
  async (d) => {
    // compadd and _files stubbed: zsh filters by prefix itself.
    const stubs =
      'compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }; _files() { print FILES; }';
    const Z = (words: string[]) =>
      shell(
        "zsh",
        `${stubs}; source ${d}/_tappet; words=(${
          words.map((w) => `'${w}'`).join(" ")
        }); CURRENT=${words.length}; _tappet`,
      );
    const first = await Z(["tappet", ""]);
    for (const w of ["keygen", "run", "status", "help", "completion"]) {
      assert.ok(first.includes(w), `${w}: ${first}`);
    }
    assert.ok((await Z(["tappet", "run", "--pe"])).includes("--peer-key"));
    assert.deepEqual(await Z(["tappet", "run", "--protocol", ""]), ["current", "legacy"]);
    for (const opt of ["--key", "--peer-key", "--psk", "--nonce-file", "--config"]) {
      assert.deepEqual(await Z(["tappet", "run", opt, ""]), ["FILES"], opt);
    }
    assert.deepEqual(await Z(["tappet", "completion", ""]), ["bash", "fish", "zsh"]);
  },
);

shellTest(
  "completion (zsh, fish): TAP interfaces for --tap",
  ["zsh", "fish"],
  async (d) => {
    const ns = `tptcomplz${Deno.pid}`;
    await sh(["ip", "netns", "add", ns]);
    try {
      await sh(["ip", "-n", ns, "tuntap", "add", "tpz0", "mode", "tap"]);
      await sh(["ip", "-n", ns, "tuntap", "add", "tunz0", "mode", "tun"]);
      const stubs = 'compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }';
      const z = await shell(
        "zsh",
        `${stubs}; source ${d}/_tappet; words=(tappet run --tap ''); CURRENT=4; _tappet`,
        { ns },
      );
      assert.deepEqual(z, ["tpz0"]);
      const f = await shell("fish", `source ${d}/tappet.fish; complete -C 'tappet run --tap '`, { ns });
      assert.deepEqual(f.map((l) => l.split("\t")[0]), ["tpz0"]);
    } finally {
      await sh(["ip", "netns", "del", ns], { allowFail: true });
    }
  },
  true,
);
