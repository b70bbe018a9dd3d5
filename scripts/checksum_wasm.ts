/**
 * Writes core/checksum_wasm.ts, the WebAssembly module of core/checksum.wat
 * as bytes, with wabt's `wat2wasm` (Debian package wabt; scripts/setup.sh
 * installs it). Run after changing the .wat:
 *
 *     deno run -A scripts/checksum_wasm.ts
 *
 * tests/checksum_test.ts checks that the committed bytes are what wat2wasm
 * makes of the committed source (when wat2wasm is installed).
 *
 * @module
 */

const WAT = new URL("../core/checksum.wat", import.meta.url).pathname;
const OUT = new URL("../core/checksum_wasm.ts", import.meta.url).pathname;

/** The module wat2wasm makes of core/checksum.wat. Throws when wat2wasm is
 * missing or refuses the source. */
export async function compileChecksumWat(): Promise<Uint8Array> {
  const tmp = Deno.makeTempFileSync({ suffix: ".wasm" });
  try {
    const out = await new Deno.Command("wat2wasm", { args: [WAT, "-o", tmp], stderr: "piped" }).output();
    if (!out.success) throw new Error(`wat2wasm ${WAT}: ${new TextDecoder().decode(out.stderr).trim()}`);
    return Deno.readFileSync(tmp);
  } finally {
    Deno.removeSync(tmp);
  }
}

/** The text of core/checksum_wasm.ts for `bytes`: hex, 48 bytes a line. */
export function checksumWasmSource(bytes: Uint8Array): string {
  const hex = bytes.toHex();
  const rows: string[] = [];
  for (let i = 0; i < hex.length; i += 96) rows.push(`  "${hex.slice(i, i + 96)}",`);
  return `/**
 * core/checksum.wat compiled (${bytes.length} bytes), written by
 * scripts/checksum_wasm.ts: do not edit, change the .wat and run it.
 *
 * @module
 */

/** The module's bytes, in hex. */
export const CHECKSUM_WASM_HEX: string = [
${rows.join("\n")}
].join("");
`;
}

if (import.meta.main) {
  Deno.writeTextFileSync(OUT, checksumWasmSource(await compileChecksumWat()));
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", OUT] }).output();
  if (!fmt.success) throw new Error("deno fmt failed");
  console.log(`wrote ${OUT}`);
}
