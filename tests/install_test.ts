/**
 * scripts/install.sh: a `tappet` command for every user, that works from
 * any directory with no network and an empty home (nothing downloaded), with
 * completions for bash, zsh and fish; and its uninstall. Needs root.
 */

import { strict as assert } from "node:assert";
import { sh } from "../scripts/netns.ts";
import { v8Flags } from "../scripts/harness.ts";
import { isRoot } from "./_util.ts";
import { asUser, emptyHome, install, output } from "./_install.ts";

const VERSION = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))).version;

Deno.test({
  name: "install: any user runs tappet from any directory, offline, with an empty home; uninstall removes it",
  ignore: !isRoot(),
  fn: async () => {
    const inst = await install();
    const ns = `tptinst${Deno.pid}`;
    await sh(["ip", "netns", "add", ns]); // only lo, and it down: no network at all
    const home = await emptyHome();
    try {
      const bin = `${inst.prefix}/bin/tappet`;
      assert.equal(Deno.statSync(bin).mode! & 0o755, 0o755);
      // It runs with the V8 flags of deno.json's tappet task (README, "Performance").
      for (const f of v8Flags()) assert.ok(Deno.readTextFileSync(bin).includes(f), `${bin} lacks ${f}`);
      const version = await output(asUser(inst, home, "cd / && tappet --version", ns));
      assert.equal(version.out, `tappet ${VERSION}\n`, version.err);
      // From another directory, the user's own files.
      const keygen = await output(
        asUser(inst, home, 'cd / && cd "$HOME" && mkdir d && cd d && tappet keygen x', ns),
      );
      assert.equal(keygen.code, 0, keygen.err);
      const pub = Deno.readTextFileSync(`${home}/d/x.pub`);
      assert.equal(keygen.out.trim().split("\n").at(-1), pub.trim());
      const pubkey = await output(
        asUser(inst, home, "tappet pubkey", ns),
        Deno.readFileSync(`${home}/d/x.key`),
      );
      assert.equal(pubkey.out, pub, pubkey.err);
      const typo = await output(asUser(inst, home, "tappet keygn x", ns));
      assert.equal(typo.code, 2);
      assert.match(typo.err, /did you mean 'keygen'/);
      assert.deepEqual(
        [...Deno.readDirSync(home)].map((e) => e.name).filter((n) => n !== "d" && n !== ".cache"),
        [],
        "nothing in the home but the user's files and Deno's own cache",
      );
      // npm packages come from beside the command, not from a download into the user's cache.
      assert.throws(() => Deno.statSync(`${home}/.cache/deno/npm/registry.npmjs.org`), Deno.errors.NotFound);

      // Completions where the shells look, and bash's completes as the user.
      const bash = `${inst.prefix}/share/bash-completion/completions/tappet`;
      for (
        const f of [
          bash,
          `${inst.prefix}/share/zsh/site-functions/_tappet`,
          `${inst.prefix}/share/fish/vendor_completions.d/tappet.fish`,
        ]
      ) {
        assert.equal(Deno.statSync(f).mode! & 0o777, 0o644, f);
      }
      const line =
        `bash --norc -c 'source ${bash}; COMP_WORDS=(tappet run --peer); COMP_CWORD=2; _tappet; echo "\${COMPREPLY[@]}"'`;
      const compl = await output(asUser(inst, home, line, ns));
      assert.equal(compl.out.trim(), "--peer-key", compl.err);
      // bash-completion finds it by itself, where it looks: XDG_DATA_DIRS (PREFIX/share).
      const loader = "/usr/share/bash-completion/bash_completion";
      // (setup.sh installs bash-completion; without it, this part is skipped.)
      if (await Deno.stat(loader).then(() => true, () => false)) {
        const auto =
          `env XDG_DATA_DIRS=${inst.prefix}/share:/usr/share bash --norc -c '. ${loader}; _completion_loader tappet; complete -p tappet'`;
        const found = await output(asUser(inst, home, auto, ns));
        assert.equal(found.out.trim(), "complete -F _tappet tappet", found.err);
      }
    } finally {
      await sh(["ip", "netns", "del", ns], { allowFail: true });
      Deno.removeSync(home, { recursive: true });
      await inst.remove();
    }
    for (
      const gone of ["bin/tappet", "bin/.tappet", "lib/tappet", "share/bash-completion/completions/tappet"]
    ) {
      assert.throws(() => Deno.statSync(`${inst.prefix}/${gone}`), Deno.errors.NotFound, gone);
    }
  },
});

Deno.test({
  name: "install: uninstall leaves nothing behind in the prefix",
  ignore: !isRoot(),
  fn: async () => {
    const inst = await install();
    const prefix = inst.prefix;
    try {
      await sh([
        "bash",
        new URL("../scripts/install.sh", import.meta.url).pathname,
        "--uninstall",
        "--prefix",
        prefix,
      ]);
      const left = (await sh(["find", prefix, "-type", "f"])).trim();
      assert.equal(left, "", `files left: ${left}`);
    } finally {
      await inst.remove();
    }
  },
});
