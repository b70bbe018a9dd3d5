/**
 * The README's table of Deno permissions per use ("Running it"), followed
 * literally: for each row, tappet run with exactly that set works, and with
 * any one flag of it left out fails with one line naming that flag.
 */

import { strict as assert } from "node:assert";
import { MAIN } from "../scripts/harness.ts";
import { NsProcess } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { namespace } from "./_cli.ts";
import { output } from "./_install.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const README = Deno.readTextFileSync(new URL("../README.md", import.meta.url));
const ADDR = "198.18.241.1";

/** The table's rows: the first command named in "use", and the flags. */
function table(): Map<string, string[]> {
  const section = README.split("### Running it")[1].split("\n### ")[0];
  const rows = new Map<string, string[]>();
  for (const line of section.split("\n")) {
    const m = /^\| `([^`]+)`.*\| (`[^|]*`|none) +\|$/.exec(line);
    if (m) rows.set(m[1].replace(/:$/, ""), m[2] === "none" ? [] : m[2].replaceAll("`", "").split(" "));
  }
  return rows;
}

const UNCHECKED = new URL("./_unchecked_main.ts", import.meta.url).pathname;

const argv = (flags: string[], args: string[], main = MAIN) => [
  Deno.execPath(),
  "run",
  "--quiet",
  "--cached-only",
  `--config=${CONFIG}`,
  ...flags,
  main,
  ...args,
];

/** Runs a command to completion (without tappet's own permission check
 * when `unchecked`); status, stdout and stderr lines. */
async function once(flags: string[], args: string[], stdin?: string, unchecked = false) {
  const a = argv(flags, args, unchecked ? UNCHECKED : MAIN);
  const o = await output(a, stdin ? Deno.readFileSync(stdin) : undefined);
  return { code: o.code, out: o.out, err: o.err.split("\n").filter((l) => l) };
}

type Run = (flags: string[], unchecked: boolean) => Promise<{ code: number; err: string[] }>;

/** Each flag of `flags` is needed: without it, tappet says so in one line
 * before it starts; and without that check, the command really fails
 * (naming the flag, except --allow-ffi: libsodium's loader, in ffi/, does
 * not say it yet). */
async function eachNeeded(flags: string[], run: Run) {
  for (const flag of flags) {
    const without = flags.filter((f) => f !== flag);
    const o = await run(without, false);
    assert.equal(o.code, 1, `without ${flag}: ${o.err.join("\n")}`);
    assert.equal(o.err.length, 1, o.err.join("\n"));
    assert.match(o.err[0], new RegExp(`^tappet: .*needs Deno's ${flag} permission`), `without ${flag}`);
    const bare = await run(without, true);
    assert.notEqual(bare.code, 0, `without ${flag} and the check, it must fail: ${bare.err.join("\n")}`);
    if (flag !== "--allow-ffi") {
      assert.match(bare.err.join("\n"), new RegExp(flag), `without ${flag}, unchecked`);
    }
  }
}

Deno.test("permissions: the README's table has every use", () => {
  assert.deepEqual([...table().keys()], [
    "tappet run",
    "tappet status",
    "tappet keygen",
    "tappet pubkey",
    "tappet help",
  ]);
});

Deno.test("permissions: keygen, genpsk, pubkey, help with the README's sets, and each flag needed", async () => {
  const d = Deno.makeTempDirSync({ prefix: "tappet-perm-" });
  try {
    const keygenSet = table().get("tappet keygen")!;
    let n = 0;
    const keygen: Run = (flags, unchecked = false) =>
      once(flags, ["keygen", `${d}/k${n++}`], undefined, unchecked);
    assert.equal((await keygen(keygenSet, false)).code, 0);
    await eachNeeded(keygenSet, keygen);
    const genpsk: Run = (flags, unchecked) => once(flags, ["genpsk", `${d}/p${n++}`], undefined, unchecked);
    assert.equal((await genpsk(keygenSet, false)).code, 0);
    await eachNeeded(keygenSet, genpsk);
    const pubkeySet = table().get("tappet pubkey")!;
    const pubkey: Run = (flags, unchecked) => once(flags, ["pubkey"], `${d}/k0.key`, unchecked);
    const ok = await once(pubkeySet, ["pubkey"], `${d}/k0.key`);
    assert.equal(ok.code, 0, ok.err.join("\n"));
    assert.equal(ok.out, Deno.readTextFileSync(`${d}/k0.pub`));
    await eachNeeded(pubkeySet, pubkey);
    assert.deepEqual(table().get("tappet help"), []);
    for (const args of [["help"], ["--help"], ["version"], ["completion", "bash"], ["run", "--help"]]) {
      const o = await once([], args);
      assert.equal(o.code, 0, `${args.join(" ")}: ${o.err.join("\n")}`);
      assert.ok(o.out.length > 0);
    }
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

/** Runs a command to completion in netns `ns`. */
async function inNs(ns: string, flags: string[], args: string[], unchecked: boolean) {
  const a = argv(flags, args, unchecked ? UNCHECKED : MAIN);
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, ...a],
    stdout: "null",
    stderr: "piped",
  })
    .output();
  return { code: out.code, err: new TextDecoder().decode(out.stderr).split("\n").filter((l) => l) };
}

/** Starts a server with `flags` and `args` in `ns`; true when it listened
 * and stopped cleanly on SIGTERM. `during` runs while it listens. */
async function serves(
  ns: string,
  flags: string[],
  args: string[],
  log: string,
  during?: () => Promise<void>,
): Promise<boolean> {
  const p = new NsProcess(ns, argv(flags, [...args, "-v"]), log);
  try {
    for (let i = 0; i < 100 && !/listening on/.test(p.text()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const listening = /listening on/.test(p.text());
    if (listening) await during?.();
    return listening && (await p.stop("SIGTERM")).code === 0;
  } finally {
    await p.stop("SIGKILL", 1000);
  }
}

Deno.test({
  name: "permissions: run, in each form, with the README's set, and each flag needed",
  ignore: !isRoot(),
  fn: async () => {
    const ns = `tptperm${Deno.pid}`;
    const del = await namespace(ns, { tap: "tp0", address: ADDR });
    const d = Deno.makeTempDirSync({ prefix: "tappet-perm-run-" });
    try {
      for (const n of ["a", "b"]) {
        assert.equal((await once(["--allow-all"], ["keygen", `${d}/${n}`])).code, 0);
      }
      Deno.writeFileSync(`${d}/nonce`, new Uint8Array(4));
      const keys = ["--tap", "tp0", "--key", `${d}/a.key`, "--peer-key", `${d}/b.pub`];
      const forms: [string, string[]][] = [
        ["tappet run", ["run", ...keys, "--listen", `${ADDR}:41011`]],
        ["tappet run", [
          "run",
          ...keys,
          "--protocol",
          "legacy",
          "--nonce-file",
          `${d}/nonce`,
          "--listen",
          `${ADDR}:41011`,
        ]],
        ["tappet run", [
          "tp0",
          `${d}/nonce`,
          `${d}/a.key`,
          `${d}/b.pub`,
          ADDR,
          "41011",
          "-l",
        ]],
        ["tappet run", ["run", ...keys, "--transport", "deno", "--listen", `${ADDR}:41011`]],
        ["tappet run", ["run", "--config", `${d}/t.toml`]],
      ];
      Deno.writeTextFileSync(
        `${d}/t.toml`,
        `tap = "tp0"\nkey = "a.key"\npeer-key = "b.pub"\nlisten = "${ADDR}:41011"\n`,
      );
      // `tappet status` of the first, while it runs: the set is enough, each flag needed.
      const statusSet = table().get("tappet status")!;
      const status = async () => {
        const o = await inNs(ns, statusSet, ["status", "tp0"], false);
        assert.equal(o.code, 0, o.err.join("\n"));
        await eachNeeded(statusSet, (flags, unchecked) => inNs(ns, flags, ["status", "tp0"], unchecked));
      };
      let n = 0;
      for (const [use, args] of forms) {
        const set = table().get(use)!;
        assert.ok(
          await serves(ns, set, args, `${d}/${n++}.log`, n === 1 ? status : undefined),
          `${use}: ${args.join(" ")}`,
        );
        // In the namespace, so that an unchecked run meets the real TAP.
        await eachNeeded(set, (flags, unchecked) => inNs(ns, flags, args, unchecked));
      }
    } finally {
      await del();
      Deno.removeSync(d, { recursive: true });
    }
  },
});
