/**
 * The key-file reader against the 2014 program's own: `decode_hex` and
 * `read_hexkey`, taken from the 2014 tappet's util.c and compiled, judge the
 * same inputs (the shapes of files_test.ts and random mutations of a key
 * file); both must accept the same files with the same key, and refuse the
 * same. Runs when TAPPET_C_SRC names a checkout of the 2014 tappet and a C
 * compiler is installed; reported as ignored otherwise.
 */

import { strict as assert } from "node:assert";
import { parseKeyFile } from "../io/keyfile.ts";
import { toHex } from "./_util.ts";

const SRC = Deno.env.get("TAPPET_C_SRC");
const CC = new Deno.Command("sh", { args: ["-c", "command -v cc"], stdout: "null" }).outputSync().success;

const MAIN_C = `#include <stdio.h>
int read_hexkey(FILE *f, unsigned char key[32]);
int main(int argc, char **argv) {
  unsigned char k[32];
  FILE *f = fopen(argv[1], "r");
  if (read_hexkey(f, k) < 0) { puts("refused"); return 0; }
  for (int i = 0; i < 32; i++) printf("%02x", k[i]);
  puts("");
  return 0;
}
`;

/** The two functions, cut out of util.c. */
function functions(util: string): string {
  const cut = (name: string) => {
    const m = new RegExp(`^int ${name}\\([^]*?^}`, "m").exec(util);
    assert.ok(m, `util.c has no ${name}`);
    return m[0];
  };
  return `#include <stdio.h>\n#include <string.h>\n${cut("decode_hex")}\n${cut("read_hexkey")}\n`;
}

Deno.test({
  name: "key files: the 2014 read_hexkey and ours accept and refuse the same files",
  ignore: SRC === undefined || !CC,
  fn: () => {
    const d = Deno.makeTempDirSync({ prefix: "tappet-hexkey-" });
    try {
      Deno.writeTextFileSync(`${d}/util.c`, functions(Deno.readTextFileSync(`${SRC}/util.c`)));
      Deno.writeTextFileSync(`${d}/main.c`, MAIN_C);
      const cc = new Deno.Command("cc", { args: ["-o", `${d}/rh`, `${d}/main.c`, `${d}/util.c`] })
        .outputSync();
      assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
      const key = new TextEncoder().encode(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
      );
      const inputs: Uint8Array[] = [
        key,
        new Uint8Array([...key, 0x0a]),
        key.subarray(0, 64),
        new Uint8Array(),
      ];
      let x = 2014;
      const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16;
      for (let i = 0; i < 1500; i++) {
        const b = new Uint8Array([...key, ...(rnd() % 2 ? [0x0a] : [])]);
        for (let j = 1 + (rnd() % 3); j > 0; j--) b[rnd() % b.length] = rnd() % 256;
        inputs.push(rnd() % 5 === 0 ? b.subarray(0, rnd() % b.length) : b);
      }
      let accepted = 0;
      for (const input of inputs) {
        Deno.writeFileSync(`${d}/k`, input);
        const out = new Deno.Command(`${d}/rh`, { args: [`${d}/k`] }).outputSync();
        const theirs = new TextDecoder().decode(out.stdout).trim();
        const r = parseKeyFile(input);
        assert.equal(r.ok ? toHex(r.value) : "refused", theirs, JSON.stringify(Array.from(input)));
        if (r.ok) accepted++;
      }
      assert.ok(
        accepted > 10 && accepted < inputs.length - 10,
        `both outcomes met: ${accepted}/${inputs.length}`,
      );
    } finally {
      Deno.removeSync(d, { recursive: true });
    }
  },
});
