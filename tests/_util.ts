/** Helpers shared by the tests. */

import { strict as assert } from "node:assert";

/** Bytes of a hex string. */
export function hex(s: string): Uint8Array<ArrayBuffer> {
  assert(s.length % 2 === 0, "odd-length hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Hex string of bytes. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Reads a JSON file next to the tests. */
export function readJson<T>(name: string): T {
  return JSON.parse(Deno.readTextFileSync(new URL(`./${name}`, import.meta.url)));
}

/** Where the vectors from outside this repository are: ../shared/vectors/
 * beside the checkout. A clone elsewhere has none. */
export const SHARED_VECTORS: URL = new URL("../../shared/vectors/", import.meta.url);

/** `SHARED_VECTORS/name` parsed, or undefined when it is absent (the tests
 * that need it are then ignored, with a name that says so); other read or
 * parse errors throw. */
export function readShared<T = unknown>(name: string): T | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(new URL(name, SHARED_VECTORS)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** True when running as root (integration tests need it). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** Runs the script `file` with `deno run --quiet`, the project's deno.json
 * and `flags`; with `env`, in that environment only. Asserts that it exits
 * 0 (its stderr the message); its stdout and stderr. */
export async function runScript(
  file: string,
  flags: string[],
  env?: Record<string, string>,
): Promise<{ out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${new URL("../deno.json", import.meta.url).pathname}`, ...flags, file],
    ...(env ? { env, clearEnv: true } : {}),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(o.stderr);
  assert.equal(o.code, 0, err);
  return { out: new TextDecoder().decode(o.stdout), err };
}
